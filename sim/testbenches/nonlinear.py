"""cocotb sign-off of :class:`exdisc.hw.nonlinear.NonLinearUnit`: random rows
of every operation, the edge cases, and real rows of the tiny DiT, each
compared word for word with :mod:`exdisc.golden.nonlinear`, with random gaps
on the command and beat streams and random backpressure on the output."""

import cocotb
import numpy as np
from cocotb.triggers import Combine

from exdisc.sim.harness.limits import cycle_budget
from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import (StreamDriver, StreamMonitor, reset, start_clock,
                                        test_rng, within)
from exdisc.sim.stimulus import nonlinear as stim

#: Cycles a row may spend in the unit's pipelines beyond its beats.
LATENCY = 200


async def _check(dut, p, program, rng, seed, what):
    await start_clock(dut)
    cmd = StreamDriver(dut, "cmd", p.cmd_layout, rng, valid_prob=0.7)
    data = StreamDriver(dut, "i", p.in_layout, rng, valid_prob=0.7)
    out = StreamMonitor(dut, "o", p.out_layout, rng, ready_prob=0.6)
    await reset(dut)
    beats, want = stim.beats(p, program), stim.expected(program)
    budget = cycle_budget(len(beats), len(want), valid_prob=0.7, ready_prob=0.6,
                          latency=LATENCY)

    async def transfer():
        sends = [cocotb.start_soon(cmd.send(stim.commands(program))),
                 cocotb.start_soon(data.send(beats))]
        got = await out.receive(len(want))
        await Combine(*sends)
        return got

    got = await within(budget, transfer(), f"{what}: {len(program)} rows, {len(beats)} beats")
    await out.expect_quiet(LATENCY)
    rows = [r for r in program for _ in r.out]
    for n, (w, y) in enumerate(zip(want, got)):
        assert y == w, (f"{what} output {n} ({rows[n].op.name} row of {len(rows[n].values)}): "
                        f"RTL {y} != golden {w} (seed {seed})")
    assert int(dut.error.value) == 0, f"{what}: error code {int(dut.error.value)}"
    dut._log.info("%d %s output beats match the golden model", len(want), what)


@cocotb.test()
async def nonlinear_random(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "nonlinear")
    await _check(dut, p, stim.random_program(p, np.random.default_rng(seed), 120), rng, seed,
                 "random rows")


@cocotb.test()
async def nonlinear_edges(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "nonlinear-edges")
    await _check(dut, p, stim.edge_program(p), rng, seed, "edge rows")


@cocotb.test()
async def nonlinear_dit(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "nonlinear-dit")
    await _check(dut, p, stim.dit_program(p, rows_per_op=4), rng, seed, "DiT rows")
