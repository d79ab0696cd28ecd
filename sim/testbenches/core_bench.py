"""cocotb benchmark of the core: one program, every outside stream always
offered and always ready, each descriptor's start and end cycle recorded
(from the core's ``events``), and every byte of external memory still
compared with the golden core model.

Run by :func:`exdisc.sim.benchmarks.core.rtl_cycles`: the program and its
external memory come from the ``.npz`` file ``EXDISC_BENCH_IN`` (``program``
as 16-byte little-endian words, ``dram``); the measurements go to
``EXDISC_BENCH_OUT`` as JSON."""

import json
import os
import random

import cocotb
import numpy as np

from exdisc.golden import core as gcore
from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import start_clock
from exdisc.sim.stimulus.core import descriptor_times, golden_config
from .core import run_program


@cocotb.test()
async def core_program_cycles(dut):
    _, p = design_params()
    data = np.load(os.environ["EXDISC_BENCH_IN"])
    program = [int.from_bytes(bytes(w), "little") for w in data["program"]]
    dram = data["dram"]
    await start_clock(dut)
    starts, ends = {q: [] for q in range(4)}, {q: [] for q in range(4)}

    def watch(cycle):
        start, done = int(dut.events.value.to_unsigned()) & 0xF, \
            int(dut.events.value.to_unsigned()) >> 4
        for q in range(4):
            if start >> q & 1:
                starts[q].append(cycle)
            if done >> q & 1:
                ends[q].append(cycle)

    mem, code, index, finished, cycles = await run_program(
        dut, p, program, dram, random.Random(0), valid_prob=1.0, ready_prob=1.0, watch=watch)
    want = gcore.run(program, dram, golden_config(p))
    assert (code, finished) == (0, True), f"error {code} at {index}"
    bad = np.flatnonzero(mem != want.dram[0])
    assert not bad.size, f"{bad.size} bytes differ from the golden model, first at {bad[:8]}"
    # each queue's descriptors start and end in order: match them to the program
    times = descriptor_times(program, starts, ends)
    with open(os.environ["EXDISC_BENCH_OUT"], "w") as f:
        json.dump({"cycles": cycles, "times": times}, f)
    dut._log.info("%d descriptors in %d cycles, every byte as the golden model's",
                  len(program), cycles)
