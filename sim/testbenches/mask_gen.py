"""cocotb sign-off of :class:`exdisc.hw.mask_gen.MaskGenerator`: random and extreme
rows and the DiT's real FC1 accumulators, with gaps and backpressure."""

import cocotb

from exdisc.sim.stimulus.mask_gen import mask_rows, trace_mask_rows
from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import check_stream_unit, test_rng


@cocotb.test()
async def mask_gen_random(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "mask")
    await check_stream_unit(dut, p, mask_rows(p, rng, 300), rng, seed, "random")


@cocotb.test()
async def mask_gen_dit_fc1(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "mask-dit")
    jobs, _ = trace_mask_rows(p)
    await check_stream_unit(dut, p, jobs, rng, seed, "DiT FC1")
