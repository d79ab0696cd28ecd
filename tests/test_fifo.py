"""StreamFIFO (the router's queues): order and no loss under random stalls, in
both storages, latency 1, and what `flow` changes when the queue is full."""

import random

import pytest

from exdisc.hw.fifo import FIFOParams, StreamFIFO
from exdisc.sim.harness.pysim import run_stream_unit, run_testbenches


@pytest.mark.parametrize("storage", ["shift", "ring", "memory"])
@pytest.mark.parametrize("depth", [1, 2, 3, 8])
@pytest.mark.parametrize("flow", [False, True])
def test_order_under_random_stalls(storage, depth, flow, seed):
    p = FIFOParams(width=9, depth=depth, storage=storage, flow=flow)
    rng = random.Random(seed)
    items = [rng.getrandbits(9) for _ in range(400)]
    for valid_prob, ready_prob in ((0.8, 0.4), (0.4, 0.9), (1.0, 1.0)):
        got, _ = run_stream_unit(StreamFIFO(p), {"w": items}, len(items), rng, out="r",
                                 valid_prob=valid_prob, ready_prob=ready_prob, latency=1)
        assert got == items, (valid_prob, ready_prob)


def _full_then_read_and_write(p):
    """Fill the queue, then offer a write while reading: (writes taken while
    full, cycles from a write to its word's valid)."""
    dut = StreamFIFO(p)
    seen = {}

    async def tb(ctx):
        ctx.set(dut.w.valid, 1)
        ctx.set(dut.r.ready, 0)
        for n in range(p.depth):
            ctx.set(dut.w.payload, n)
            await ctx.tick()
        ctx.set(dut.w.payload, 99)
        ctx.set(dut.r.ready, 1)
        seen["w_ready_when_full_and_read"] = ctx.get(dut.w.ready)
        await ctx.tick()
        ctx.set(dut.w.valid, 0)
        ctx.set(dut.r.ready, 0)

    run_testbenches(dut, tb, max_cycles=p.depth + 20)
    return seen["w_ready_when_full_and_read"]


@pytest.mark.parametrize("storage", ["shift", "ring", "memory"])
def test_flow_takes_a_write_when_full_and_read(storage):
    for flow in (False, True):
        p = FIFOParams(width=8, depth=2, storage=storage, flow=flow)
        assert _full_then_read_and_write(p) == int(flow)


@pytest.mark.parametrize("storage", ["shift", "ring", "memory"])
def test_latency_one(storage):
    p = FIFOParams(width=8, depth=4, storage=storage)
    dut = StreamFIFO(p)
    seen = []

    async def tb(ctx):
        ctx.set(dut.r.ready, 0)
        ctx.set(dut.w.valid, 1)
        ctx.set(dut.w.payload, 7)
        seen.append(ctx.get(dut.r.valid))
        await ctx.tick()
        ctx.set(dut.w.valid, 0)
        seen.append((ctx.get(dut.r.valid), ctx.get(dut.r.payload), ctx.get(dut.level)))

    run_testbenches(dut, tb, max_cycles=10)
    assert seen == [0, (1, 7, 1)]


@pytest.mark.parametrize("kwargs, error", [
    ({"depth": 0}, ValueError), ({"width": 0}, ValueError), ({"storage": "bram"}, ValueError),
    ({"flow": 1}, TypeError)])
def test_params_rejected(kwargs, error):
    with pytest.raises(error, match=repr(next(iter(kwargs)))):
        FIFOParams(**kwargs)


def test_shape_must_match_width():
    from amaranth.lib import data
    layout = data.StructLayout({"a": 3, "b": 4})
    fifo = StreamFIFO(FIFOParams(width=7), shape=layout)
    fifo._MustUse__silence = True
    assert fifo.r.payload.shape() == layout
    with pytest.raises(ValueError, match="'shape' must be 9 bits"):
        StreamFIFO(FIFOParams(width=9), shape=layout)
