"""cocotb benchmark of the systolic array: back-to-back tiles at several K.

Run by :func:`exdisc.sim.benchmarks.systolic.measure`; writes its measurements as JSON to
``EXDISC_BENCH_OUT``. Inputs are always valid and the output always ready,
so the figures are the array's own; every word is still checked.
"""

import json
import os

import cocotb
import numpy as np

from exdisc.sim.host.gemm import run_gemm
from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import reset, start_clock, test_rng


@cocotb.test()
async def back_to_back_tiles(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "bench")
    nrng = np.random.default_rng(seed)
    ks = [int(k) for k in os.environ["EXDISC_BENCH_KS"].split(",")]
    grid = int(os.environ.get("EXDISC_BENCH_GRID", "4"))      # tiles = grid x grid
    await start_clock(dut)
    await reset(dut)
    lo, hi = -(1 << (p.width - 1)), (1 << (p.width - 1)) - 1
    rows = []
    for k in ks:
        a = nrng.integers(lo, hi + 1, (p.rows * grid, k))
        b = nrng.integers(lo, hi + 1, (k, p.cols * grid))
        run = await run_gemm(dut, p, a, b, rng)
        rows.append({"k": k, "tiles": grid * grid, "beats": run.beats, "cycles": run.cycles,
                     "busy": run.busy, "input_rate": run.input_rate,
                     "first_beat": run.first_beat, "last_beat": run.last_beat,
                     "last_row": run.last_row})
        dut._log.info("K=%d: %d beats in %d cycles, busy %.4f", k, run.beats, run.cycles, run.busy)
    with open(os.environ["EXDISC_BENCH_OUT"], "w") as f:
        json.dump({"seed": seed, "rows": rows}, f)
