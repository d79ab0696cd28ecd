"""ConMerge in the Amaranth simulator: the RTL schedule equals the golden
first-fit schedule entry for entry, on random, degenerate and real masks."""

import random
import time

import numpy as np
import pytest

from amaranth.hdl import Const

from exdisc.hw.conmerge import ConMerge, ConMergeParams
from exdisc.sim.stimulus.conmerge import conmerge_jobs, random_tiles, rtl_pass, trace_tiles
from exdisc.sim.harness.payload import unpack
from exdisc.sim.harness.pysim import run_stream_unit, run_testbenches


def _check(p, jobs, rng, seed, valid_prob=0.8, ready_prob=0.6):
    beats = [b for bs, _ in jobs for b in bs]
    want = [w for _, ws in jobs for w in ws]
    got, _ = run_stream_unit(ConMerge(p), {"i": beats}, len(want), rng, valid_prob=valid_prob,
                             ready_prob=ready_prob, layout=p.out_layout)
    got = [rtl_pass(v, p) for v in got]
    for n, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"pass {n}: RTL {g} != golden {w} (seed {seed})"


@pytest.mark.parametrize("rows, cols, lanes", [(4, 4, 2), (8, 8, 4), (3, 5, 3), (8, 4, 1),
                                               (1, 3, 2), (5, 1, 4)])
def test_conmerge_random(rows, cols, lanes, seed):
    p = ConMergeParams(rows=rows, cols=cols, lanes=lanes, index_bits=6)
    rng = random.Random(seed)
    _check(p, conmerge_jobs(p, random_tiles(p, rng, 30)), rng, seed)


def test_conmerge_real_fc1_mask(seed):
    from exdisc.golden.trace import ffn_operands
    p = ConMergeParams(rows=16, cols=16, lanes=4, index_bits=8)
    rng = random.Random(seed)
    tiles = trace_tiles(p, ffn_operands()["mask_int"])
    _check(p, conmerge_jobs(p, tiles[:6]), rng, seed)


def test_conmerge_one_column_per_cycle():
    # Full rate in, always ready out: every column is taken in the cycle it
    # is offered, also after a last column that opened a new pass, and the
    # passes are the golden ones.
    p = ConMergeParams(rows=8, cols=4, lanes=2, index_bits=6)
    rng = random.Random(1)
    ones = lambda n: np.ones((p.rows, n), bool)  # noqa: E731
    # all-one tiles of C + 1 columns: the last column opens a new pass; then
    # tiles of one column (full and empty) that close a pass at once
    tiles = random_tiles(p, rng, 10)[6:] + [ones(5), ones(1), ones(5), ~ones(1), ones(5), ones(2)]
    jobs = conmerge_jobs(p, tiles)
    dut = ConMerge(p)
    beats = [b for bs, _ in jobs for b in bs]
    want = [w for _, ws in jobs for w in ws]
    accepted, got = [], []

    async def tb(ctx):
        ctx.set(dut.o.ready, 1)
        for n, beat in enumerate(beats):
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, beat)
            cycles = 0
            while True:
                _, _, ready = await ctx.tick().sample(dut.i.ready)
                cycles += 1
                if ready:
                    break
            accepted.append(cycles)
        ctx.set(dut.i.valid, 0)

    async def monitor(ctx):
        for _ in range(4 * len(beats)):
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload.as_value())
            if valid:
                got.append(rtl_pass(unpack(p.out_layout, payload), p))

    # every beat is taken at once and the monitor watches 4 cycles a beat
    run_testbenches(dut, tb, monitor, max_cycles=8 * len(beats) + 100)
    # tiles whose last column opened a new pass: the case that used to stall
    opened = [ws for bs, ws in jobs
              if len(ws) >= 2 and [c for c, _ in ws[-1][0]] == [(bs[-1]["index"],)]]
    assert len(opened) >= 3
    assert accepted == [1] * len(beats)
    assert got == want


@pytest.mark.parametrize("field, value", [("rows", 0), ("cols", 65), ("lanes", 17),
                                          ("index_bits", 0)])
def test_conmerge_params_rejected(field, value):
    with pytest.raises(ValueError, match=repr(field)):
        ConMergeParams(**{field: value})


class _LastFit(ConMerge):
    """A broken ConMerge: the last slot that fits, not the first."""

    @staticmethod
    def _first_fit(fits):
        later = Const(0, 1)
        bits = [None] * len(fits)
        for s in reversed(range(len(fits))):
            bits[s] = fits[s] & ~later
            later = later | fits[s]
        return bits


@pytest.mark.parametrize("broken", ["lanes_plus_one", "last_fit"])
def test_broken_variants_fail_in_seconds(broken, seed):
    """A broken ConMerge produces other passes (or fewer): the check fails at
    the first wrong pass or at its cycle limit, in seconds, never hangs."""
    p = ConMergeParams(rows=8, cols=8, lanes=2, index_bits=6)
    rng = random.Random(seed)
    jobs = conmerge_jobs(p, random_tiles(p, rng, 20))
    beats = [b for bs, _ in jobs for b in bs]
    want = [w for _, ws in jobs for w in ws]
    dut = (ConMerge(ConMergeParams(rows=8, cols=8, lanes=3, index_bits=6))
           if broken == "lanes_plus_one" else _LastFit(p))
    start = time.monotonic()
    with pytest.raises(AssertionError):      # a wrong pass, or SimulationTimeout
        got, _ = run_stream_unit(dut, {"i": beats}, len(want), rng, valid_prob=0.8,
                                 ready_prob=0.6, layout=p.out_layout)
        assert [rtl_pass(v, p) for v in got] == want
    assert time.monotonic() - start < 60
