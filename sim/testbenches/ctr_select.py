"""cocotb sign-off of :class:`exdisc.hw.ctr_select.CtrSelector`.

Random steps (small, full-range, all-zero and extreme differences; counts
near half the tokens and at the edges; restarts) and the whole recorded CTR
run of the DiT, with random valid gaps and backpressure; every fresh bit is
compared with the golden decision, and the error flag must stay low.
"""

import os

import cocotb
import pytest

from exdisc.golden import trace
from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import check_stream_unit, test_rng
from exdisc.sim.stimulus.ctr_select import decision_steps, random_changes, trace_changes


async def _check(dut, p, steps, rng, seed, what):
    await check_stream_unit(dut, p, steps, rng, seed, what, max_idle=2 * p.decision_cycles,
                            work=len(steps) * p.decision_cycles)
    assert int(dut.error.value) == 0, f"{what}: the error flag rose on valid steps (seed {seed})"


@cocotb.test()
async def ctr_select_random_backpressure(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "ctr_select")
    count = int(os.environ.get("EXDISC_COUNT", "12"))
    await _check(dut, p, decision_steps(p, random_changes(p, rng, count)), rng, seed, "random")


@cocotb.test()
async def ctr_select_dit_run(dut):
    _, p = design_params()
    steps = trace.ctr_steps(steps=25)
    tokens, values = len(steps[0][3]), steps[0][1] ** 2
    if (p.tokens, p.values) != (tokens, values) or p.dz_width < 16:
        pytest.skip(f"the DiT's steps are {tokens} tokens of {values} values of 16 bits; this "
                    f"unit takes {p.tokens} of {p.values} of {p.dz_width}")
    rng, seed = test_rng(dut._log, "ctr_select-trace")
    await _check(dut, p, decision_steps(p, trace_changes(p, steps)), rng, seed, "DiT run")
