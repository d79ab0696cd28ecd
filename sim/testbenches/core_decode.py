"""Amaranth-simulator testbench of the core's descriptor decoder: a program
through random gaps, each queue under random backpressure, against the golden
model's checks."""

import random

from exdisc.golden import core as gcore
from exdisc.golden.core_isa import QUEUE_OF
from exdisc.hw.core.decode import Decoder
from exdisc.sim.harness.payload import unpack
from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.sim import Simulator

from exdisc.hw.core.isa import Error
from exdisc.sim.harness.pysim import cycle_budget
from exdisc.sim.stimulus.core import golden_config


__all__ = ["expected", "run_programs"]

#: Cycles the decoder may hold a descriptor (its stages) and then some.
LATENCY = 12


def expected(p, program):
    """What the decoder must do with ``program``: per queue name, the
    ``(index, word)`` it hands on; and ``(error, index)`` of the first
    malformed descriptor (``(Error.NONE, None)`` if none), after which
    nothing more is handed on."""
    queues = {"load": [], "gemm": [], "vector": [], "store": []}
    handed, (error, index, _) = gcore.accepted(program, golden_config(p))
    for i, op, _ in handed:
        queues[QUEUE_OF[op].name.lower()].append((i, program[i]))
    return queues, (error, None if error == gcore.Error.NONE else index)


def run_programs(p, programs, seed, *, valid_prob=0.6, ready_prob=0.6):
    """Run each of ``programs`` through one :class:`Decoder` (reset between
    them), with random gaps on its input and random backpressure on each
    queue, until every descriptor is taken or the decoder stops. Returns per
    program ``(queues, error, refused)``: what each queue received as
    ``(index, word)``, the error output ``(code, index)`` at the end, and
    whether the decoder, once stopped, refused the next descriptor for
    :data:`LATENCY` cycles (None if it never stopped)."""
    rng = random.Random(seed)
    dut = Decoder(p)
    rst = Signal()
    top = Module()
    top.submodules.dut = ResetInserter(rst)(dut)
    results = []
    got = {}
    longest = max(len(prog) for prog in programs)
    budget = cycle_budget(longest, longest, valid_prob=valid_prob, ready_prob=ready_prob,
                          latency=LATENCY) * 6

    async def put(ctx):
        for program in programs:
            got.update(load=[], gemm=[], vector=[], store=[])
            ctx.set(rst, 1)
            await ctx.tick()
            ctx.set(rst, 0)
            refused = None
            for word in program:
                while rng.random() >= valid_prob:
                    await ctx.tick()
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, word)
                taken = False
                for _ in range(budget):
                    _, _, ready, code = await ctx.tick().sample(dut.i.ready, dut.error.code)
                    if ready:
                        taken = True
                        break
                    if code != Error.NONE:
                        break
                ctx.set(dut.i.valid, 0)
                if not taken:
                    refused = True
                    break
            await ctx.tick().repeat(LATENCY)
            error = (ctx.get(dut.error.code), ctx.get(dut.error.index))
            results.append(({k: list(v) for k, v in got.items()}, error, refused))

    def get(name):
        async def testbench(ctx):
            port = getattr(dut, name)
            while True:
                ready = rng.random() < ready_prob
                ctx.set(port.ready, ready)
                _, _, valid, value, reset = await ctx.tick().sample(
                    port.valid, port.payload.as_value(), rst)
                if ready and valid and not reset:
                    e = unpack(Decoder.entry_layout, value)
                    got[name].append((e["index"], e["word"]))
        return testbench

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(put)
    for name in ("load", "gemm", "vector", "store"):
        sim.add_testbench(get(name), background=True)
    sim.run()
    return results
