"""cocotb benchmark: one FFN-Reuse sparse step of the tiny DiT on the engine,
dense against output-sparse FC1 and input-sparse FC2 (:mod:`exdisc.sim.host.sparse_ffn`).

Run by :func:`exdisc.sim.benchmarks.ffn.measure`; writes its measurements as JSON to
``EXDISC_BENCH_OUT``. Inputs always valid, output always ready; every word
is checked against the golden models while it is measured.
"""

import json
import os

import cocotb
import numpy as np

from exdisc.golden.ffn_reuse import sparse_step_int
from exdisc.golden.systolic import tile_result
from exdisc.sim.host.gemm import stream_tiles
from exdisc.sim.harness.runner import design_params
from exdisc.sim.host.sparse_ffn import (cached_partial, dense_tiles, fc1_tiles, fc2_tiles,
                                        sparse_fc2)
from exdisc.sim.harness.streams import reset, start_clock, test_rng


@cocotb.test()
async def ffn_step(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "bench")
    await start_clock(dut)
    await reset(dut)
    from exdisc.golden.trace import ffn_operands
    ops = ffn_operands(step=int(os.environ["EXDISC_BENCH_STEP"]),
                       layer=int(os.environ["EXDISC_BENCH_LAYER"]))
    tokens = int(os.environ.get("EXDISC_BENCH_TOKENS", "0")) or ops["x"].shape[0]
    x, w1, w2, h, hd, mask = (ops[k] for k in ("x", "w1", "w2", "h", "h_dense", "mask_int"))
    x, h, hd, mask = x[:tokens], h[:tokens], hd[:tokens], mask[:tokens]
    want = sparse_step_int(x, w1, w2, hd, h, mask, p.acc_width)
    runs = {
        "fc1_dense": (dense_tiles(x, w1, p), tile_result(x, w1, p.width, p.acc_width)),
        "fc1_sparse": (fc1_tiles(x, w1, mask, p), want["fc1"]),
        "fc2_dense": (dense_tiles(h, w2, p), tile_result(h, w2, p.width, p.acc_width)),
        "fc2_sparse": (fc2_tiles(h, w2, mask, p), None),
        "partial_dense": (dense_tiles(hd, w2, p), tile_result(hd, w2, p.width, p.acc_width)),
        "partial": (fc2_tiles(hd, w2, mask, p), None),
    }
    out = {"seed": seed, "step": ops["step"], "layer": ops["layer"],
           "tokens": int(mask.shape[0]), "set_bits": int(mask.sum()),
           "sparsity": float(1 - mask.mean()), "runs": {}}
    got = {}
    for name, (pl, expect) in runs.items():
        rows, a_cycles, o_cycles = await stream_tiles(dut, p, pl.tiles, rng)
        got[name] = pl.assemble(rows)
        if expect is not None:
            assert np.array_equal(got[name], expect), f"{name}: RTL differs from golden (seed {seed})"
        cycles = o_cycles[-1] - a_cycles[0] + 1
        out["runs"][name] = {"tiles": len(pl.tiles), "beats": pl.beats, "cycles": cycles,
                             "ks": [t.k for t in pl.tiles]}
        dut._log.info("%s: %d tiles, %d beats, %d cycles", name, len(pl.tiles), pl.beats, cycles)
    partial = cached_partial(got["partial_dense"], got["partial"], p.acc_width)
    assert np.array_equal(partial, want["partial"]), f"partial: RTL differs from golden (seed {seed})"
    fc2 = sparse_fc2(partial, got["fc2_sparse"], p.acc_width)
    assert np.array_equal(fc2, want["fc2"]), f"fc2: RTL differs from golden (seed {seed})"
    with open(os.environ["EXDISC_BENCH_OUT"], "w") as f:
        json.dump(out, f)
