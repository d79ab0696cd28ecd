"""The log-domain dot product of the eager predictor (EXION), bit-exact: the golden
twin of :class:`exdisc.hw.eager_logdot.LogDotProduct`.

A log-domain product of two integers keeps ``k`` powers of two of each
(:func:`exdisc.golden.lod.keep_leading_ones`: truncated, rounded half up, or the
``"signed"`` reduction) and multiplies them; the products of one sign are
summed into the positive accumulator, the others into the negative one.
Because a kept value is an integer, the result equals the integer dot product
of the kept values, which is how it is computed here (exactly, in int64).
"""

import numpy as np

from .lod import check_rounding, keep_leading_ones

__all__ = ["OPERAND_BITS", "log_encode", "log_split", "log_dot", "log_matmul",
           "accumulator_bits"]

#: Operand magnitude bits of the int8 inputs (symmetric: |x| <= 127).
OPERAND_BITS = 7


def log_encode(x, width, k, rounding="truncate"):
    """The log-domain form of signed integers that an encoded-operand unit takes.

    Returns, per element, ``{"sign", "pos", "found"}``: the sign bit, the
    ``k`` positions of the kept powers of two of ``|x|`` (highest first, 0
    when absent) and the found bits; with ``rounding="signed"`` and ``k = 2``
    also ``"sub"``, set when the second is subtracted
    (:func:`exdisc.golden.lod.signed_digits`). ``|x|`` must fit ``width`` bits.
    ``"half_up"`` has no encoded form (its carry is applied before encoding).
    """
    from .lod import leading_ones, signed_digits
    check_rounding(rounding)
    if rounding == "half_up":
        raise ValueError("parameter 'rounding' has no encoded form for 'half_up'")
    out = []
    for v in np.asarray(x, dtype=np.int64).reshape(-1):
        if rounding == "signed":
            pos, found, sub = signed_digits(np.array(abs(int(v))), k)
            pos, found = [int(q) for q in pos[:k]], [bool(f) for f in found[:k]]
        else:
            pos, found = leading_ones(abs(int(v)), width, k)
        e = {"sign": int(v < 0), "pos": list(pos),
             "found": sum(int(f) << t for t, f in enumerate(found))}
        if rounding == "signed" and k == 2:
            e["sub"] = int(sub)
        out.append(e)
    return out


def log_split(a, b, k, rounding="truncate"):
    """Positive and negative accumulator of the log-domain dot product over the last axis.

    ``a`` and ``b`` are integer arrays of the same shape ``[..., L]``. Returns
    ``(pos, neg)``, int64 ``[...]``, both non-negative. ``rounding``: see
    :func:`exdisc.golden.lod.keep_leading_ones`.
    """
    la = keep_leading_ones(a, k, rounding)
    lb = keep_leading_ones(b, k, rounding)
    prod = la * lb
    return np.where(prod > 0, prod, 0).sum(-1), np.where(prod < 0, -prod, 0).sum(-1)


def log_dot(a, b, k, rounding="truncate"):
    """``pos - neg`` of :func:`log_split`."""
    pos, neg = log_split(a, b, k, rounding)
    return pos - neg


def log_matmul(a, b, k, rounding="truncate"):
    """Log-domain product of integer matrices ``a [..., n, L]`` and ``b [..., L, m]``, int64
    (``rounding``: see :func:`exdisc.golden.lod.keep_leading_ones`)."""
    la = keep_leading_ones(a, k, rounding)
    lb = keep_leading_ones(b, k, rounding)
    bound = float(np.abs(la).max(initial=0)) * float(np.abs(lb).max(initial=0)) * la.shape[-1]
    if bound < 2.0 ** 53:
        # every partial sum is an integer below 2^53: float64 BLAS is exact, and fast
        return (la.astype(np.float64) @ lb.astype(np.float64)).astype(np.int64)
    return la @ lb


def accumulator_bits(operand_bits, lanes, k):
    """Bits of one unsigned (positive or negative) accumulator of a dot product of ``lanes``.

    A kept product is below ``2^(2 * operand_bits)`` (at most ``(2^b - 1)^2``
    for ``k = 2``; exactly ``2^(2b - 2)`` at most for ``k = 1``), so ``lanes``
    of them fit ``2 * operand_bits + ceil(log2(lanes))`` bits.
    """
    del k  # both k are bounded by (2^b - 1)^2
    return 2 * operand_bits + max(0, int(lanes - 1).bit_length())
