"""The composed eager predictor against golden.eager, in the Amaranth simulator."""

import random

import numpy as np
import pytest

from exdisc.golden.eager_logdot import log_encode, log_matmul
from exdisc.hw.eager_predictor import EagerParams, EagerPredictor
from exdisc.sim.stimulus.eager_predictor import predictor_job, random_head
from exdisc.sim.harness.payload import pack, unpack
from exdisc.sim.harness.pysim import cycle_budget, run_testbenches, stream_get, stream_put


def _buffer(ctx, memory, p):
    """The elements of a Qp or Kp buffer, ``[T, dh]``, as integers of
    ``p.element_bits``."""
    words = [ctx.get(memory.data[n]) for n in range(p.tokens * p.words)]
    vals = [(w >> (p.element_bits * lane)) & ((1 << p.element_bits) - 1)
            for w in words for lane in range(p.lanes)]
    return np.array(vals, dtype=np.int64).reshape(p.tokens, p.head_dim)


def _elements(p, values):
    """What the buffer must hold for ``values`` ``[T, dh]``: their log-domain form
    (golden.eager.log_encode) or, with ``half_up`` rounding, the integers."""
    s2 = p.stage2
    if not s2.encoded:
        return np.asarray(values, dtype=np.int64) & ((1 << p.qk_width) - 1)
    enc = log_encode(values, s2.width, s2.k, s2.rounding)
    return np.array([pack(s2.element_layout, e) for e in enc],
                    dtype=np.int64).reshape(np.shape(values))


def _run(p, jobs, seed, valid_prob=0.7, ready_prob=0.6, first_qk=None):
    """Heads back to back; returns the keep bits of all of them. With
    ``first_qk = (Qp, Kp)`` of the first head, the buffers must hold exactly
    those when its first keep bit is offered (the next head's beats, offered
    right behind, must not reach them)."""
    dut = EagerPredictor(p)
    rng = random.Random(seed)
    beats = [b for job in jobs for b in job[0]]
    count = sum(len(job[1]) for job in jobs)
    got, overwritten = [], []

    async def put(ctx):
        await stream_put(ctx, dut.i, beats, rng, valid_prob=valid_prob)

    async def get(ctx):
        if first_qk is not None:
            await ctx.tick().until(dut.o.valid)
            for name, want in zip("qk", first_qk):
                if not np.array_equal(_buffer(ctx, dut.buffers[name], p), _elements(p, want)):
                    overwritten.append(name)
        got.extend(await stream_get(ctx, dut.o, count, rng, ready_prob=ready_prob))

    def theta_bench(theta):
        async def bench(ctx):
            ctx.set(dut.theta, theta)
        return bench

    benches = [put, get]
    if p.mode == "max_relative":
        benches.append(theta_bench(jobs[0][2]))
    budget = cycle_budget(len(beats), count, valid_prob=valid_prob, ready_prob=ready_prob,
                          latency=len(jobs) * p.stage2_beats)
    run_testbenches(dut, *benches, max_cycles=budget)
    assert not overwritten, f"the next head overwrote the first head's {overwritten} buffers"
    return [unpack(p.out_layout, v) for v in got]


@pytest.mark.parametrize("cfg", [
    dict(tokens=5, dim=8, head_dim=4, lanes=4, mode="top_k", top_k=2),
    dict(tokens=4, dim=6, head_dim=3, lanes=3, k1=1, k2=1, mode="top_k", top_k=3,
         rounding="truncate"),
    dict(tokens=6, dim=4, head_dim=2, lanes=1, k1=2, k2=1, mode="max_relative"),
    dict(tokens=3, dim=8, head_dim=8, lanes=8, mode="max_relative"),
    dict(tokens=5, dim=8, head_dim=4, lanes=2, mode="top_k", top_k=2, rounding="half_up"),
    dict(tokens=3, dim=8, head_dim=8, lanes=8, mode="top_k", top_k=2, rounding="truncate"),
    # the shortest head: stage 2 reads Kp[T - 1] in its second cycle, so it must not
    # start before the buffer writes (behind the pipelined reduction) are done
    # (a stale Kp[1] flips row 0's top-1 in about a third of the heads: 24 of them)
    dict(tokens=2, dim=4, head_dim=2, lanes=2, mode="top_k", top_k=1, heads=24),
], ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_predictor_random(cfg, seed):
    cfg = dict(cfg)
    heads = cfg.pop("heads", 2)         # back to back
    p = EagerParams(**cfg)
    rng = np.random.default_rng(seed)
    jobs, qk = [], []
    for n in range(heads):
        x, wq, wk, bq, bk = random_head(p, rng, extreme=bool(n))
        theta = 1 << (p.score_width // 3)
        beats, want = predictor_job(p, x, wq, wk, bq, bk, theta)
        jobs.append((beats, want, theta))
        qk.append((log_matmul(x, wq, p.k1, p.rounding) + bq,
                   log_matmul(x, wk, p.k1, p.rounding) + bk))
    got = _run(p, jobs, seed, first_qk=qk[0])
    want = [w for job in jobs for w in job[1]]
    assert len(got) == len(want)
    for n, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"head {n // p.tokens ** 2} keep bit {n % p.tokens ** 2}: {g} != {w} (seed {seed})"


@pytest.mark.parametrize("kwargs, needle", [
    ({"dim": 10, "lanes": 4}, "'dim'"), ({"head_dim": 6, "lanes": 4}, "'head_dim'"),
    ({"tokens": 1}, "'tokens'"), ({"k1": 3}, "'k1'"), ({"qk_width": 8}, "'qk_width'"),
    ({"mode": "median"}, "'mode'"), ({"lanes": 0}, "'lanes'"),
    ({"rounding": True}, "'rounding'"), ({"rounding": "nearest"}, "'rounding'"),
])
def test_params_rejected(kwargs, needle):
    with pytest.raises((ValueError, TypeError)) as info:
        EagerParams(**kwargs)
    assert needle in str(info.value) and repr(next(iter(kwargs.values()))) in str(info.value)


def test_vectors_check_qk_range(seed):
    p = EagerParams(tokens=2, dim=4, head_dim=2, lanes=2, qk_width=20)
    x = np.full((2, 4), 127)
    w = np.full((4, 2), 127)
    with pytest.raises(ValueError, match="qk_width"):
        predictor_job(p, x, w, w, [1 << 19, 0], [0, 0])
