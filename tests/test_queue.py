"""StreamQueue: order, no loss under random stalls, latency and capacity."""

import random

import pytest

from exdisc.hw.queue import OUT_SLICE, POP_LUT_SLICES, QueueParams, StreamQueue
from exdisc.sim.harness.pysim import run_stream_unit, run_testbenches


# The widest has POP_LUT_SLICES output-buffer slices, which take ready
# through one LUT each.
@pytest.mark.parametrize("width, depth", [(12, 2), (12, 3), (12, 8),
                                          (POP_LUT_SLICES * OUT_SLICE - 5, 8)])
def test_order_under_random_stalls(width, depth, seed):
    p = QueueParams(width=width, depth=depth)
    rng = random.Random(seed)
    items = [rng.getrandbits(width) for _ in range(500)]
    got, _ = run_stream_unit(StreamQueue(p), {"w": items}, len(items), rng, valid_prob=0.8,
                             ready_prob=0.4, out="r", latency=p.latency)
    assert got == items


def test_latency_and_capacity():
    p = QueueParams(width=8, depth=4)
    dut = StreamQueue(p)
    seen = {}

    async def tb(ctx):
        ctx.set(dut.r.ready, 0)
        accepted = 0
        for cycle in range(p.capacity + 8):
            ctx.set(dut.w.valid, 1)
            ctx.set(dut.w.payload, cycle)
            _, _, ready, out_valid = await ctx.tick().sample(dut.w.ready, dut.r.valid)
            accepted += ready
            if out_valid and "first" not in seen:
                seen["first"] = cycle
        seen["accepted"] = accepted

    run_testbenches(dut, tb, max_cycles=p.capacity + 100)
    assert seen["accepted"] == p.capacity
    assert seen["first"] == p.latency        # written in cycle 0, offered in cycle 7


@pytest.mark.parametrize("depth", [2, 16])
def test_one_word_per_cycle(depth):
    """With the writer always valid and the reader always ready, words leave
    every cycle from the first to the last: the output buffer covers its
    read round trip (a buffer one entry short leaves a bubble per round)."""
    p = QueueParams(width=8, depth=depth)
    dut = StreamQueue(p)
    cycles = []

    async def tb(ctx):
        ctx.set(dut.r.ready, 1)
        ctx.set(dut.w.valid, 1)
        written = 0
        for cycle in range(200):
            ctx.set(dut.w.payload, written % 256)
            _, _, w_ready, r_valid = await ctx.tick().sample(dut.w.ready, dut.r.valid)
            written += w_ready
            if r_valid:
                cycles.append(cycle)

    run_testbenches(dut, tb, max_cycles=300)
    assert len(cycles) > 150
    assert cycles == list(range(cycles[0], cycles[0] + len(cycles)))


@pytest.mark.parametrize("kwargs", [{"depth": 1}, {"depth": 2000}, {"width": 0}])
def test_params_rejected(kwargs):
    with pytest.raises(ValueError):
        QueueParams(**kwargs)


@pytest.mark.parametrize("depth, blocks", [(40, 8), (512, 8), (513, 15), (1024, 15)])
def test_ecp5_blocks(depth, blocks):
    """A 257-bit queue (an 8 x 8 engine's rows) takes 36-bit block-RAM words
    while it fits 512 of them, 18-bit words when deeper."""
    from amaranth.back import rtlil
    from exdisc.hw.platform import ECP5
    p = QueueParams(width=257, depth=depth)
    assert p.ecp5_blocks == blocks
    text = rtlil.convert(StreamQueue(p), platform=ECP5)
    assert text.count("cell \\DP16KD ") == blocks
