"""cocotb testbench for tests/test_harness.py: a unit that takes its input and
never answers must fail the check at its cycle limit."""

from types import SimpleNamespace

import cocotb
from amaranth.hdl import unsigned

from exdisc.sim.harness.streams import check_stream_unit, test_rng


@cocotb.test()
async def stuck_unit_fails_at_its_limit(dut):
    rng, seed = test_rng(dut._log, "stuck")
    params = SimpleNamespace(in_layout=unsigned(8), out_layout=unsigned(8), latency=1)
    await check_stream_unit(dut, params, [([1, 2, 3], [1, 2, 3])], rng, seed, "stuck")
