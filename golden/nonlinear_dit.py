"""The tiny DiT with its float non-linear operations replaced by the integer models.

:class:`IntegerNonLinear` is an executor of the sampling loop (as the
algorithms are) that runs the block densely but passes softmax, GELU,
LayerNorm with adaLN, and the requantization of GEMM outputs through
:mod:`.nonlinear`, each chosen on its own. Between the operations values are
dequantized floats, so that each replacement's cost is measured alone; the
GEMMs stay float.

What each integer operation is given, and the scales (per tensor, set from
the float tensor at hand, as a calibration would):

softmax
    The scores at the resolution of the hardware's accumulator: ``q`` and
    ``k`` quantized to int8 define the unit ``s_q * s_k / sqrt(dh)`` and the
    float scores are rounded to it (``q`` and ``k`` themselves are not
    rounded). The probabilities out are ``prob_bits`` wide. ST's keep mask is
    compared with the float mask of the float softmax of the same integer
    scores (:attr:`IntegerNonLinear.mask_stats`).
gelu
    FC1's pre-activation rounded to the accumulator's unit ``s_h * s_w1``;
    outputs int8 at the tensor's scale.
layernorm
    The residual stream rounded to 31-bit integers at the tensor's scale and
    pre-shifted to ``ln_bits``; adaLN's shift and scale folded into per-column
    gains and biases for int8 outputs at the tensor's scale.
requant
    The GEMM outputs that become int8 operands of the next GEMM (``q``, ``k``,
    ``v`` and attention's ``P V``), rounded to the accumulator's unit and
    requantized to int8 by a fixed-point multiplier.
"""

import numpy as np

from . import nonlinear as nl
from .dit import gelu, layer_norm, modulate, softmax
from .execution import Dense
from .quant import tensor_scale as _scale, to_int32 as _acc
from .softmax_threshold import threshold_mask

__all__ = ["OPS", "IntegerNonLinear"]

#: The operations that can be replaced.
OPS = ("softmax", "gelu", "layernorm", "requant")


class IntegerNonLinear(Dense):
    """The dense block with the operations in ``ops`` computed by the integer models.

    Parameters
    ----------
    ops : iterable of str
        A subset of :data:`OPS`.
    theta : float
        ST's threshold for the keep-mask comparison (default 1e-3).
    fmt : nonlinear.Format

    Members
    -------
    mask_stats : dict
        ``rows``, ``rows_differ`` (rows whose integer keep mask differs from the
        float mask on the same scores), ``elements``, ``elements_differ``,
        ``kept_int``, ``kept_float``; zero unless softmax is replaced.
    """

    name = "integer_nonlinear"

    def __init__(self, ops=OPS, theta=1e-3, fmt=nl.DEFAULT):
        super().__init__()
        ops = tuple(ops)
        unknown = [o for o in ops if o not in OPS]
        if unknown or not ops:
            raise ValueError(f"ops: expected a non-empty subset of {OPS}, got {ops!r}")
        if not isinstance(fmt, nl.Format):
            raise TypeError(f"fmt: expected a nonlinear.Format, got {fmt!r}")
        self.ops, self.fmt = frozenset(ops), fmt
        self.theta, self.theta_q = float(theta), nl.theta_fixed(theta)

    def describe(self):
        return {"ops": sorted(self.ops), "theta": self.theta}

    def reset(self, model, steps):
        super().reset(model, steps)
        self.mask_stats = dict.fromkeys(
            ("rows", "rows_differ", "elements", "elements_differ", "kept_int", "kept_float"), 0)

    def summary(self):
        return {**super().summary(), "mask": dict(self.mask_stats)}

    # -- the replaced operations --
    def _requant(self, y, unit):
        """``y`` (float GEMM outputs worth ``unit`` per accumulator step) through
        int8 requantization, dequantized."""
        if "requant" not in self.ops:
            return y
        out = _scale(y)
        q = nl.requantize(_acc(y, unit), *nl.fixed_multiplier(unit / out, self.fmt), self.fmt)
        return (q * out).astype(np.float32)

    def _norm(self, x, shift, scale):
        if "layernorm" not in self.ops:
            return modulate(layer_norm(x), shift, scale)
        unit = float(np.max(np.abs(x))) / 2 ** 30 or 1.0
        xi = _acc(x, unit)
        pre = max(0, int(np.max(np.abs(xi))).bit_length() - (self.fmt.ln_bits - 1))
        out = _scale(modulate(layer_norm(x), shift, scale))
        gain, bias, mod_shift = nl.adaln_params(scale, shift, out, self.fmt)
        y = nl.layer_norm(xi, pre, gain[:, None, :], bias[:, None, :], mod_shift, self.fmt)
        return (y * out).astype(np.float32)

    def _gelu(self, pre, unit):
        if "gelu" not in self.ops:
            return gelu(pre)
        out = _scale(gelu(pre))
        y = nl.gelu(_acc(pre, unit), *nl.gelu_params(unit, out, self.fmt), self.fmt)
        return (y * out).astype(np.float32)

    def _softmax(self, q, k):
        """Max-relative integer probabilities, and each row's ``(R, L)``."""
        unit = _scale(q) * _scale(k) / np.sqrt(self.model.cfg.head_dim)
        scores = _acc(self.model.scores(q, k), unit)
        p, keep, _, _, row = nl.softmax(scores, *nl.softmax_params(unit, self.fmt),
                                        theta_q=self.theta_q, fmt=self.fmt, full=True)
        ref = threshold_mask(softmax(scores * unit), self.theta)
        st = self.mask_stats
        differ = keep != ref
        st["rows"] += int(np.prod(keep.shape[:-1]))
        st["rows_differ"] += int(differ.any(axis=-1).sum())
        st["elements"] += int(keep.size)
        st["elements_differ"] += int(differ.sum())
        st["kept_int"] += int(keep.sum())
        st["kept_float"] += int(ref.sum())
        return p, row["R"], row["L"]

    def _attend(self, q, k, v):
        if "softmax" not in self.ops:
            p = softmax(self.model.scores(q, k))
            return self._requant(p @ v, _scale(p) * _scale(v))
        p, r, length = self._softmax(q, k)
        top = (1 << (self.fmt.prob_bits - 1)) - 1
        # the row's normalisation as the hardware gives it, for a unit multiplier
        m, s = nl.row_multiplier(r, length, 1 << 15, 15, self.fmt)
        o = (p.astype(np.float32) @ v) * (m * 2.0 ** -s / top)[..., None].astype(np.float32)
        if "requant" not in self.ops:
            return o
        sv, out = _scale(v), _scale(o)
        m, s = nl.row_multiplier(r, length, *nl.fixed_multiplier(sv / (top * out), self.fmt),
                                 self.fmt)
        acc = np.rint((p.astype(np.float32) @ v) / sv).astype(np.int64)
        return (nl.requantize(acc, m[..., None], s[..., None], self.fmt) * out).astype(np.float32)

    # -- the block, as Dense's with the operations routed through the above --
    def block(self, model, layer, x, c):
        sh1, sc1, g1, sh2, sc2, g2 = model.modulation(layer, c)
        x = x + g1[:, None] * self.attention(model, layer, self._norm(x, sh1, sc1))
        return x + g2[:, None] * self.ffn(model, layer, self._norm(x, sh2, sc2))

    def qkv(self, model, layer, h):
        w, _ = model.weight(layer, "qkv")
        unit = _scale(h) * _scale(w)
        return tuple(self._requant(t, unit) for t in model.qkv(layer, h))

    def attend(self, model, layer, h, q, k, v):
        b = q.shape[0]
        self.count_dense(layer, "qk", b)
        self.count_dense(layer, "pv", b)
        return self._attend(q, k, v)

    def ffn(self, model, layer, h):
        b = h.shape[0]
        self.count_dense(layer, "fc1", b)
        self.count_dense(layer, "fc2", b)
        w1, _ = model.weight(layer, "fc1")
        pre = model.linear(f"blocks.{layer}.fc1", h)
        return model.linear(f"blocks.{layer}.fc2", self._gelu(pre, _scale(h) * _scale(w1)))
