"""cocotb sign-off of :class:`exdisc.hw.ffn_engine.FFNEngine`: the array with its
output path, against :func:`exdisc.golden.ffn_reuse.output_rows` word by word and
against the integer FFN-Reuse step (:func:`exdisc.golden.ffn_reuse.sparse_step_int`).

Random tiles with random partials, thresholds and flags; then whole FFN-Reuse
steps (:func:`exdisc.sim.host.sparse_ffn.ffn_reuse_steps`): the dense step writes the
recompute mask from its FC1 and caches ``P = dense - masked``, the sparse step
runs output-sparse FC1 and input-sparse FC2 and adds ``P + S``, all in RTL.
Masks of controlled density and the degenerate ones (all zero, all one, one
column, one row), and a step of the tiny DiT. Random valid gaps on every
input and random backpressure on the output throughout.
"""

import os

import cocotb
import numpy as np
import pytest

from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import reset, start_clock, test_rng
from exdisc.sim.host.gemm import stream_tiles
from exdisc.sim.host.sparse_ffn import expected_output, ffn_reuse_steps, random_aux_beats
from exdisc.sim.stimulus.systolic_tiles import random_merged_tile, random_tile


async def _setup(dut, salt):
    _, p = design_params()
    rng, seed = test_rng(dut._log, salt)
    await start_clock(dut)
    await reset(dut)
    return p, rng, np.random.default_rng(seed), seed


async def _check(dut, p, tiles, beats, rng, seed, what, *, valid_prob=0.8, ready_prob=0.7):
    """Stream ``tiles`` with their output-path ``beats``; every output row must
    equal the golden one. Returns the rows and the cycles they took."""
    rows, a_cycles, o_cycles = await stream_tiles(dut, p, tiles, rng, valid_prob=valid_prob,
                                                  ready_prob=ready_prob, aux=beats)
    for n, (g, w) in enumerate(zip(rows, expected_output(tiles, p, beats))):
        assert g == w, (f"{what}: tile {n // p.rows} row {n % p.rows}: RTL {g} != golden {w} "
                        f"(seed {seed})")
    return rows, o_cycles[-1] - a_cycles[0] + 1


@cocotb.test()
async def output_path_random(dut):
    p, rng, nrng, seed = await _setup(dut, "aux")
    count = int(os.environ.get("EXDISC_TILES", "16"))
    span = 2 * max(p.rows, p.cols, p.first_spacing)
    if p.merged:
        tiles = [random_merged_tile(nrng, p, int(nrng.integers(1, span)), row_sel=bool(n % 2))
                 for n in range(count)]
    else:
        tiles = [random_tile(nrng, p, int(nrng.integers(1, span))) for _ in range(count)]
    await _check(dut, p, tiles, random_aux_beats(nrng, tiles, p), rng, seed, "random",
                 valid_prob=0.7, ready_prob=0.5)


async def _steps(dut, p, rng, seed, ops, label):
    async def run(plan, beats, name):
        rows, cycles = await _check(dut, p, plan.tiles, beats, rng, seed, f"{label} {name}")
        dut._log.info("%s %s: %d tiles, %d beats (dense %d), %d cycles", label, name,
                      len(plan.tiles), plan.beats, plan.dense_beats, cycles)
        return rows

    for name, (got, want) in (await ffn_reuse_steps(run, p, ops)).items():
        bad = np.argwhere(got != want)
        assert bad.size == 0, (f"{label} {name}: {len(bad)} wrong words, first at "
                               f"{tuple(bad[0])}: RTL {got[tuple(bad[0])]} != golden "
                               f"{want[tuple(bad[0])]} (seed {seed})")


@cocotb.test()
async def ffn_reuse_masks(dut):
    """Random int operands; masks of density 0.1 and 0.5 and the degenerate
    ones; thresholds at the 70th percentile of each FC1 column."""
    p, rng, nrng, seed = await _setup(dut, "masks")
    lo, hi = -(1 << (p.width - 1)), (1 << (p.width - 1)) - 1
    T, d, F = p.rows + 3, 5, 3 * p.cols + 1
    one_col, one_row = np.zeros((T, F), bool), np.zeros((T, F), bool)
    one_col[:, int(nrng.integers(F))] = True
    one_row[int(nrng.integers(T))] = True
    masks = {"density 0.1": nrng.random((T, F)) < 0.1, "density 0.5": nrng.random((T, F)) < 0.5,
             "all zero": np.zeros((T, F), bool), "all one": np.ones((T, F), bool),
             "one column": one_col, "one row": one_row}
    for label, mask in masks.items():
        pick = lambda shape: nrng.integers(lo, hi + 1, shape)  # noqa: E731
        ops = {"x_dense": pick((T, d)), "x": pick((T, d)), "w1": pick((d, F)), "w2": pick((F, d)),
               "h": pick((T, F)), "h_dense": pick((T, F)), "mask": mask}
        ops["threshold"] = np.quantile(ops["x_dense"] @ ops["w1"], 0.7, axis=0).astype(np.int64)
        await _steps(dut, p, rng, seed, ops, label)


@cocotb.test()
async def ffn_reuse_dit(dut):
    """The tiny DiT's FFN-Reuse step: int8 operands of a random subset of
    tokens, the real integer thresholds; the mask the RTL writes at the dense
    step must be the quantized mask, and the sparse step uses it."""
    _, p = design_params()
    if p.width != 8:
        pytest.skip(f"the DiT's operands are int8; this array takes {p.width}-bit operands")
    p, rng, nrng, seed = await _setup(dut, "dit")
    from exdisc.golden.trace import ffn_operands
    ops = ffn_operands(step=3, layer=1)
    tokens = np.sort(nrng.choice(ops["x"].shape[0], 2 * p.rows + 3, replace=False))
    cut = {name: ops[name][tokens] for name in ("x", "x_dense", "h", "h_dense")}
    cut.update(w1=ops["w1"], w2=ops["w2"], threshold=ops["threshold"],
               mask=ops["mask_int"][tokens])
    await _steps(dut, p, rng, seed, cut, f"DiT step {ops['step']} layer {ops['layer']}")
