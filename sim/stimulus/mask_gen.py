"""Rows for :class:`exdisc.hw.mask_gen.MaskGenerator`: random and extreme rows, and the
real FC1 accumulators and thresholds of the DiT's dense FFN-Reuse step."""

import numpy as np

from exdisc.golden.mask_gen import fc1_mask, threshold_for_width


__all__ = ["mask_rows", "trace_mask_rows"]


def _jobs(p, acc, thr):
    thr = threshold_for_width(thr, p.acc_width)
    want = fc1_mask(acc, thr)
    jobs = []
    for n, (a, t, w) in enumerate(zip(acc, thr, want)):
        last = int(n == len(acc) - 1)
        jobs.append(([{"acc": [int(v) for v in a], "threshold": [int(v) for v in t],
                       "last": last}],
                     [{"mask": int(sum(1 << c for c in np.flatnonzero(w))), "last": last}]))
    return jobs


def mask_rows(p, rng, count):
    """Random rows; thresholds around the accumulators (equal ones included) and
    at the ends of both ranges."""
    lo, hi = -(1 << (p.acc_width - 1)), (1 << (p.acc_width - 1)) - 1
    nrng = np.random.default_rng(rng.getrandbits(32))
    acc = nrng.integers(lo, hi + 1, (count, p.cols), dtype=np.int64)
    thr = acc + nrng.integers(-2, 3, (count, p.cols))
    ends = nrng.random((count, p.cols)) < 0.1
    thr[ends] = nrng.choice([lo - 1, lo, hi, hi + 1, -(1 << p.acc_width), (1 << p.acc_width) - 1,
                             -(1 << 62)], ends.sum())
    acc[nrng.random((count, p.cols)) < 0.05] = lo
    return _jobs(p, acc, thr)


def trace_mask_rows(p, rows=64):
    """FC1 accumulators of the dense step (``x_dense @ w1``, exact int) with their
    thresholds, cut into ``C``-column rows of the first ``rows`` tokens."""
    from exdisc.golden.trace import ffn_operands
    ops = ffn_operands()
    acc = ops["x_dense"].astype(np.int64) @ ops["w1"].astype(np.int64)
    n = acc.shape[1] // p.cols * p.cols
    acc = acc[:rows, :n].reshape(-1, p.cols)
    thr = np.tile(ops["threshold"][:n], rows).reshape(-1, p.cols)
    return _jobs(p, acc, thr), ops["mask_int"][:rows, :n].reshape(-1, p.cols)
