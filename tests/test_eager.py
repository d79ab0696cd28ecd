"""Eager predictor units in the Amaranth simulator, against the golden model."""

import random

import numpy as np
import pytest

from golden.eager import log_encode
from golden.lod import keep_leading_ones
from hw.dot import DotParams, DotProduct
from hw.eager import LogDotParams, LogDotProduct
from hw.row_select import RowSelectParams, RowSelector
from sim.eager_vectors import logdot_jobs, select_rows
from sim.payload import unpack
from sim.pysim import run_testbenches, stream_get, stream_put


def _run(dut, layout_out, beats, count, rng):
    got = []

    async def put(ctx):
        await stream_put(ctx, dut.i, beats, rng, valid_prob=0.7)

    async def get(ctx):
        got.extend(await stream_get(ctx, dut.o, count, rng, ready_prob=0.6))

    run_testbenches(dut, put, get)
    return [unpack(layout_out, v) for v in got]


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("lanes,width,levels,encoded,split,rounding", [
    (1, 8, 1, False, True, "truncate"), (5, 8, 2, False, True, "truncate"),
    (8, 12, 1, False, True, "truncate"), (6, 8, 2, True, True, "truncate"),
    (1, 8, 1, True, False, "truncate"), (7, 8, 2, True, False, "truncate"),
    (4, 10, 1, False, False, "truncate"),
    (5, 8, 2, False, True, "half_up"), (4, 10, 1, False, False, "half_up"),
    (3, 24, 2, False, False, "half_up"),
    (5, 8, 2, False, True, "signed"), (6, 8, 2, True, True, "signed"),
    (7, 8, 2, True, False, "signed"), (3, 24, 2, False, False, "signed")])
def test_logdot_random(k, lanes, width, levels, encoded, split, rounding, seed):
    p = LogDotParams(lanes=lanes, width=width, k=k, max_beats=3, tree_levels=levels,
                     encoded=encoded, split=split, rounding=rounding)
    rng = random.Random(seed)
    jobs = logdot_jobs(p, rng, 60)
    beats = [b for job, _ in jobs for b in job]
    got = _run(LogDotProduct(p), p.out_layout, beats, len(jobs), rng)
    assert got == [w for _, want in jobs for w in want]


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("rounding,encoded", [("half_up", False), ("signed", False),
                                              ("signed", True)])
def test_logdot_rounding_every_pair(k, rounding, encoded, seed):
    """Every pair of 6-bit operands through one lane against
    golden.lod.keep_leading_ones: the carry cases of half-up rounding (a
    lowest one that moves up, or merges into the highest) and every residual
    of the signed reduction (added, subtracted, absent) are all among them."""
    p = LogDotParams(lanes=1, width=6, k=k, max_beats=1, split=False, rounding=rounding,
                     encoded=encoded)
    values = range(-32, 32)
    form = {v: log_encode([v], 6, k, rounding)[0] if encoded else v for v in values}
    beats = [{"a": [form[a]], "b": [form[b]], "last": 1} for a in values for b in values]
    rng = random.Random(seed)
    got = _run(LogDotProduct(p), p.out_layout, beats, len(beats), rng)
    kept = {v: int(keep_leading_ones(np.array([v]), k, rounding)[0]) for v in values}
    assert [g["diff"] for g in got] == [kept[a] * kept[b] for a in values for b in values]


def _valid_cycles(dut, beats, cycles):
    """The cycles (1 = the one after the last beat's handshake) in which ``o`` is
    valid, for ``beats`` back to back with ``o`` always ready."""
    seen = []

    async def tb(ctx):
        ctx.set(dut.o.ready, 1)
        for beat in beats:
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, beat)
            await ctx.tick()
        ctx.set(dut.i.valid, 0)
        for cycle in range(1, cycles):
            if ctx.get(dut.o.valid):
                seen.append(cycle)
            await ctx.tick()

    run_testbenches(dut, tb)
    return seen


def test_logdot_latency():
    p = LogDotParams(lanes=8, width=8, max_beats=1)
    seen = _valid_cycles(LogDotProduct(p), [{"a": [3] * 8, "b": [-5] * 8, "last": 1}], 10)
    assert seen[0] == p.latency and len(seen) == 1


@pytest.mark.parametrize("mode", ["max_relative", "top_k"])
def test_row_selector_latency(mode):
    p = RowSelectParams(score_width=10, row=4, mode=mode, top_k=2)
    theta = {"theta": 4} if mode == "max_relative" else {}
    beats = [{"score": v, "last": int(n == 3), **theta} for n, v in enumerate([5, -3, 7, 1])]
    seen = _valid_cycles(RowSelector(p), beats, 12)
    assert seen[0] == p.latency and len(seen) == 4


@pytest.mark.parametrize("mode,top_k", [("max_relative", 1), ("top_k", 1), ("top_k", 4),
                                        ("top_k", 8)])
def test_row_selector_random(mode, top_k, seed):
    p = RowSelectParams(score_width=10, row=8, mode=mode, top_k=top_k)
    rng = random.Random(seed)
    rows = select_rows(p, rng, 80)
    beats = [b for row, _ in rows for b in row]
    want = [k for _, keep in rows for k in keep]
    got = _run(RowSelector(p), p.out_layout, beats, len(want), rng)
    assert got == want


def test_parameters_are_validated():
    with pytest.raises(ValueError, match="lanes"):
        LogDotParams(lanes=0)
    with pytest.raises(ValueError, match="'k'"):
        LogDotParams(k=3)
    with pytest.raises(ValueError, match="mode"):
        RowSelectParams(mode="median")
    with pytest.raises(TypeError, match="row"):
        RowSelectParams(row=2.5)


@pytest.mark.parametrize("lanes", [1, 6, 16])
def test_mac_dot_product_reference(lanes, seed):
    p = DotParams(lanes=lanes, width=8, max_beats=3)
    lp = LogDotParams(lanes=lanes, width=8, max_beats=3)
    rng = random.Random(seed)
    jobs = logdot_jobs(lp, rng, 40)
    beats = [b for job, _ in jobs for b in job]
    want = []
    for job, _ in jobs:
        want.append({"acc": sum(x * y for b in job for x, y in zip(b["a"], b["b"]))})
    assert _run(DotProduct(p), p.out_layout, beats, len(jobs), rng) == want


@pytest.mark.parametrize("rounding", ["truncate", "half_up", "signed"])
def test_logdot_lane_emitted_once(rounding):
    """Each operand's magnitude appears once in the Verilog of a lane: the LOD
    tree reads it through signals. Built from bare expressions, a 24-bit lane
    repeated the negation in every use of every tree node (hundreds of copies;
    the DiT-shaped predictor was 6.6 MB of Verilog and took 11 minutes in
    Verilator). The signed reduction negates each magnitude once more (its
    residual)."""
    from amaranth.back import verilog
    text = verilog.convert(LogDotProduct(LogDotParams(lanes=1, width=24, k=2, max_beats=1,
                                                      split=False, rounding=rounding)))
    negations = text.count("= - ")
    want = 4 if rounding == "signed" else 2
    assert negations == want, f"{negations} negations in a one-lane unit (want {want})"
