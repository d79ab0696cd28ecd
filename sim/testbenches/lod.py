"""cocotb sign-off testbench of :class:`exdisc.hw.lod.LeadingOneDetector`.

Random magnitudes (uniform, sparse, dense, powers of two, 0 and all ones)
go in with random valid gaps; results come out under random backpressure and
are compared word by word with :func:`exdisc.golden.lod.leading_ones`.
"""

import os

import cocotb

from exdisc.golden.lod import leading_ones
from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import (StreamDriver, StreamMonitor, cycle_budget, reset,
                                       start_clock, test_rng, within)


def _stimulus(rng, width, count):
    full = (1 << width) - 1
    xs = [0, full, 1, 1 << (width - 1)]
    while len(xs) < count:
        kind = rng.randrange(4)
        if kind == 0:
            xs.append(rng.getrandbits(width))
        elif kind == 1:       # one to three set bits: the cases LOD errors hide in
            x = 0
            for _ in range(rng.randint(1, 3)):
                x |= 1 << rng.randrange(width)
            xs.append(x)
        elif kind == 2:       # a top bit and noise below it
            top = rng.randrange(width)
            xs.append((1 << top) | (rng.getrandbits(top) if top else 0))
        else:
            xs.append(full ^ (1 << rng.randrange(width)))
    return xs


def _expected(x, p):
    pos, found = leading_ones(x, p.width, p.k)
    return {"pos": list(pos), "found": sum(int(f) << j for j, f in enumerate(found))}


@cocotb.test()
async def lod_random_backpressure(dut):
    unit, p = design_params()
    rng, seed = test_rng(dut._log, "lod")
    count = int(os.environ.get("EXDISC_COUNT", "3000"))
    xs = _stimulus(rng, p.width, count)

    await start_clock(dut)
    driver = StreamDriver(dut, "i", p.width, rng, valid_prob=0.7)
    monitor = StreamMonitor(dut, "o", p.result_layout, rng, ready_prob=0.6)
    await reset(dut)

    async def transfer():
        send = cocotb.start_soon(driver.send(xs))
        received = await monitor.receive(len(xs))
        await send
        return received

    budget = cycle_budget(len(xs), len(xs), valid_prob=0.7, ready_prob=0.6, latency=p.latency)
    got = await within(budget, transfer(), f"{len(xs)} words")
    await monitor.expect_quiet(8)

    for n, (x, y) in enumerate(zip(xs, got)):
        want = _expected(x, p)
        assert y == want, (f"word {n}: input {x:#x}: RTL {y} != golden {want} "
                           f"(seed {seed})")
    dut._log.info("%d words match the golden model", len(xs))
