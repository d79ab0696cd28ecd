"""The integer non-linear operations of the datapath, bit for bit.

These are the golden twins of the integer non-linear unit: softmax with
Softmax Thresholding's keep mask, GELU, LayerNorm with the DiT's adaLN
modulation, and requantization. Every function takes integer arrays whose
last axis is a row and returns integer arrays; the leading axes are
independent rows. The per-row constants (multipliers, shifts, thresholds)
are what a descriptor carries; the helpers at the end derive them from real
scales, which is the compiler's job.

Number formats
--------------
Shifts round to nearest with ties upward (``rshift_round``: add half, then
shift right arithmetically). Signed ``b``-bit outputs saturate to
``[-(2**(b-1) - 1), 2**(b-1) - 1]``, symmetric as :mod:`.quant` (-128 is never
produced). A fixed-point multiplier ``(mult, shift)`` stands for
``mult * 2**-shift`` with ``mult`` an unsigned ``Format.mult_bits``-bit integer.

softmax (``softmax``)
    Scores ``x`` (signed 32-bit accumulators) and ``(mult, shift)`` for
    ``s * log2(e) * 2**F``, where ``s`` is the real value of one score unit and
    ``F = exp_index_bits``. Per element, ``d = min(max(x) - x, 2**d_bits - 1)``
    and ``u = rshift_round(d * mult, shift)``: the exponent ``-u * 2**-F`` in
    base 2. Its integer part ``z`` shifts and its fraction ``i`` indexes a
    table, ``e = rshift_round(EXP[i], z)`` with
    ``EXP[i] = round(2**exp_bits * 2**(-i/2**F))``; so ``e = 2**exp_bits`` at
    the row maximum. The probabilities out are relative to the row maximum,
    ``p = rshift_round(e * (2**(prob_bits-1) - 1), exp_bits)``: the maximum is
    ``2**(prob_bits-1) - 1`` and every value fits a signed ``prob_bits``-bit
    operand. The normalisation is deferred to ``P V``'s accumulators: with
    ``S = sum(e)``, ``L`` its bit length and one reciprocal per row
    ``R = floor(2**(L + 16) / S)`` (``2**16 < R <= 2**17``), the row's
    requantization multiplier is ``row_mult = rshift_round(out_mult * R, 17)``
    and ``row_shift = out_shift + L - exp_bits - 1``, where ``(out_mult,
    out_shift)`` would requantize ``P V`` for probabilities worth
    ``1 / (2**(prob_bits-1) - 1)`` of the row maximum each. ST's keep mask is
    ``P > theta`` on the exact quotient ``P = e / S`` of the integer
    exponentials, with ``theta`` in units of ``2**-32`` (``theta_q``): keep
    where ``e > (theta_q * S) >> 32``, one product per row and a compare per
    element; and keep the first maximum of each row (as
    :func:`.softmax_threshold.threshold_mask`).
GELU (``gelu``)
    ``a = sat(rshift_round(acc * m_in, s_in), gelu_bits)``: the input in
    units of ``2**-gelu_frac``. Since tanh-GELU has ``gelu(a) = relu(a) -
    g(|a|)`` with ``g(a) = a - gelu(a)`` small (below 0.17) and vanishing
    beyond 4, ``v = max(a, 0) - GTAB[min(|a| >> (gelu_frac - 6), 255)]`` with
    ``GTAB[k] = round(2**gelu_frac * g((k + 1/2) / 64))``: a 256-entry table
    over ``[0, 4)``. The output is ``requantize(v, m_out, s_out)``.
LayerNorm with adaLN (``layer_norm``)
    The row ``x`` (signed 32-bit) is shifted right by ``pre`` (floor) and
    saturated to ``ln_bits``: ``y``. ``S1 = sum(y)``, ``S2 = sum(y*y)``,
    ``V = N*S2 - S1**2`` (exact: ``N**2`` times the variance of ``y``),
    ``q = isqrt(V)`` (floor; about ``N * sigma``), and one reciprocal
    ``R = floor(2**(L + 15) / q)`` with ``L`` the bit length of ``q``. Then
    ``n = rshift_round((N*y - S1) * R, L + 15 - norm_frac)`` is the normalised
    value in units of ``2**-norm_frac`` (``0`` for a constant row, where the
    float model's ``eps`` gives 0 as well). The modulation is per column:
    ``out = sat(rshift_round(n * G + B, mod_shift), out_bits)`` with ``G`` and
    ``B`` from :func:`adaln_params`. The float model's ``eps = 1e-6`` is below
    the integer resolution and is left out.
requantize (``requantize``)
    ``sat(rshift_round(acc * mult, shift), out_bits)``.
"""

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["Format", "rshift_round", "saturate", "requantize", "exp_table", "gelu_table",
           "softmax", "gelu", "layer_norm", "fixed_multiplier", "softmax_params", "gelu_params",
           "adaln_params", "theta_fixed", "row_multiplier", "isqrt", "ACC_BITS", "THETA_BITS", "RECIP_BITS"]

#: Width of the accumulators the unit reads.
ACC_BITS = 32
#: Fractional bits of ST's threshold ``theta_q``.
THETA_BITS = 32
#: Precision of the per-row reciprocals: ``2**RECIP_BITS < R <= 2**(RECIP_BITS + 1)``
#: for softmax, one bit less for LayerNorm.
RECIP_BITS = 16


def _int(name, value, lo, hi):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name}: expected an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Format:
    """The widths of the integer non-linear operations (the unit's parameters).

    Members
    -------
    exp_index_bits : int
        ``F``: fractional bits of softmax's base-2 exponent, the index width
        of its exponential table (``2**F`` entries).
    exp_bits : int
        Fractional bits of the exponentials (``e = 2**exp_bits`` at the maximum).
    d_bits : int
        Width at which a score's distance below the row maximum saturates.
    prob_bits : int
        Width of the output probabilities (signed operand width).
    gelu_frac : int
        Fractional bits of GELU's fixed-point input.
    gelu_bits : int
        Width at which GELU's fixed-point input saturates.
    ln_bits : int
        Width at which LayerNorm's pre-shifted input saturates.
    norm_frac : int
        Fractional bits of the normalised value before modulation.
    out_bits : int
        Width of the int outputs of GELU, LayerNorm and requantize.
    mult_bits : int
        Width of the unsigned fixed-point multipliers.
    """

    exp_index_bits: int = 10
    exp_bits: int = 16
    d_bits: int = 18
    prob_bits: int = 8
    gelu_frac: int = 8
    gelu_bits: int = 16
    ln_bits: int = 16
    norm_frac: int = 10
    out_bits: int = 8
    mult_bits: int = 16

    _RANGES = {"exp_index_bits": (2, 12), "exp_bits": (8, 20), "d_bits": (8, 24),
               "prob_bits": (2, 16), "gelu_frac": (6, 12), "gelu_bits": (10, 24),
               "ln_bits": (4, 18), "norm_frac": (4, 14), "out_bits": (2, 16),
               "mult_bits": (8, 18)}

    def __post_init__(self):
        for f in fields(self):
            _int(f.name, getattr(self, f.name), *self._RANGES[f.name])


DEFAULT = Format()


def rshift_round(v, shift):
    """``v * 2**-shift`` rounded to nearest, ties upward (``shift >= 0``)."""
    v = np.asarray(v, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    half = np.where(shift > 0, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)), 0)
    return (v + half) >> shift


def saturate(v, bits):
    """Signed ``bits``-bit symmetric saturation."""
    hi = (1 << (bits - 1)) - 1
    return np.clip(v, -hi, hi)


def _check_acc(name, x):
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected an integer array, got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"{name}: expected rows of at least one element, got shape {x.shape}")
    if x.size and (x.min() < -(1 << (ACC_BITS - 1)) or x.max() >= 1 << (ACC_BITS - 1)):
        raise ValueError(f"{name}: values outside the signed {ACC_BITS}-bit range "
                         f"[{x.min()}, {x.max()}]")
    return x.astype(np.int64)


def _mult(name, mult, shift, fmt):
    """Check a fixed-point multiplier: integers, or integer arrays (one per row)."""
    for what, v, hi in ((" multiplier", mult, (1 << fmt.mult_bits) - 1), (" shift", shift, 63)):
        if np.ndim(v) == 0:
            _int(name + what, v, 0, hi)
            continue
        v = np.asarray(v)
        if v.dtype.kind not in "iu":
            raise TypeError(f"{name}{what}: expected integers, got dtype {v.dtype}")
        if v.size and (v.min() < 0 or v.max() > hi):
            raise ValueError(f"{name}{what}: expected integers in [0, {hi}], "
                             f"got [{v.min()}, {v.max()}]")


def requantize(acc, mult, shift, fmt=DEFAULT):
    """int32 accumulators to ``out_bits``-bit integers: ``acc * mult * 2**-shift``
    rounded to nearest and saturated. ``mult`` and ``shift`` may be arrays that
    broadcast against ``acc`` (one per row, as :func:`softmax` gives for ``P V``)."""
    acc = _check_acc("acc", acc)
    _mult("requantize", mult, shift, fmt)
    return saturate(rshift_round(acc * mult, shift), fmt.out_bits)


def exp_table(fmt=DEFAULT):
    """``EXP[i] = round(2**exp_bits * 2**(-i / 2**F))`` for ``i < 2**F``."""
    i = np.arange(1 << fmt.exp_index_bits, dtype=np.float64)
    return np.rint(np.exp2(fmt.exp_bits - i / (1 << fmt.exp_index_bits))).astype(np.int64)


def _bit_length(v):
    """Bit length of non-negative int64 values below ``2**53``."""
    return np.frexp(np.asarray(v, dtype=np.float64))[1].astype(np.int64)


def softmax(x, mult, shift, out_mult=1 << 15, out_shift=15, theta_q=0, fmt=DEFAULT,
            full=False):
    """Integer softmax of each row of scores ``x``, and ST's keep mask.

    Returns ``(p, keep, row_mult, row_shift)``: ``p`` int64 in ``[0,
    2**(prob_bits-1) - 1]`` relative to the row maximum, ``keep`` bool, and per
    row the requantization multiplier and shift of ``P V`` (see the module's
    documentation). With ``full``, also the row internals ``{"e", "S", "R",
    "L", "first"}`` as a fifth element.
    """
    x = _check_acc("scores", x)
    _mult("softmax", mult, shift, fmt)
    _mult("softmax output", out_mult, out_shift, fmt)
    _int("theta_q", theta_q, 0, (1 << THETA_BITS) - 1)
    f = fmt.exp_index_bits
    m = x.max(axis=-1, keepdims=True)
    d = np.minimum(m - x, (1 << fmt.d_bits) - 1)
    u = rshift_round(d * mult, shift)
    z = np.minimum(u >> f, fmt.exp_bits + 2)
    e = rshift_round(exp_table(fmt)[u & ((1 << f) - 1)], z)
    p = rshift_round(e * ((1 << (fmt.prob_bits - 1)) - 1), fmt.exp_bits)
    s = e.sum(axis=-1, keepdims=True)
    length = _bit_length(s)
    r = (np.int64(1) << (length + RECIP_BITS)) // s
    keep = e > (np.int64(theta_q) * s) >> THETA_BITS
    first = np.argmax(x, axis=-1)
    np.put_along_axis(keep, first[..., None], True, axis=-1)
    row_mult, row_shift = row_multiplier(r[..., 0], length[..., 0], out_mult, out_shift, fmt)
    if full:
        return p, keep, row_mult, row_shift, {"e": e, "S": s[..., 0], "R": r[..., 0],
                                              "L": length[..., 0], "first": first}
    return p, keep, row_mult, row_shift


def row_multiplier(r, length, out_mult, out_shift, fmt=DEFAULT):
    """The multiplier and shift that requantize a row of ``P V`` accumulators:
    ``out_mult * 2**-out_shift`` times the row's normalisation
    ``2**exp_bits / S = R * 2**(exp_bits - L - 16)``."""
    r = np.asarray(r, dtype=np.int64)
    return (rshift_round(out_mult * r, RECIP_BITS + 1),
            out_shift + np.asarray(length, dtype=np.int64) - fmt.exp_bits - 1)


def gelu_table(fmt=DEFAULT):
    """``GTAB[k] = round(2**gelu_frac * g((k + 1/2) / 64))``, ``g(a) = a - gelu(a)``."""
    a = (np.arange(256, dtype=np.float64) + 0.5) / 64
    g = a - 0.5 * a * (1.0 + np.tanh(0.7978845608028654 * (a + 0.044715 * a ** 3)))
    return np.rint(g * (1 << fmt.gelu_frac)).astype(np.int64)


def gelu(acc, m_in, s_in, m_out, s_out, fmt=DEFAULT):
    """Integer tanh-GELU of int32 accumulators: ``out_bits``-bit integers."""
    acc = _check_acc("acc", acc)
    _mult("GELU input", m_in, s_in, fmt)
    _mult("GELU output", m_out, s_out, fmt)
    a = saturate(rshift_round(acc * m_in, s_in), fmt.gelu_bits)
    idx = np.minimum(np.abs(a) >> (fmt.gelu_frac - 6), 255)
    v = np.maximum(a, 0) - gelu_table(fmt)[idx]
    return saturate(rshift_round(v * m_out, s_out), fmt.out_bits)


def isqrt(v):
    """Floor square root of non-negative int64 values below ``2**62``."""
    v = np.asarray(v, dtype=np.int64)
    r = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    # float64 sqrt is within one of the answer below 2**62; settle it exactly
    r = np.where(r * r > v, r - 1, r)
    r = np.where((r + 1) * (r + 1) <= v, r + 1, r)
    return r


def layer_norm(x, pre, gain, bias, mod_shift, fmt=DEFAULT, full=False):
    """Integer LayerNorm of each row of ``x`` with adaLN modulation.

    ``gain`` and ``bias`` (one per column, from :func:`adaln_params`) broadcast
    against the rows. Returns ``out_bits``-bit integers; with ``full``, also
    ``{"y", "S1", "S2", "q", "R", "L", "n"}``.
    """
    x = _check_acc("x", x)
    n_cols = x.shape[-1]
    _int("pre", pre, 0, ACC_BITS - 1)
    _int("mod_shift", mod_shift, 0, 63)
    gain, bias = np.asarray(gain), np.asarray(bias)
    for name, v, bits in (("gain", gain, fmt.mult_bits), ("bias", bias, ACC_BITS)):
        if v.dtype.kind not in "iu":
            raise TypeError(f"{name}: expected an integer array, got dtype {v.dtype}")
        if v.shape[-1:] != (n_cols,):
            raise ValueError(f"{name}: expected {n_cols} columns, got shape {v.shape}")
        if v.size and (v.min() < -(1 << (bits - 1)) or v.max() >= 1 << (bits - 1)):
            raise ValueError(f"{name}: values outside the signed {bits}-bit range "
                             f"[{v.min()}, {v.max()}]")
    y = saturate(x >> pre, fmt.ln_bits)
    s1 = y.sum(axis=-1, keepdims=True)
    s2 = (y * y).sum(axis=-1, keepdims=True)
    q = isqrt(n_cols * s2 - s1 * s1)
    length = _bit_length(q)
    r = np.where(q > 0, (np.int64(1) << (length + RECIP_BITS - 1)) // np.maximum(q, 1), 0)
    n = rshift_round((n_cols * y - s1) * r, np.maximum(length + RECIP_BITS - 1 - fmt.norm_frac, 0))
    out = saturate(rshift_round(n * gain.astype(np.int64) + bias.astype(np.int64), mod_shift),
                   fmt.out_bits)
    if full:
        return out, {"y": y, "S1": s1[..., 0], "S2": s2[..., 0], "q": q[..., 0], "R": r[..., 0],
                     "L": length[..., 0], "n": n}
    return out


# -- the compiler's side: constants from real scales --

def fixed_multiplier(scale, fmt=DEFAULT):
    """``(mult, shift)`` with ``mult * 2**-shift`` the nearest to ``scale`` and
    ``mult`` a normalised ``mult_bits``-bit integer (its top bit set)."""
    if not isinstance(scale, (int, float, np.floating)) or isinstance(scale, bool) \
            or not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale: expected a positive finite number, got {scale!r}")
    bits = fmt.mult_bits
    shift = bits - 1 - int(np.floor(np.log2(scale)))
    mult = int(round(scale * 2.0 ** shift))
    if mult >= 1 << bits:
        mult, shift = int(round(scale * 2.0 ** (shift - 1))), shift - 1
    if not 0 <= shift <= 62:
        raise ValueError(f"scale: {scale!r} needs a shift of {shift}, outside [0, 62]")
    return mult, shift


def softmax_params(score_scale, fmt=DEFAULT):
    """``(mult, shift)`` of :func:`softmax` for scores worth ``score_scale`` each."""
    return fixed_multiplier(float(score_scale) * np.log2(np.e) * (1 << fmt.exp_index_bits), fmt)


def gelu_params(acc_scale, out_scale, fmt=DEFAULT):
    """``(m_in, s_in, m_out, s_out)`` of :func:`gelu`: accumulators worth
    ``acc_scale``, outputs worth ``out_scale``."""
    frac = 1 << fmt.gelu_frac
    return (*fixed_multiplier(float(acc_scale) * frac, fmt),
            *fixed_multiplier(1.0 / (float(out_scale) * frac), fmt))


def adaln_params(scale, shift, out_scale, fmt=DEFAULT):
    """``(gain, bias, mod_shift)`` of :func:`layer_norm` for the DiT's
    ``(1 + scale) * norm(x) + shift`` with outputs worth ``out_scale``."""
    g = (1.0 + np.asarray(scale, np.float64)) / float(out_scale)
    top = float(np.max(np.abs(g))) if g.size else 1.0
    gbits = fmt.mult_bits - 1
    mod_shift = fmt.norm_frac + gbits - 1 - int(np.ceil(np.log2(max(top, 2.0 ** -30))))
    mod_shift = max(min(mod_shift, 62), fmt.norm_frac)
    k = mod_shift - fmt.norm_frac
    gain = np.clip(np.rint(g * 2.0 ** k), -(1 << gbits) + 1, (1 << gbits) - 1).astype(np.int64)
    b = np.rint(np.asarray(shift, np.float64) / float(out_scale) * 2.0 ** mod_shift)
    bias = np.clip(b, -(1 << (ACC_BITS - 1)), (1 << (ACC_BITS - 1)) - 1).astype(np.int64)
    return gain, bias, mod_shift


def theta_fixed(theta):
    """ST's ``theta`` as ``theta_q``, in units of ``2**-THETA_BITS`` (rounded)."""
    if not isinstance(theta, (int, float)) or isinstance(theta, bool) or not 0 <= theta < 1:
        raise ValueError(f"theta: expected a number in [0, 1), got {theta!r}")
    return min(int(round(theta * 2.0 ** THETA_BITS)), (1 << THETA_BITS) - 1)
