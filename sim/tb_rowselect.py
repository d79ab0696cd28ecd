"""cocotb sign-off of :class:`hw.row_select.RowSelector`.

Random rows (uniform, tie-heavy, extremes; lengths 1, 2, T and random) and
real rows of predicted scores from the DiT trace, with random valid gaps and
backpressure; every keep bit is compared with the golden selection.
"""

import os

import cocotb

from sim.eager_vectors import select_rows, trace_operands, trace_score_rows
from sim.runner import design_params
from sim.streams import check_stream_unit, test_rng


@cocotb.test()
async def rowselect_random_backpressure(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "rowselect")
    rows = select_rows(p, rng, int(os.environ.get("EXDISC_COUNT", "60")))
    await check_stream_unit(dut, p, rows, rng, seed, "random")


@cocotb.test()
async def rowselect_dit_trace(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "rowselect-trace")
    ops = trace_operands()
    if p.row < ops["x"].shape[0] or p.score_width < 48:
        dut._log.info("parameters do not fit the trace rows; random tests only")
        return
    rows = select_rows(p, rng, 24, trace_score_rows(ops, rng, 24))
    await check_stream_unit(dut, p, rows, rng, seed, "DiT")
