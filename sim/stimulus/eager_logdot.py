"""Stimulus and golden expectations of the log-domain dot product
(:class:`exdisc.hw.eager_logdot.LogDotProduct`): random and real operand
pairs, and what :func:`exdisc.golden.eager_logdot.log_split` makes of them.
The Amaranth-simulator tests and the cocotb sign-off both use these.
"""

import numpy as np

from exdisc.golden.eager_logdot import log_encode, log_split

__all__ = ["logdot_jobs", "trace_operands", "trace_stage_vectors"]


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


def trace_operands(step=2, layer=1):
    """The eager-prediction operands of the DiT trace (:func:`exdisc.golden.trace.prediction_operands`)."""
    from exdisc.golden.trace import prediction_operands
    return prediction_operands(step=step, layer=layer)


def trace_stage_vectors(ops, stage, rng, count, head=0):
    """Real dot-product operand pairs: stage 1 ``(x_t, Wq[:, j])``, stage 2 ``(Qp_i, Kp_j)``."""
    from exdisc.golden.eager_logdot import log_matmul
    x = ops["x"].astype(np.int64)
    if stage == 1:
        w = np.concatenate([ops["wq"][head], ops["wk"][head]], axis=1).astype(np.int64)
        return [(x[rng.randrange(len(x))], w[:, rng.randrange(w.shape[1])]) for _ in range(count)]
    qp = log_matmul(x, ops["wq"][head], 2) + ops["bq"][head]
    kp = log_matmul(x, ops["wk"][head], 2) + ops["bk"][head]
    return [(qp[rng.randrange(len(qp))], kp[rng.randrange(len(kp))]) for _ in range(count)]
