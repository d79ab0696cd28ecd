"""cocotb sign-off of DiscCore (:class:`exdisc.hw.core.core.Core` on
:class:`~exdisc.hw.core.params.DiscParams`) on its emitted Verilog: random
gathers and scatters by index lists (of external memory and of the K/V
store) among loads and stores, a bad list,
and CTR's and ST's steps on a block of the project's DiT from the recorded
run, with random gaps and backpressure on all four outside streams; every
byte of external memory afterwards against the golden core model."""

import dataclasses

import cocotb
import numpy as np

from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import start_clock, test_rng
from exdisc.sim.stimulus.core import indexed_program
from exdisc.sim.testbenches.core import (check_program, trace_ctr_steps, trace_st_steps,
                                         window)

__all__ = []


@cocotb.test()
async def disc_random(dut):
    """Gathers and scatters of every buffer by random lists (a gather's
    repeating and out of order, a scatter's rising), into and out of tables
    that overlap random loads and stores, and of ``ACT`` and ``WGT`` rows
    into and out of the K/V store through the router, in a corner of the
    buffers, which are then stored whole; then a program whose last K/V
    scatter repeats an index, which stops the core with nothing of it
    written."""
    _, p = design_params()
    rng, seed = test_rng(dut._log, "disc-random")
    await start_clock(dut)
    nprng = np.random.default_rng(seed)
    view = dataclasses.replace(window(p), acc_rows=min(p.acc_rows, 24))
    for n, fault in enumerate((None, "duplicate")):
        program, dram = indexed_program(nprng, p, 12, fault=fault, window=view, kv=True)
        await check_program(dut, p, program, dram, rng, seed,
                            f"indexed program {n}" + (f" ({fault})" if fault else ""))


@cocotb.test()
async def disc_ctr_steps(dut):
    """CTR on a block of the recorded run (16 tokens): the full step, which
    fills the token cache, then the next sampling step's reuse step on it,
    its fresh tokens as the float CTR chose them."""
    _, p = design_params()
    rng, seed = test_rng(dut._log, "disc-ctr")
    await start_clock(dut)
    full, reuse = trace_ctr_steps(p)
    for comp, what in ((full, "full step"), (reuse, "reuse step")):
        await check_program(dut, p, comp.program, comp.dram[0], rng, seed,
                            f"CTR {what} (16 tokens)")


@cocotb.test()
async def disc_st_steps(dut):
    """ST on a block of the recorded run (16 tokens): the generate step,
    which stores each head's keep masks, then the next sampling step's reuse
    step under them, scores masked by the output-sparse GEMM: with kept keys
    and values gathered per head and row tile, and with every head whole."""
    _, p = design_params()
    rng, seed = test_rng(dut._log, "disc-st")
    await start_clock(dut)
    gen, reuse, keep = trace_st_steps(p, gather_below=float("inf"))
    _, whole, _ = trace_st_steps(p, gather_below=0)
    dut._log.info("ST's masks keep %.3f of the scores", keep.mean())
    for comp, what in ((gen, "generate step"), (reuse, "reuse step, every row tile gathered"),
                       (whole, "reuse step, every head whole")):
        await check_program(dut, p, comp.program, comp.dram[0], rng, seed,
                            f"ST {what} (16 tokens)")
