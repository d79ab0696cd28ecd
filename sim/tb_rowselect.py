"""cocotb sign-off of :class:`hw.row_select.RowSelector`.

Random rows (uniform, tie-heavy, extremes; lengths 1, 2, T and random) and
real rows of predicted scores from the DiT trace, with random valid gaps and
backpressure; every keep bit is compared with the golden selection.
"""

import os

import cocotb

from sim.eager_vectors import select_rows, trace_operands, trace_score_rows
from sim.runner import design_params
from sim.streams import StreamDriver, StreamMonitor, reset, start_clock, test_rng


async def _check(dut, p, rows, rng, seed, what):
    await start_clock(dut)
    driver = StreamDriver(dut, "i", p.in_layout, rng, valid_prob=0.8)
    monitor = StreamMonitor(dut, "o", p.out_layout, rng, ready_prob=0.7)
    await reset(dut)
    want = [k for _, keep in rows for k in keep]
    send = cocotb.start_soon(driver.send([b for beats, _ in rows for b in beats]))
    got = await monitor.receive(len(want))
    await send
    await monitor.expect_quiet(8)
    for n, (w, y) in enumerate(zip(want, got)):
        assert y == w, f"{what}: keep bit {n}: RTL {y} != golden {w} (seed {seed})"
    dut._log.info("%d %s keep bits match the golden model", len(want), what)


@cocotb.test()
async def rowselect_random_backpressure(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "rowselect")
    rows = select_rows(p, rng, int(os.environ.get("EXDISC_COUNT", "60")))
    await _check(dut, p, rows, rng, seed, "random")


@cocotb.test()
async def rowselect_dit_trace(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "rowselect-trace")
    ops = trace_operands()
    if p.row < ops["x"].shape[0] or p.score_width < 48:
        dut._log.info("parameters do not fit the trace rows; random tests only")
        return
    rows = select_rows(p, rng, 24, trace_score_rows(ops, rng, 24))
    await _check(dut, p, rows, rng, seed, "DiT")
