"""Stimulus and golden expectations of the row selector
(:class:`exdisc.hw.eager_rowselect.RowSelector`): random and real rows of
predicted scores, and the keep bits :mod:`exdisc.golden.eager_rowselect`
gives them. The Amaranth-simulator tests and the cocotb sign-off both use these.
"""

import numpy as np

from exdisc.golden.eager_rowselect import select_max_relative, select_top_k

__all__ = ["select_expected", "select_rows", "trace_score_rows"]


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


def trace_score_rows(ops, rng, count, head=0, theta=4.0):
    """Real rows of predicted scores ``Sp`` with the integer threshold of ``theta``."""
    from exdisc.golden.eager import predict_scores, theta_to_integer
    sp = predict_scores(ops["x"], ops["wq"][head], ops["wk"][head], 2, 2,
                        ops["bq"][head], ops["bk"][head])
    th = int(theta_to_integer(theta, ops["sq"][head], ops["sk"][head], ops["wq"][head].shape[1]))
    return [(sp[rng.randrange(len(sp))], th) for _ in range(count)]
