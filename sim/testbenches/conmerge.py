"""cocotb sign-off of :class:`exdisc.hw.conmerge.ConMerge`: random and degenerate
tiles and the real FFN-Reuse FC1 mask of the DiT, with random valid gaps and
backpressure; every pass compared with the golden first-fit schedule."""

import os

import cocotb
import pytest

from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import check_stream_unit, test_rng
from exdisc.sim.stimulus.conmerge import conmerge_jobs, random_tiles, rtl_pass, trace_tiles


async def _check(dut, p, jobs, rng, seed, what):
    await check_stream_unit(dut, p, jobs, rng, seed, what, valid_prob=0.8,
                            convert=lambda value: rtl_pass(value, p))


@cocotb.test()
async def conmerge_random(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "conmerge")
    tiles = random_tiles(p, rng, int(os.environ.get("EXDISC_COUNT", "60")))
    await _check(dut, p, conmerge_jobs(p, tiles), rng, seed, "random")


@cocotb.test()
async def conmerge_dit_fc1_mask(dut):
    _, p = design_params()
    from exdisc.golden.trace import ffn_operands
    mask = ffn_operands()["mask_int"]
    if mask.shape[1] > 1 << p.index_bits:
        pytest.skip(f"index_bits = {p.index_bits} cannot name the FC1 mask's "
                    f"{mask.shape[1]} columns")
    rng, seed = test_rng(dut._log, "conmerge-dit")
    await _check(dut, p, conmerge_jobs(p, trace_tiles(p, mask)), rng, seed, "DiT FC1")
