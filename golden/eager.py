"""Eager prediction with two-step leading-one detection (EXION): the algorithm, and
the bit-exact model of :class:`exdisc.hw.eager_predictor.EagerPredictor`.

Stage 1 predicts ``Qp = lod_k1(X) . lod_k1(Wq) + bq`` and ``Kp`` likewise from
the int8 block input and int8 weights; stage 2 predicts
``Sp = lod_k2(Qp) . lod_k2(Kp)^T`` (:func:`predict_scores`, built on
:func:`exdisc.golden.eager_logdot.log_matmul`); a row selection
(:mod:`exdisc.golden.eager_rowselect`) keeps the keys. :class:`EagerPrediction`
runs the same functions inside the sampling loop, so the algorithm and the
hardware model are one definition.

``lod_k`` is the spec's truncation or one of two roundings
(:func:`exdisc.golden.lod.keep_leading_ones`). The predictor's default is
``"signed"`` (**[choice]**, changed from the spec's truncation): each of the
two steps takes the power of two nearest to what is left, so an operand is
``sgn (2^p1 +- 2^p2)``. The kept magnitude stays positive, so a lane's
product still goes whole to the accumulator of its sign. ``exdisc bench
eager`` measures what it does to recall on the DiT.
"""

import numpy as np

from .dit import softmax
from .eager_logdot import log_matmul
from .eager_rowselect import select_max_relative, select_top_k
from .execution import Dense
from .lod import check_rounding
from .quant import quantize

__all__ = ["predict_scores", "theta_to_integer", "EagerPrediction"]


def predict_scores(xq, wq, wk, k1=2, k2=2, bq=None, bk=None, rounding="signed"):
    """Predicted scores ``Sp [..., T, T]`` (int64) of one head.

    ``xq [..., T, d]`` int8 block input; ``wq, wk [d, dh]`` int8 weights;
    ``bq, bk [dh]`` optional integer biases at the accumulator scale;
    ``rounding``: how operands keep ``k`` powers of two
    (:func:`exdisc.golden.lod.keep_leading_ones`; the predictor's default is ``"signed"``).
    """
    qp = log_matmul(xq, wq, k1, rounding)
    kp = log_matmul(xq, wk, k1, rounding)
    if bq is not None:
        qp = qp + bq
    if bk is not None:
        kp = kp + bk
    return log_matmul(qp, np.swapaxes(kp, -1, -2), k2, rounding)


def theta_to_integer(theta, scale_q, scale_k, head_dim):
    """The integer threshold on ``Sp`` for a threshold ``theta`` on the softmax logits.

    The logit is ``Sp * scale_q * scale_k / sqrt(dh)``: a key whose logit is
    within ``theta`` of the row maximum has a softmax weight at least
    ``exp(-theta)`` of the largest.
    """
    return np.floor(theta * np.sqrt(head_dim) / (scale_q * scale_k)).astype(np.int64)


class EagerPrediction(Dense):
    """Eager prediction as an executor: predicted mask, then exact attention on the kept keys.

    Parameters
    ----------
    k1, k2 : {1, 2}
        Leading ones per operand in stage 1 (X, W) and stage 2 (Qp, Kp).
        Default 2 and 2 (EXION's two-step); 1 and 1 is FACT.
    select : {"max_relative", "top_k"}
        Row selection (default max-relative **[choice]**).
    theta : float
        Max-relative threshold in logit units (natural log of the softmax
        weight ratio), default 4.0 **[choice]**.
    top_k : int
        Keys per row for top-k selection, and the ``k`` of the recall measure.
    bias : bool
        Add the query/key biases (quantized to the accumulator scale) before
        stage 2 (default True **[choice]**: a per-key bias term does not cancel in
        the softmax).
    rounding : {"signed", "truncate", "half_up"}
        How every operand keeps ``k`` powers of two
        (:func:`exdisc.golden.lod.keep_leading_ones`; ``LogDotParams.rounding`` in
        the RTL). Default ``"signed"`` **[choice]**: this project changed the
        spec's truncation, which kept top-32 recall under 0.9 on the DiT
        trace. ``"truncate"`` with ``k1 = k2 = 1`` is FACT.

    Members
    -------
    stats : dict
        ``recall``: per (step, layer) the recall of the exact top-``top_k``
        keys by the predicted top-``top_k``; ``kept_recall``: by the kept set;
        ``density``: fraction of scores kept.
    """

    name = "eager"

    def __init__(self, k1=2, k2=2, select="max_relative", theta=4.0, top_k=32, bias=True,
                 rounding="signed", keep_masks=False, capture=()):
        super().__init__(keep_masks, capture)
        for nm, v in (("k1", k1), ("k2", k2)):
            if v not in (1, 2) or isinstance(v, bool):
                raise ValueError(f"{nm}: expected 1 or 2, got {v!r}")
        if select not in ("max_relative", "top_k"):
            raise ValueError(f"select: expected 'max_relative' or 'top_k', got {select!r}")
        if not isinstance(theta, (int, float)) or isinstance(theta, bool) or theta < 0:
            raise ValueError(f"theta: expected a non-negative number, got {theta!r}")
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise ValueError(f"top_k: expected a positive integer, got {top_k!r}")
        self.k1, self.k2, self.select, self.theta = k1, k2, select, float(theta)
        check_rounding(rounding)
        self.top_k, self.bias, self.rounding = top_k, bool(bias), rounding
        self.name = (f"eager_k{k1}{k2}" if (k1, k2) != (2, 2) else "eager") + \
            ("" if rounding == "signed" else f"_{rounding}")

    def describe(self):
        return {"k1": self.k1, "k2": self.k2, "select": self.select, "theta": self.theta,
                "top_k": self.top_k, "bias": self.bias, "rounding": self.rounding}

    def operands(self, model, layer, h):
        """Int8 operands and scales of one layer's prediction, per head.

        Returns a dict: ``x [B, T, d]`` int8 and ``sx [B]``; per head lists
        ``wq, wk`` (int8 ``[d, dh]``), ``bq, bk`` (int64 ``[B, dh]``), ``sq, sk``
        (float ``[B]``, the scales of ``Qp`` and ``Kp``).
        """
        cfg = model.cfg
        w, b = model.weight(layer, "qkv")
        x, sx = quantize(h, axis=(1, 2))
        sx = sx.reshape(-1)
        out = {"x": x, "sx": sx, "wq": [], "wk": [], "bq": [], "bk": [], "sq": [], "sk": []}
        d, dh = cfg.hidden, cfg.head_dim
        for head in range(cfg.heads):
            for name, off in (("q", 0), ("k", d)):
                cols = slice(off + head * dh, off + (head + 1) * dh)
                wi, sw = quantize(w[:, cols])
                scale = sx * float(sw.item())
                out["w" + name].append(wi)
                out["s" + name].append(scale)
                bias = np.rint(b[cols][None] / scale[:, None]).astype(np.int64)
                out["b" + name].append(bias if self.bias else np.zeros_like(bias))
        return out

    def predict(self, model, layer, h):
        """``(keep [B, heads, T, T] bool, sp [B, heads, T, T] int64)`` for block input ``h``."""
        ops = self.operands(model, layer, h)
        keep, sps = [], []
        for head in range(model.cfg.heads):
            sp = predict_scores(ops["x"], ops["wq"][head], ops["wk"][head], self.k1, self.k2,
                                ops["bq"][head][:, None], ops["bk"][head][:, None],
                                self.rounding)
            if self.select == "top_k":
                kp = select_top_k(sp, self.top_k)
            else:
                th = theta_to_integer(self.theta, ops["sq"][head], ops["sk"][head],
                                      model.cfg.head_dim)
                kp = select_max_relative(sp, th[:, None, None])
            keep.append(kp)
            sps.append(sp)
        return np.stack(keep, 1), np.stack(sps, 1)

    def attention(self, model, layer, h):
        cfg = model.cfg
        b, t, d = h.shape
        keep, sp = self.predict(model, layer, h)
        q, k, v = model.qkv(layer, h)
        s = model.scores(q, k)
        exact_top = select_top_k(s, self.top_k)
        pred_top = select_top_k(sp, self.top_k)
        self.stats["recall"].append((self.step, layer, float((exact_top & pred_top).sum()
                                                            / exact_top.sum())))
        self.stats["kept_recall"].append((self.step, layer, float((exact_top & keep).sum()
                                                                 / exact_top.sum())))
        self.stats["density"].append((self.step, layer, float(keep.mean())))
        o = softmax(np.where(keep, s, -np.inf)) @ v
        nnz = int(keep.sum())
        keys_needed = int(keep.any(axis=2).sum())  # (sequence, head, key) with some query
        dh = cfg.head_dim
        self.count(layer, "qkv", b * t * d * 3 * d, b * t * d * d + 2 * keys_needed * d * dh)
        self.count(layer, "qk", b * t * t * d, nnz * dh)
        self.count(layer, "pv", b * t * t * d, nnz * dh)
        self.count_dense(layer, "proj", b)
        self.keep(layer, "attn", keep, keep[0].size // 8)
        return model.linear(f"blocks.{layer}.proj", model.merge_heads(o))

    def summary(self):
        out = super().summary()
        out["attention_macs_skipped"] = self.skipped(("qk", "pv"))
        out["attention_sparsity"] = 1.0 - float(np.mean([x for _, _, x in self.stats["density"]]))
        out["recall"] = float(np.mean([x for _, _, x in self.stats["recall"]]))
        out["kept_recall"] = float(np.mean([x for _, _, x in self.stats["kept_recall"]]))
        return out
