"""Stimulus and golden expectations of the eager predictor's units.

Both the Amaranth-simulator tests and the cocotb sign-off use these, so the
two check the same thing against the same golden functions
(:func:`golden.eager.log_split`, :func:`golden.eager.select_max_relative`,
:func:`golden.eager.select_top_k`).
"""

import numpy as np

from golden.eager import log_encode, log_split, select_max_relative, select_top_k


def _operand(rng, width, n):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    kind = rng.randrange(4)
    if kind == 0:
        return [rng.randint(lo, hi) for _ in range(n)]
    if kind == 1:   # extremes and zeros
        return [rng.choice((lo, hi, 0, -1, 1)) for _ in range(n)]
    if kind == 2:   # small magnitudes: two leading ones matter most here
        return [rng.randint(-7, 7) for _ in range(n)]
    return [rng.choice((-1, 1)) * (1 << rng.randrange(width - 1)) for _ in range(n)]


def logdot_jobs(p, rng, count, vectors=None):
    """``count`` dot products as ``(beats, [expected result])``.

    ``vectors``, if given, is a list of ``(a, b)`` integer vectors (real
    operands from the DiT trace) to use instead of random ones; each is cut
    into beats of ``p.lanes``, zero-padded.
    """
    jobs = []
    for n in range(count):
        if vectors is not None:
            a, b = (list(map(int, v)) for v in vectors[n % len(vectors)])
            pad = -len(a) % p.lanes
            a, b = a + [0] * pad, b + [0] * pad
            if len(a) > p.lanes * p.max_beats:
                raise ValueError(f"vectors: length {len(a)} exceeds lanes x max_beats "
                                 f"= {p.lanes * p.max_beats}")
        else:
            length = rng.randint(1, p.max_beats) * p.lanes
            a, b = _operand(rng, p.width, length), _operand(rng, p.width, length)
        beats = []
        ea, eb = (log_encode(v, p.width, p.k, p.rounding) if p.encoded else v for v in (a, b))
        for i in range(0, len(a), p.lanes):
            beats.append({"a": ea[i:i + p.lanes], "b": eb[i:i + p.lanes],
                          "last": int(i + p.lanes == len(a))})
        pos, neg = log_split(np.array(a), np.array(b), p.k, p.rounding)
        want = {"pos": int(pos), "neg": int(neg)} if p.split else {"diff": int(pos - neg)}
        jobs.append((beats, [want]))
    return jobs


def select_expected(p, scores, theta=None):
    scores = np.asarray(scores, dtype=np.int64)
    if p.mode == "max_relative":
        return select_max_relative(scores, theta).astype(int).tolist()
    return select_top_k(scores, p.top_k).astype(int).tolist()


def select_rows(p, rng, count, rows=None):
    """``count`` rows as ``(beats, keep bits)``; ``rows`` may give ``(scores, theta)`` pairs."""
    lo, hi = -(1 << (p.score_width - 1)), (1 << (p.score_width - 1)) - 1
    out = []
    for n in range(count):
        if rows is not None:
            scores, theta = rows[n % len(rows)]
            scores = [int(s) for s in scores]
        else:
            length = rng.choice((1, 2, p.row, rng.randint(1, p.row)))
            kind = rng.randrange(3)
            if kind == 0:
                scores = [rng.randint(lo, hi) for _ in range(length)]
            elif kind == 1:   # many ties
                scores = [rng.randint(-3, 3) for _ in range(length)]
            else:
                scores = [rng.choice((lo, hi, 0)) for _ in range(length)]
            theta = rng.choice((0, 1, 5, (1 << p.score_width) - 1, rng.getrandbits(p.score_width)))
        beats = []
        for i, s in enumerate(scores):
            beat = {"score": s, "last": int(i == len(scores) - 1)}
            if p.mode == "max_relative":
                beat["theta"] = int(theta)
            beats.append(beat)
        keep = select_expected(p, scores, theta)
        out.append((beats, [{"keep": k, "last": int(i == len(keep) - 1)}
                            for i, k in enumerate(keep)]))
    return out


def trace_operands(step=2, layer=1):
    """The eager-prediction operands of the DiT trace (:func:`golden.trace.prediction_operands`)."""
    from golden.trace import prediction_operands
    return prediction_operands(step=step, layer=layer)


def trace_stage_vectors(ops, stage, rng, count, head=0):
    """Real dot-product operand pairs: stage 1 ``(x_t, Wq[:, j])``, stage 2 ``(Qp_i, Kp_j)``."""
    from golden.eager import log_matmul
    x = ops["x"].astype(np.int64)
    if stage == 1:
        w = np.concatenate([ops["wq"][head], ops["wk"][head]], axis=1).astype(np.int64)
        return [(x[rng.randrange(len(x))], w[:, rng.randrange(w.shape[1])]) for _ in range(count)]
    qp = log_matmul(x, ops["wq"][head], 2) + ops["bq"][head]
    kp = log_matmul(x, ops["wk"][head], 2) + ops["bk"][head]
    return [(qp[rng.randrange(len(qp))], kp[rng.randrange(len(kp))]) for _ in range(count)]


def trace_score_rows(ops, rng, count, head=0, theta=4.0):
    """Real rows of predicted scores ``Sp`` with the integer threshold of ``theta``."""
    from golden.eager import predict_scores, theta_to_integer
    sp = predict_scores(ops["x"], ops["wq"][head], ops["wk"][head], 2, 2,
                        ops["bq"][head], ops["bk"][head])
    th = int(theta_to_integer(theta, ops["sq"][head], ops["sk"][head], ops["wq"][head].shape[1]))
    return [(sp[rng.randrange(len(sp))], th) for _ in range(count)]


def predictor_job(p, x, wq, wk, bq, bk, theta=None):
    """Stage-1 beats of one head for :class:`hw.eager_predictor.EagerPredictor`
    and the keep bits it must produce (``T x T``, rows in order), from
    :func:`golden.eager.predict_scores` and the selection.

    ``x [T, d]``, ``wq, wk [d, dh]`` int8; ``bq, bk [dh]`` integers at the
    stage-1 accumulator scale; ``theta`` the integer threshold (``max_relative``).
    """
    from golden.eager import log_matmul, predict_scores
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
