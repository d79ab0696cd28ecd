"""Bit-exact model of :class:`hw.lod.LeadingOneDetector` and the leading-one
approximation it serves.

A leading-one detector of width ``W`` reports, for an unsigned input ``x``,
the positions of its ``k`` most significant set bits (``k`` is 1 or 2) and
whether each exists. A position that does not exist is reported as 0, exactly
as the RTL does.
"""

import numpy as np


__all__ = ["leading_ones", "leading_ones_array", "keep_leading_ones"]


def _check(width, k):
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"parameter 'width' must be a positive integer, not {width!r}")
    if k not in (1, 2):
        raise ValueError(f"parameter 'k' must be 1 or 2, not {k!r}")


def leading_ones(x, width, k):
    """Positions and presence of the ``k`` highest set bits of one value.

    Parameters
    ----------
    x : int
        Unsigned input, ``0 <= x < 2**width``.
    width, k : int
        Detector width and number of leading ones (1 or 2).

    Returns
    -------
    (tuple of int, tuple of bool)
        ``pos[j]`` is the bit index of the ``j``-th highest set bit, or 0 when
        ``found[j]`` is False.
    """
    _check(width, k)
    x = int(x)
    if not 0 <= x < (1 << width):
        raise ValueError(f"input {x!r} does not fit in {width} unsigned bits")
    pos, found = [], []
    for _ in range(k):
        if x:
            p = x.bit_length() - 1
            pos.append(p)
            found.append(True)
            x &= ~(1 << p)
        else:
            pos.append(0)
            found.append(False)
    return tuple(pos), tuple(found)


def leading_ones_array(x, width, k):
    """Vectorised :func:`leading_ones` over an integer array (``width <= 62``).

    Returns ``(pos, found)`` of shape ``x.shape + (k,)``, dtypes int64 and bool.
    """
    _check(width, k)
    if width > 62:
        raise ValueError(f"parameter 'width' must be at most 62 here, not {width!r}")
    rest = np.array(x, dtype=np.int64)
    if np.any(rest < 0) or np.any(rest >> width):
        raise ValueError(f"input does not fit in {width} unsigned bits")
    pos = np.zeros(rest.shape + (k,), dtype=np.int64)
    found = np.zeros(rest.shape + (k,), dtype=bool)
    for j in range(k):
        nz = rest != 0
        p = np.where(nz, _floor_log2(rest), 0)
        pos[..., j] = p
        found[..., j] = nz
        rest = rest & ~np.where(nz, np.left_shift(1, p), 0)
    return pos, found


def keep_leading_ones(x, k, rounding=False):
    """Sign-magnitude leading-one approximation ``lod_k`` of algorithms.md.

    Keeps the ``k`` most significant set bits of ``|x|`` (truncation) and the
    sign of ``x``. Works elementwise on integer arrays.

    With ``rounding`` (an option, **[choice]**, off by default as the spec
    says) the kept value is rounded half up at its lowest kept bit instead:
    when the dropped bits are at least half of that bit, it is added, and
    the carry still leaves at most ``k`` set bits (``|x|`` may grow by one
    bit: 127 becomes 128 with ``k = 2``).
    """
    if k not in (1, 2):
        raise ValueError(f"parameter 'k' must be 1 or 2, not {k!r}")
    if not isinstance(rounding, bool):
        raise TypeError(f"parameter 'rounding' must be a bool, not {rounding!r}")
    x = np.asarray(x, dtype=np.int64)
    mag = np.abs(x)
    kept = np.zeros_like(mag)
    rest = mag.copy()
    for _ in range(k):
        top = np.where(rest > 0, np.left_shift(1, _floor_log2(rest)), 0)
        kept |= top
        rest &= ~top
    if rounding:
        low = kept & -kept                      # the lowest kept bit (0 for 0)
        kept = np.where((low > 1) & (2 * rest >= low), kept + low, kept)
    return np.sign(x) * kept


def _floor_log2(v):
    v = np.asarray(v, dtype=np.int64)
    if v.size and v.max() < 2 ** 53:
        # exact: every integer below 2^53 is a float64, and frexp reads its exponent
        return np.frexp(v.astype(np.float64))[1].astype(np.int64) - 1
    out = np.zeros(v.shape, dtype=np.int64)
    rest = v.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        big = rest >= (1 << shift)
        out[big] += shift
        rest[big] >>= shift
    return out
