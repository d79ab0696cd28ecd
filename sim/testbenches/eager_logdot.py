"""cocotb sign-off of :class:`exdisc.hw.eager_logdot.LogDotProduct`.

Random dot products (uniform, extremes, small magnitudes, powers of two) of
random length, and real operand pairs from the DiT trace (stage 1 for an
8-bit unit, stage 2 for a unit wide enough for ``Qp``/``Kp``), with random
valid gaps and backpressure; every result is compared with
:func:`exdisc.golden.eager_logdot.log_split`.
"""

import os

import cocotb
import pytest

from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import check_stream_unit, test_rng
from exdisc.sim.stimulus.eager_logdot import logdot_jobs, trace_operands, trace_stage_vectors


@cocotb.test()
async def logdot_random_backpressure(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "logdot")
    jobs = logdot_jobs(p, rng, int(os.environ.get("EXDISC_COUNT", "1500")))
    await check_stream_unit(dut, p, jobs, rng, seed, "random")


@cocotb.test()
async def logdot_dit_trace(dut):
    _, p = design_params()
    from exdisc.golden.dit import DiT
    cfg = DiT.load().cfg
    stage = 1 if p.width == 8 else 2
    length = cfg.hidden if stage == 1 else cfg.head_dim
    if length > p.lanes * p.max_beats:
        pytest.skip(f"the DiT's stage-{stage} dot products have {length} elements, more than "
                    f"lanes x max_beats = {p.lanes * p.max_beats}")
    if stage == 2 and p.width < 24:
        pytest.skip(f"stage 2 takes Qp and Kp of up to 24 bits; width is {p.width}")
    rng, seed = test_rng(dut._log, "logdot-trace")
    ops = trace_operands()
    vectors = trace_stage_vectors(ops, stage, rng, 400)
    await check_stream_unit(dut, p, logdot_jobs(p, rng, len(vectors), vectors), rng, seed,
                 f"DiT stage-{stage}")


@cocotb.test()
async def logdot_exhaustive_lane(dut):
    """Every pair of W-bit operands through one lane (single-lane units of W <= 8)."""
    _, p = design_params()
    if p.lanes != 1 or p.width > 8:
        pytest.skip(f"every operand pair goes through one lane of at most 8 bits; this unit "
                    f"has {p.lanes} lanes of {p.width} bits")
    rng, seed = test_rng(dut._log, "logdot-exhaustive")
    lo, hi = -(1 << (p.width - 1)), 1 << (p.width - 1)
    vectors = [([a], [b]) for a in range(lo, hi) for b in range(lo, hi)]
    await check_stream_unit(dut, p, logdot_jobs(p, rng, len(vectors), vectors), rng, seed,
                            "exhaustive")
