"""cocotb sign-off of :class:`exdisc.hw.queue.StreamQueue` as elaborated (with the
ECP5 block RAMs when built for that target): random words in random order of
gaps and backpressure must leave in order, none lost or added; with the
writer always valid and the reader always ready, one word leaves per cycle."""

import json
import os

import cocotb
from amaranth.hdl import unsigned

from exdisc.sim.harness.streams import (StreamDriver, StreamMonitor, cycle_budget, reset,
                                       start_clock, test_rng, within)


def _params():
    from exdisc.hw.queue import QueueParams
    return QueueParams(**json.loads(os.environ["EXDISC_QUEUE"]))


async def _run(dut, words, rng, *, valid_prob, ready_prob):
    p = _params()
    driver = StreamDriver(dut, "w", unsigned(p.width), rng, valid_prob=valid_prob)
    monitor = StreamMonitor(dut, "r", unsigned(p.width), rng, ready_prob=ready_prob)
    async def transfer():
        send = cocotb.start_soon(driver.send(words))
        received = await monitor.receive(len(words))
        await send
        return received

    budget = cycle_budget(len(words), len(words), valid_prob=valid_prob, ready_prob=ready_prob,
                          latency=p.latency)
    got = await within(budget, transfer(), f"{len(words)} words")
    await monitor.expect_quiet(p.latency + 2)
    return got, monitor.cycles


@cocotb.test()
async def queue_order_under_stalls(dut):
    """Every word, in order, through gaps and through long backpressure that
    fills the queue to capacity."""
    p = _params()
    rng, seed = test_rng(dut._log, "queue")
    await start_clock(dut)
    await reset(dut)
    for valid_prob, ready_prob in ((0.7, 0.6), (0.95, 0.15), (0.3, 0.9)):
        words = [rng.getrandbits(p.width) for _ in range(4 * p.capacity + 50)]
        got, _ = await _run(dut, words, rng, valid_prob=valid_prob, ready_prob=ready_prob)
        for n, (w, y) in enumerate(zip(words, got)):
            assert y == w, (f"word {n} (valid_prob {valid_prob}, ready_prob {ready_prob}): "
                            f"RTL {y:#x} != written {w:#x} (seed {seed})")
    dut._log.info("queue width %d depth %d: order kept under stalls", p.width, p.depth)


@cocotb.test()
async def queue_one_word_per_cycle(dut):
    p = _params()
    rng, seed = test_rng(dut._log, "queue-rate")
    await start_clock(dut)
    await reset(dut)
    words = [rng.getrandbits(p.width) for _ in range(3 * p.capacity)]
    got, cycles = await _run(dut, words, rng, valid_prob=1.0, ready_prob=1.0)
    assert got == words, f"words out of order at full rate (seed {seed})"
    gaps = [b - a for a, b in zip(cycles, cycles[1:]) if b - a != 1]
    assert not gaps, f"output not one word per cycle: gaps {gaps[:8]} (seed {seed})"
