"""Stimulus and golden expectations of the composed eager predictor
(:class:`exdisc.hw.eager_predictor.EagerPredictor`): a head's stage-1 beats
and the keep bits :func:`exdisc.golden.eager.predict_scores` and the
selection give them.
"""

import numpy as np

from exdisc.golden.eager_rowselect import select_max_relative, select_top_k

__all__ = ["predictor_job", "random_head"]


def predictor_job(p, x, wq, wk, bq, bk, theta=None):
    """Stage-1 beats of one head for :class:`exdisc.hw.eager_predictor.EagerPredictor`
    and the keep bits it must produce (``T x T``, rows in order), from
    :func:`exdisc.golden.eager.predict_scores` and the selection.

    ``x [T, d]``, ``wq, wk [d, dh]`` int8; ``bq, bk [dh]`` integers at the
    stage-1 accumulator scale; ``theta`` the integer threshold (``max_relative``).
    """
    from exdisc.golden.eager_logdot import log_matmul
    from exdisc.golden.eager import predict_scores
    x, wq, wk = (np.asarray(v, dtype=np.int64) for v in (x, wq, wk))
    bq, bk = (np.asarray(v, dtype=np.int64) for v in (bq, bk))
    T, d = x.shape
    if (T, d, wq.shape[1]) != (p.tokens, p.dim, p.head_dim) or wk.shape != wq.shape:
        raise ValueError(f"operands: x {x.shape}, wq {wq.shape}, wk {wk.shape} do not match "
                         f"tokens {p.tokens}, dim {p.dim}, head_dim {p.head_dim}")
    lim = 1 << (p.qk_width - 1)
    for name, w, b in (("Qp", wq, bq), ("Kp", wk, bk)):
        v = log_matmul(x, w, p.k1, p.rounding) + b
        if v.min() < -lim or v.max() >= lim:
            raise ValueError(f"{name} needs more than qk_width = {p.qk_width} bits "
                             f"(range {v.min()} .. {v.max()})")
    beats = []
    for t in range(T):
        for w, b in ((wq, bq), (wk, bk)):
            for j in range(p.head_dim):
                for s in range(0, d, p.lanes):
                    last = s + p.lanes == d
                    beats.append({"x": [int(v) for v in x[t, s:s + p.lanes]],
                                  "w": [int(v) for v in w[s:s + p.lanes, j]],
                                  "bias": int(b[j]) if last else 0, "last": int(last)})
    sp = predict_scores(x, wq, wk, p.k1, p.k2, bq, bk, p.rounding)
    keep = (select_max_relative(sp, theta) if p.mode == "max_relative"
            else select_top_k(sp, p.top_k))
    out = [{"keep": int(keep[i, j]), "last": int(j == T - 1)}
           for i in range(T) for j in range(T)]
    return beats, out


def random_head(p, nrng, extreme=False):
    """Operands of one random head for :func:`predictor_job`: ``x, wq, wk`` int8
    (``extreme``: only -127, 127, 0, +-1 and 64) and biases."""
    T, d, dh = p.tokens, p.dim, p.head_dim
    if extreme:
        pick = lambda shape: nrng.choice([-127, 127, 0, 1, -1, 64], shape)  # noqa: E731
    else:
        pick = lambda shape: nrng.integers(-127, 128, shape)  # noqa: E731
    return (pick((T, d)), pick((d, dh)), pick((d, dh)),
            nrng.integers(-4000, 4000, dh), nrng.integers(-4000, 4000, dh))
