"""cocotb sign-off of ExionCore (:class:`exdisc.hw.core.core.Core` on
:class:`~exdisc.hw.core.params.ExionParams`) on its emitted Verilog: random
programs of its sparse GEMMs and mask generation, and FFN-Reuse's dense and
sparse steps on a block of the project's DiT from the recorded run (with
attention under eager prediction's masks: EXION's steps), with
random gaps and backpressure on all four outside streams; every byte of
external memory afterwards against the golden core model."""

import dataclasses

import cocotb
import numpy as np

from exdisc.golden.core_isa import Op
from exdisc.golden.eager import EagerPrediction
from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import start_clock, test_rng
from exdisc.sim.stimulus.core import random_dram, transfer_gemm_program
from exdisc.sim.testbenches.core import check_program, trace_reuse_steps, window

__all__ = []


@cocotb.test()
async def exion_random(dut):
    """Random sparse GEMMs, MASKGENs, loads and stores in a corner of the
    buffers filled with random bytes, then stored whole."""
    _, p = design_params()
    rng, seed = test_rng(dut._log, "exion-random")
    await start_clock(dut)
    nprng = np.random.default_rng(seed)
    view = window(p)
    for n in range(3):
        program = transfer_gemm_program(
            nprng, p, 16, window=view, fill=True,
            ops=(Op.LOAD, Op.GEMM_OS, Op.GEMM_IS, Op.GEMM, Op.MASKGEN, Op.STORE))
        await check_program(dut, p, program, random_dram(nprng, dataclasses.replace(
            view, dram_bytes=p.dram_bytes)), rng, seed, f"random program {n}")


@cocotb.test()
async def exion_ffn_reuse(dut):
    """FFN-Reuse on a block of the recorded run (16 tokens, GELU's sign as
    the threshold): the dense step, which stores its mask and partial, then
    the sparse step of the next sampling step on them."""
    _, p = design_params()
    rng, seed = test_rng(dut._log, "exion-ffn-reuse")
    await start_clock(dut)
    dense, sparse = trace_reuse_steps(p)
    for comp, what in ((dense, "dense step"), (sparse, "sparse step")):
        await check_program(dut, p, comp.program, comp.dram[0], rng, seed,
                            f"FFN-Reuse {what} (16 tokens)")


@cocotb.test()
async def exion_eager(dut):
    """EXION's two steps on a block of the recorded run (16 tokens): FFN-Reuse's
    dense and sparse steps, each attending under eager prediction's masks
    (scores output-sparse, ``P V`` input-sparse)."""
    _, p = design_params()
    rng, seed = test_rng(dut._log, "exion-eager")
    await start_clock(dut)
    # the predictor's threshold for 16 tokens: its default (4 logits) keeps
    # almost every key of so few, 1 keeps about 0.4 of them
    dense, sparse = trace_reuse_steps(p, eager=EagerPrediction(theta=1.0))
    for comp, what in ((dense, "dense step"), (sparse, "sparse step")):
        await check_program(dut, p, comp.program, comp.dram[0], rng, seed,
                            f"EXION {what}, eager attention (16 tokens)")
