"""Where the integer datapath's error enters: the core's number formats, emulated one point at a time.

:class:`QuantPoints` is an executor of the sampling loop (as the algorithms
are) that computes the block in float but rounds chosen tensors to the
formats the compiler (:mod:`.core_compile`) gives them on the core. Each
point can be switched on alone, so that the error of the integer datapath
can be split by where it enters. The integer arithmetic of the non-linear
operations is *not* emulated (the golden core model has it): run beside
:class:`.core_dit.IntegerCore` on the same samples, every point switched on
shows how much of the core's error is its number formats and how much its
integer algorithms add.

The points (:data:`POINTS`), each as the compiler quantizes it; scales are
taken on the tensor at hand, for the whole batch (as :func:`.core_compile.calibrate`
takes them per block and step on the batch sampled):

``h1``, ``h2``
    The LayerNorm outputs (attention's, the FFN's): int8, one scale per
    tensor after SmoothQuant's per-channel factors (:func:`.quant.smoothing`),
    which move into the rows of the next GEMM's weights.
``w_qkv``, ``w_fc1``
    Those weights, with the factors: int8, one scale per matrix.
``qkv``
    ``q``, ``k``, ``v``: int8, one scale per tensor each.
``p``
    The probabilities: ``prob_bits``-bit integers relative to the row's
    maximum; the normalisation by the row's sum is applied to ``P V``'s
    accumulators, as the non-linear unit's softmax defers it.
``o``
    Attention's output: int8, one scale per tensor.
``w_proj``, ``w_fc2``
    int8, one scale per output column.
``g``
    GELU's output: int8, one scale per tensor.

Two variants measure what other formats would buy: ``per_token`` gives the
listed activations (of :data:`PER_TOKEN`) one scale per token instead of
per tensor (a scale the hardware would have to compute per row), and
``fmt="bfloat16"`` rounds every chosen point to bfloat16 instead (weights
included; no smoothing factors, which bfloat16 does not need).
"""

import numpy as np

from .dit import gelu, softmax
from .execution import Dense
from .quant import quantize, smoothing

__all__ = ["POINTS", "PER_TOKEN", "FORMATS", "QuantPoints", "bfloat16"]

#: The tensors the core holds in a narrow format, in the block's order.
POINTS = ("h1", "w_qkv", "qkv", "p", "o", "w_proj", "h2", "w_fc1", "g", "w_fc2")
#: The activations that can take one scale per token.
PER_TOKEN = ("h1", "h2", "g")
#: The formats the points can be rounded to.
FORMATS = ("int8", "bfloat16")


def bfloat16(x):
    """``x`` rounded to bfloat16 (to nearest, ties to even), as float32."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def _int8(x, axis=None):
    q, scale = quantize(x, axis)
    return (q * scale).astype(np.float32)


class QuantPoints(Dense):
    """The float block with the tensors in ``points`` rounded to their formats.

    Parameters
    ----------
    points : iterable of str
        A subset of :data:`POINTS` (empty: the float block).
    per_token : iterable of str
        A subset of :data:`PER_TOKEN`: those activations, one scale per token
        (each is also rounded, whether or not ``points`` lists it).
    fmt : str
        One of :data:`FORMATS`.
    prob_bits : int
        The probabilities' width (the non-linear unit's ``prob_bits``).

    Members
    -------
    points : frozenset
        What is rounded: ``points`` and ``per_token`` together.
    """

    name = "quant_points"

    def __init__(self, points=POINTS, per_token=(), fmt="int8", prob_bits=8):
        super().__init__()
        for name, given, allowed in (("points", points, POINTS),
                                     ("per_token", per_token, PER_TOKEN)):
            if isinstance(given, str) or not all(isinstance(p, str) for p in given):
                raise TypeError(f"{name}: expected an iterable of names, got {given!r}")
            if not set(given) <= set(allowed):
                raise ValueError(f"{name}: expected a subset of {allowed}, got {tuple(given)!r}")
        if fmt not in FORMATS:
            raise ValueError(f"fmt: expected one of {FORMATS}, got {fmt!r}")
        if per_token and fmt != "int8":
            raise ValueError(f"per_token: scales are an int8 format's, got {tuple(per_token)!r} "
                             f"with fmt {fmt!r}")
        if not isinstance(prob_bits, int) or isinstance(prob_bits, bool) or \
                not 2 <= prob_bits <= 16:
            raise ValueError(f"prob_bits: expected an integer in [2, 16], got {prob_bits!r}")
        self.per_token = frozenset(per_token)
        self.points = frozenset(points) | self.per_token
        self.fmt, self.prob_bits = fmt, prob_bits

    def describe(self):
        return {"points": [p for p in POINTS if p in self.points],
                "per_token": [p for p in PER_TOKEN if p in self.per_token], "fmt": self.fmt}

    # -- the formats --
    def _act(self, name, x):
        if name not in self.points:
            return x
        if self.fmt == "bfloat16":
            return bfloat16(x)
        return _int8(x, -1 if name in self.per_token else None)

    def _weight(self, name, w, axis=None):
        if name not in self.points:
            return w
        return bfloat16(w) if self.fmt == "bfloat16" else _int8(w, axis)

    def _smoothed(self, h_name, w_name, h, w):
        """``h @ w`` with the LayerNorm output's point and its weights'."""
        if self.fmt == "int8" and {h_name, w_name} & self.points:
            s = smoothing(h, w).astype(np.float32)
            h, w = h / s, w * s[:, None]
        return self._act(h_name, h) @ self._weight(w_name, w)

    # -- the block, as Dense's with the points rounded --
    def qkv(self, model, layer, h):
        w, b = model.weight(layer, "qkv")
        y = self._smoothed("h1", "w_qkv", h, w) + b
        return tuple(self._act("qkv", model.split_heads(t)) for t in np.split(y, 3, axis=-1))

    def attend(self, model, layer, h, q, k, v):
        b = q.shape[0]
        self.count_dense(layer, "qk", b)
        self.count_dense(layer, "pv", b)
        s = model.scores(q, k)
        if "p" not in self.points:
            return softmax(s) @ v
        if self.fmt == "bfloat16":
            return bfloat16(softmax(s)) @ v
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        top = (1 << (self.prob_bits - 1)) - 1
        p = (np.rint(e * top) / top).astype(np.float32)
        return (p @ v) / e.sum(axis=-1, keepdims=True)

    def attention(self, model, layer, h):
        b = h.shape[0]
        q, k, v = self.qkv(model, layer, h)
        self.count_dense(layer, "qkv", b)
        o = model.merge_heads(self.attend(model, layer, h, q, k, v))
        self.count_dense(layer, "proj", b)
        w, bias = model.weight(layer, "proj")
        return self._act("o", o) @ self._weight("w_proj", w, 0) + bias

    def ffn(self, model, layer, h):
        b = h.shape[0]
        self.count_dense(layer, "fc1", b)
        self.count_dense(layer, "fc2", b)
        w1, b1 = model.weight(layer, "fc1")
        w2, b2 = model.weight(layer, "fc2")
        g = self._act("g", gelu(self._smoothed("h2", "w_fc1", h, w1) + b1))
        return g @ self._weight("w_fc2", w2, 0) + b2
