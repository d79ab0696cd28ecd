"""Real operands for the RTL, cut out of sampling runs of the tiny DiT.

Each function runs a short, seeded sampling run with one algorithm, captures
what a hardware unit would see at one step and layer, and returns it int8
quantized (symmetric, :mod:`exdisc.golden.quant`). The results are deterministic for
the arguments; the RTL tests of the engine, ConMerge, the eager predictor and
the router consume them.
"""

from functools import lru_cache

import numpy as np

from .ctr import CachedTokenReuse
from .diffusion import sample
from .dit import DiT, gelu
from .eager import EagerPrediction
from .execution import Dense
from .ffn_reuse import FFNReuse
from .mask_gen import fc1_integer_threshold, fc1_mask
from .quant import quantize
from .softmax_threshold import SoftmaxThreshold

#: A short run: enough steps for a dense step, sparse steps and a mask reuse.
TRACE_STEPS = 10


@lru_cache(maxsize=2)
def model():
    return DiT.load()


def _check(name, value, hi):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < hi:
        raise ValueError(f"{name}: expected an integer in [0, {hi}), got {value!r}")


def _run(executor, label, steps, seed):
    sample(model(), [label], executor, steps=steps, seed=seed)
    return executor


def ffn_operands(step=3, layer=0, sequence=0, label=3, steps=TRACE_STEPS, seed=0,
                 sparsity=0.9):
    """FC1 and FC2 operands of one FFN-Reuse sparse step and the dense step before it.

    Returns a dict of int8 ``x [T, d]`` (FFN input of the sparse step), ``w1
    [d, 4d]``, ``w2 [4d, d]``, ``h_dense`` and ``h`` (int8 GELU outputs of the
    dense and the sparse step, FC2's inputs, one shared scale), ``mask [T, 4d]``
    (the float model's FFN-Reuse mask), ``x_dense`` (the dense step's FFN
    input), ``threshold [4d]`` (int64: the FC1 accumulator of the dense step
    is above it exactly where the quantized mask is set), ``mask_int`` (that
    quantized mask) and the scales ``sx, sw1, sh, sw2``.
    """
    cfg = model().cfg
    _check("layer", layer, cfg.depth)
    _check("sequence", sequence, 2)
    _check("step", step, steps)
    policy = FFNReuse(sparsity=sparsity)
    if policy.is_dense_step(step):
        raise ValueError(f"step: {step!r} is a dense step of FFN-Reuse; pick a sparse one")
    dense_step = max(s for s in range(step) if policy.is_dense_step(s))
    ex = FFNReuse(sparsity=sparsity, keep_masks=True, capture={(dense_step, layer), (step, layer)})
    _run(ex, label, steps, seed)
    w1, b1 = model().weight(layer, "fc1")
    w2, _ = model().weight(layer, "fc2")
    hx = ex.captured[(step, layer, "ffn")][sequence]
    hd = ex.captured[(dense_step, layer, "ffn")][sequence]
    x, sx = quantize(np.stack([hd, hx]))  # one activation scale for both steps
    w1q, sw1 = quantize(w1)
    w2q, sw2 = quantize(w2)
    act = gelu(np.stack([hd, hx]) @ w1 + b1)
    hq, sh = quantize(act)
    tau = [t for s, l, t in ex.stats["tau"] if s == dense_step and l == layer][0][sequence]
    sx, sw1 = float(sx.item()), float(sw1.item())
    threshold = fc1_integer_threshold(tau, b1, sx * sw1)
    acc_dense = x[0].astype(np.int64) @ w1q.astype(np.int64)
    return {"x": x[1], "x_dense": x[0], "w1": w1q, "w2": w2q, "h_dense": hq[0], "h": hq[1],
            "mask": ex.masks[(dense_step, layer, "ffn")][sequence],
            "threshold": threshold, "mask_int": fc1_mask(acc_dense, threshold),
            "sx": sx, "sw1": sw1, "sh": float(sh.item()), "sw2": float(sw2.item()),
            "step": step, "dense_step": dense_step, "layer": layer, "tau": tau}


def prediction_operands(step=2, layer=0, sequence=0, label=3, steps=TRACE_STEPS, seed=0,
                        k1=2, k2=2):
    """Eager-prediction inputs of one step and layer, all heads.

    Returns the dict of :meth:`exdisc.golden.eager.EagerPrediction.operands` for one
    sequence (``x [T, d]`` int8; per head ``wq, wk`` int8 ``[d, dh]``, ``bq, bk``
    int64 ``[dh]``, scales), plus ``q, k, v``: the exact projections int8
    quantized per head (``[heads, T, dh]``, one scale per tensor), and ``h``
    (``[1, T, d]``, the float block input the operands come from).
    """
    cfg = model().cfg
    _check("layer", layer, cfg.depth)
    _check("sequence", sequence, 2)
    _check("step", step, steps)
    ex = EagerPrediction(k1=k1, k2=k2, capture={(step, layer)})
    _run(ex, label, steps, seed)
    h = ex.captured[(step, layer, "attn")][sequence:sequence + 1]
    ops = ex.operands(model(), layer, h)
    out = {"x": ops["x"][0], "sx": float(ops["sx"][0]), "h": h, "layer": layer, "step": step}
    for key in ("wq", "wk"):
        out[key] = ops[key]
    for key in ("bq", "bk"):
        out[key] = [b[0] for b in ops[key]]
    for key in ("sq", "sk"):
        out[key] = [float(s[0]) for s in ops[key]]
    q, k, v = model().qkv(layer, h)
    for name, t in (("q", q), ("k", k), ("v", v)):
        out[name], out["s" + name + "_exact"] = quantize(t[0])
    return out


def fresh_tokens(steps=TRACE_STEPS * 2, label=3, seed=0, **ctr):
    """CTR's fresh tokens per step: ``{step: int64 array of token indices}`` (first sequence)."""
    cached = _fresh_tokens(steps, label, seed, tuple(sorted(ctr.items())))
    return {s: tokens.copy() for s, tokens in cached.items()}


@lru_cache(maxsize=4)
def _fresh_tokens(steps, label, seed, ctr):
    # one sampling run per setting in a process: the router's traces ask again and again
    ex = CachedTokenReuse(keep_masks=True, **dict(ctr))
    _run(ex, label, steps, seed)
    return {s: np.flatnonzero(m[0]) for (s, _, kind), m in sorted(ex.masks.items())
            if kind == "fresh"}


def ctr_steps(steps=TRACE_STEPS * 2, label=3, seed=0, **ctr):
    """Per step of a float CTR run (first sequence): ``(dz [C, H, W] or None on
    a full step, patch, tokens reused, fresh [T], float score [T] or None)``,
    what :func:`exdisc.golden.ctr_select.compare` takes."""
    ex = CachedTokenReuse(keep_masks=True, **ctr)
    seen = []
    score = ex.score

    def scored(step, z):
        s = score(step, z)
        seen.append((step, (z - ex.ref)[0], s[0]))
        return s
    ex.score = scored
    _run(ex, label, steps, seed)
    fresh = [f[0] for (s, _, kind), f in sorted(ex.masks.items()) if kind == "fresh"]
    by_step = {step: (dz, sc) for step, dz, sc in seen}
    patch = model().cfg.patch
    out = []
    for step, f in enumerate(fresh):
        dz, sc = by_step.get(step, (None, None))
        out.append((dz, patch, int((~f).sum()) if dz is not None else 0, f, sc))
    return out


def kept_keys(layer=0, head=0, sequence=0, label=3, steps=TRACE_STEPS, seed=0, **st):
    """ST's stored mask of one layer and head: ``{step: list of kept-key arrays, one per query}``.

    Only the generation steps store a mask; the reuse steps that follow gather
    exactly these keys.
    """
    cfg = model().cfg
    _check("layer", layer, cfg.depth)
    _check("head", head, cfg.heads)
    _check("sequence", sequence, 2)
    masks = _st_masks(label, steps, seed, tuple(sorted(st.items())))
    out = {}
    for (s, l, kind), m in sorted(masks.items()):
        if l == layer and kind == "attn":
            out[s] = [np.flatnonzero(row) for row in m[sequence, head]]
    return out


@lru_cache(maxsize=4)
def _st_masks(label, steps, seed, st):
    ex = SoftmaxThreshold(keep_masks=True, **dict(st))
    _run(ex, label, steps, seed)
    return ex.masks


class _BlockCapture(Dense):
    """The dense block, keeping at one (step, layer) what the non-linear
    unit sees: the residual stream and adaLN's shift and scale before the
    attention, the attention scores, and FC1's pre-activations."""

    def __init__(self, step, layer):
        super().__init__()
        self.at = (step, layer)
        self.seen = {}

    def block(self, model, layer, x, c):
        if (self.step, layer) == self.at:
            sh1, sc1, *_ = model.modulation(layer, c)
            self.seen.update(x=x.copy(), c=c.copy(), shift=sh1, scale=sc1)
        return super().block(model, layer, x, c)

    def attend(self, model, layer, h, q, k, v):
        if (self.step, layer) == self.at:
            self.seen.update(q=q.copy(), k=k.copy())
        return super().attend(model, layer, h, q, k, v)

    def ffn(self, model, layer, h):
        if (self.step, layer) == self.at:
            self.seen["fc1"] = model.linear(f"blocks.{layer}.fc1", h)
            self.seen["h"] = h.copy()
        return super().ffn(model, layer, h)


@lru_cache(maxsize=2)
def _block_capture(step, layer, label, steps, seed):
    ex = _BlockCapture(step, layer)
    _run(ex, label, steps, seed)
    return ex.seen


def block_input(step=3, layer=0, label=3, steps=TRACE_STEPS, seed=0):
    """A dense step's block input ``x [B, T, d]`` and conditioning ``c [B, d]``
    (float; ``B`` is 2 with classifier-free guidance: the label and the null
    class), for the core's compiler."""
    _check("step", step, steps)
    _check("layer", layer, model().cfg.depth)
    seen = _block_capture(step, layer, label, steps, seed)
    return seen["x"], seen["c"]


def nonlinear_rows(rows=2, step=3, layer=0, sequence=0, label=3, steps=TRACE_STEPS, seed=0):
    """Rows of one dense step and layer, as the integer non-linear unit gets
    them, with the constants of their commands (the scales as
    :mod:`exdisc.golden.nonlinear_dit` sets them, per tensor).

    Returns a dict: ``scores [rows, T]`` (int64 accumulators of head 0,
    worth ``score_scale`` each), ``fc1 [rows, 4d]`` (FC1 accumulators worth
    ``fc1_scale``; ``gelu_scale`` is the GELU output's scale), ``residual
    [rows, d]`` (the residual stream as 31-bit integers) with ``pre`` (the
    shift of each row to ``ln_bits = 16``) and ``adaln`` (``(gain, bias,
    mod_shift)`` per row for int8 outputs).
    """
    from . import nonlinear as nl
    from .dit import gelu, layer_norm, modulate
    from .quant import QMAX
    cfg = model().cfg
    _check("layer", layer, cfg.depth)
    _check("sequence", sequence, 2)
    _check("step", step, steps)
    seen = _block_capture(step, layer, label, steps, seed)

    def scale(a):
        return float(np.max(np.abs(a))) / QMAX

    def acc(a, unit):
        lim = (1 << 31) - 1
        return np.clip(np.rint(np.asarray(a, np.float64) / unit), -lim, lim).astype(np.int64)

    q, k = seen["q"][sequence, 0], seen["k"][sequence, 0]
    sunit = scale(q) * scale(k) / np.sqrt(cfg.head_dim)
    scores = acc((q @ k.T)[:rows] / np.sqrt(cfg.head_dim), sunit)
    w1, _ = model().weight(layer, "fc1")
    funit = scale(seen["h"]) * scale(w1)
    fc1 = seen["fc1"][sequence][:rows]
    x = seen["x"][sequence][:rows].astype(np.float64)
    shift, sc = seen["shift"][sequence], seen["scale"][sequence]
    xunit = float(np.max(np.abs(x))) / 2 ** 30
    xi = acc(x, xunit)
    out_scale = scale(modulate(layer_norm(x[None]), shift[None], sc[None]))
    gain, bias, mod_shift = nl.adaln_params(sc, shift, out_scale)
    pre = [max(0, int(np.max(np.abs(r))).bit_length() - 15) for r in xi]
    return {"scores": scores, "score_scale": sunit, "fc1": acc(fc1, funit), "fc1_scale": funit,
            "gelu_scale": scale(gelu(fc1)), "residual": xi, "pre": pre,
            "adaln": [(gain, bias, mod_shift)] * len(xi)}
