"""cocotb sign-off of :class:`exdisc.hw.eager_rowselect.RowSelector`.

Random rows (uniform, tie-heavy, extremes; lengths 1, 2, T and random) and
real rows of predicted scores from the DiT trace, with random valid gaps and
backpressure; every keep bit is compared with the golden selection.
"""

import os

import cocotb
import pytest

from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import check_stream_unit, test_rng
from exdisc.sim.stimulus.eager_logdot import trace_operands
from exdisc.sim.stimulus.eager_rowselect import select_rows, trace_score_rows


@cocotb.test()
async def rowselect_random_backpressure(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "rowselect")
    rows = select_rows(p, rng, int(os.environ.get("EXDISC_COUNT", "60")))
    await check_stream_unit(dut, p, rows, rng, seed, "random")


@cocotb.test()
async def rowselect_dit_trace(dut):
    _, p = design_params()
    ops = trace_operands()
    tokens = ops["x"].shape[0]
    if p.row < tokens or p.score_width < 48:
        pytest.skip(f"the DiT's rows are {tokens} scores of up to 48 bits; this selector takes "
                    f"rows of {p.row} and {p.score_width}-bit scores")
    rng, seed = test_rng(dut._log, "rowselect-trace")
    rows = select_rows(p, rng, 24, trace_score_rows(ops, rng, 24))
    await check_stream_unit(dut, p, rows, rng, seed, "DiT")
