"""Amaranth-simulator testbenches of the non-linear unit: a program through
random gaps and backpressure, and its sustained rate on back-to-back rows."""

import random

from exdisc.hw.nonlinear import NonLinearUnit
from exdisc.sim.harness.pysim import run_stream_unit, run_testbenches
from exdisc.sim.stimulus import nonlinear as stim


__all__ = ["run_program", "sustained_rate", "first_output_latency"]

#: Cycles a row may take beyond its beats (the unit's pipelines), for the cycle budget.
LATENCY = 200


def run_program(p, program, seed, *, valid_prob=0.6, ready_prob=0.6):
    """Run ``program`` (rows of :mod:`exdisc.sim.stimulus.nonlinear`) through
    a :class:`NonLinearUnit` in the Amaranth simulator, the command and beat
    streams each with random gaps and the output with random backpressure.
    Returns ``(got, expected)`` output beats."""
    expect = stim.expected(program)
    got, _ = run_stream_unit(NonLinearUnit(p), {"cmd": stim.commands(program),
                                                "i": stim.beats(p, program)},
                             len(expect), random.Random(seed), layout=p.out_layout,
                             latency=LATENCY, valid_prob=valid_prob, ready_prob=ready_prob)
    return got, expect


def sustained_rate(p, program):
    """Beats per cycle with the commands and beats of ``program`` always
    offered and the output always ready: input beats over the cycles from the
    first beat taken to the last. Returns ``(rate, outputs_ok)``, the second
    true when the output equals the golden model's."""
    dut = NonLinearUnit(p)
    beats, cmds, expect = stim.beats(p, program), stim.commands(program), stim.expected(program)
    taken, got = [], []

    async def commands(ctx):
        for c in cmds:
            ctx.set(dut.cmd.valid, 1)
            ctx.set(dut.cmd.payload, c)
            await ctx.tick().until(dut.cmd.ready)
        ctx.set(dut.cmd.valid, 0)

    async def data(ctx):
        cycle = 0
        for b in beats:
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, b)
            while True:
                _, _, ready = await ctx.tick().sample(dut.i.ready)
                cycle += 1
                if ready:
                    taken.append(cycle)
                    break
        ctx.set(dut.i.valid, 0)

    async def out(ctx):
        from exdisc.sim.harness.payload import unpack
        ctx.set(dut.o.ready, 1)
        payload = dut.o.payload.as_value()
        while len(got) < len(expect):
            _, _, valid, value = await ctx.tick().sample(dut.o.valid, payload)
            if valid:
                got.append(unpack(p.out_layout, value))

    run_testbenches(dut, commands, data, out, max_cycles=len(beats) + 20 * len(cmds) + LATENCY)
    rate = len(beats) / (taken[-1] - taken[0] + 1)
    return rate, got == expect


def first_output_latency(p, program):
    """Cycles from the first beat of ``program`` taken to its first output
    beat, with the inputs always offered and the output always ready."""
    dut = NonLinearUnit(p)
    beats, cmds = stim.beats(p, program), stim.commands(program)
    seen = {}

    async def drive(ctx):
        ctx.set(dut.cmd.valid, 1)
        ctx.set(dut.cmd.payload, cmds[0])
        ctx.set(dut.o.ready, 1)
        cycle, sent = 0, 0
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload, beats[0])
        while "out" not in seen:
            _, _, cmd_ready, i_ready, o_valid = await ctx.tick().sample(
                dut.cmd.ready, dut.i.ready, dut.o.valid)
            if cmd_ready:
                ctx.set(dut.cmd.valid, 0)
            if i_ready and sent < len(beats):
                seen.setdefault("in", cycle)
                sent += 1
                ctx.set(dut.i.valid, sent < len(beats))
                if sent < len(beats):
                    ctx.set(dut.i.payload, beats[sent])
            if o_valid:
                seen["out"] = cycle
            cycle += 1

    if len(cmds) != 1 or len(beats) != len(program[0].out) or len(beats) < 1:
        raise ValueError("parameter 'program' must be one row that writes its beats")
    run_testbenches(dut, drive, max_cycles=LATENCY + len(beats))
    return seen["out"] - seen["in"]
