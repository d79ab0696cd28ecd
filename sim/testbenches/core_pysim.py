"""Amaranth-simulator testbench of the whole core: a program in, external
memory served by a host model, with random gaps and backpressure on every
outside stream."""

import random
from dataclasses import dataclass

import numpy as np

from exdisc.hw.core.core import Core
from exdisc.hw.core.isa import DESCRIPTOR_BITS, Error
from exdisc.sim.harness.pysim import run_testbenches
from exdisc.sim.host.memory import ExternalMemory


__all__ = ["CoreRun", "run_core", "timed_run", "nonlinear_latency"]


@dataclass
class CoreRun:
    """What the core left: external memory, the error code and index,
    whether ``finished`` rose, the cycles until it did (or until the
    core went idle), and per queue (by :class:`~exdisc.hw.core.isa.Queue`
    value) the cycles its descriptors started and ended at."""
    dram: np.ndarray
    error: int
    index: int
    finished: bool
    cycles: int
    starts: dict = None
    ends: dict = None


def run_core(p, program, dram, seed, *, valid_prob=0.7, ready_prob=0.7, max_cycles=50_000,
             settle=2000):
    """Run ``program`` on a :class:`Core` of ``p`` with external memory
    ``dram`` (bytes; a copy is changed). Every outside stream gets random
    gaps (``valid_prob``) or backpressure (``ready_prob``), from ``seed``.
    The run ends when ``finished`` rises, or after an error when the core
    has been idle for 50 cycles or busy for ``settle`` (queues that wait for
    ever)."""
    rng = random.Random(seed)
    dut = Core(p)
    host = ExternalMemory(dram, p.bus_bytes)
    state = {"done": False, "cycles": 0}

    async def descriptors(ctx):
        for word in program:
            while rng.random() >= valid_prob:
                ctx.set(dut.descriptors.payload, rng.getrandbits(DESCRIPTOR_BITS))
                await ctx.tick()
            ctx.set(dut.descriptors.valid, 1)
            ctx.set(dut.descriptors.payload, int(word))
            while True:
                _, _, ready = await ctx.tick().sample(dut.descriptors.ready)
                if ready or state["done"]:
                    break
            ctx.set(dut.descriptors.valid, 0)
            if state["done"]:
                return

    def commands(port, take):
        async def testbench(ctx):
            while not state["done"]:
                ready = rng.random() < ready_prob
                ctx.set(port.ready, ready)
                _, _, valid, addr, nbytes = await ctx.tick().sample(
                    port.valid, port.payload.addr, port.payload.bytes)
                if ready and valid:
                    take(addr, nbytes)
        return testbench

    async def load_data(ctx):
        while not state["done"]:
            beat = host.next_load_beat()
            offer = beat is not None and rng.random() < valid_prob
            ctx.set(dut.load_data.valid, offer)
            # a payload not offered is random bits
            ctx.set(dut.load_data.payload, beat if offer else rng.getrandbits(8 * p.bus_bytes))
            _, _, ready = await ctx.tick().sample(dut.load_data.ready)
            if offer and ready:
                host.load_beat_taken()

    async def store_data(ctx):
        while not state["done"]:
            ready = rng.random() < ready_prob
            ctx.set(dut.store_data.ready, ready)
            _, _, valid, beat = await ctx.tick().sample(dut.store_data.valid,
                                                        dut.store_data.payload)
            if ready and valid:
                host.store_beat(beat)

    starts, ends = {q: [] for q in range(4)}, {q: [] for q in range(4)}

    async def watch(ctx):
        idle_for = 0
        cycle = 0
        while True:
            await ctx.tick()
            cycle += 1
            events = ctx.get(dut.events)
            for q in range(4):
                if events.start >> q & 1:
                    starts[q].append(cycle)
                if events.done >> q & 1:
                    ends[q].append(cycle)
            if ctx.get(dut.finished):
                break
            # an error stops the decoder; what it handed on runs, as far as its
            # tokens let it (with a deadlock, or tokens promised by descriptors
            # never taken, some queues never go idle)
            if ctx.get(dut.error.code) != Error.NONE:
                idle_for += 1
                if idle_for > (50 if not ctx.get(dut.busy) else settle):
                    break
        state.update(done=True, cycles=cycle, error=ctx.get(dut.error.code),
                     index=ctx.get(dut.error.index), finished=bool(ctx.get(dut.finished)))

    run_testbenches(dut, watch, descriptors, commands(dut.load_cmd, host.load_command),
                    commands(dut.store_cmd, host.store_command), load_data, store_data,
                    max_cycles=max_cycles)
    return CoreRun(dram=host.mem, error=int(getattr(state["error"], "value", state["error"])),
                   index=int(state["index"]), finished=state["finished"], cycles=state["cycles"],
                   starts=starts, ends=ends)


def timed_run(p, program, dram=None):
    """Each descriptor's ``(start, end)`` cycles on a :class:`Core` of ``p``
    with every outside stream always offered and ready (external memory
    ``dram``, by default all zeros), and the run's cycles."""
    from exdisc.sim.stimulus.core import descriptor_times
    dram = np.zeros(p.dram_bytes, np.uint8) if dram is None else dram
    got = run_core(p, program, dram, 0, valid_prob=1.0, ready_prob=1.0)
    if not got.finished or got.error:
        raise ValueError(f"program: the core stopped with error {got.error} at "
                         f"descriptor {got.index}")
    return descriptor_times(program, got.starts, got.ends), got.cycles


def nonlinear_latency(p):
    """The one constant of the cycle model (:mod:`exdisc.golden.core_cycles`)
    that is measured, not derived: a non-linear row of one beat alone on a
    core of ``p`` takes ``nonlinear_latency + 3`` cycles."""
    from exdisc.golden.core_isa import Op, encode
    (start, end), _ = timed_run(p, [encode(Op.NONLINEAR, fn=1, rows=1, length=1),
                                    encode(Op.FINISH)])[0]
    return end - start - 3
