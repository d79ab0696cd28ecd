"""cocotb sign-off testbench of :class:`exdisc.hw.systolic.SystolicArray`.

Random tiles of random depth (shorter and longer than the array), operands
at the ends of their range, and tiled GEMMs with ragged edges, all with
random valid gaps on both inputs and random backpressure on the output,
compared word by word with :func:`exdisc.golden.systolic.tile_result`; real int8
FC1 and Q/K-projection operands cut from the tiny DiT's sampling run; with
merge lanes, random selects against :func:`exdisc.golden.systolic.merged_tile_result`.
The FFN-Reuse steps (output-sparse FC1, input-sparse FC2) run on the engine
with its output path, :mod:`exdisc.sim.testbenches.ffn`.
"""

import os

import cocotb
import numpy as np
import pytest

from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import reset, start_clock, test_rng
from exdisc.sim.host.gemm import run_gemm, stream_tiles
from exdisc.sim.stimulus.systolic_tiles import (expected_rows, extreme_tiles, random_merged_tile,
                                                random_tile)


async def _setup(dut, salt):
    _, p = design_params()
    rng, seed = test_rng(dut._log, salt)
    nrng = np.random.default_rng(seed)
    await start_clock(dut)
    await reset(dut)
    return p, rng, nrng, seed


async def _check_tiles(dut, p, tiles, rng, seed, valid_prob, ready_prob):
    got, _, _ = await stream_tiles(dut, p, tiles, rng, valid_prob=valid_prob,
                                   ready_prob=ready_prob)
    want = expected_rows(tiles, p)
    for n, (g, w) in enumerate(zip(got, want)):
        assert g == w, (f"tile {n // p.rows} row {n % p.rows}: RTL {g} != golden {w} "
                        f"(seed {seed})")


@cocotb.test()
async def random_tiles_backpressure(dut):
    p, rng, nrng, seed = await _setup(dut, "tiles")
    count = int(os.environ.get("EXDISC_TILES", "24"))
    span = 3 * max(p.rows, p.cols)
    tiles = [random_tile(nrng, p, int(nrng.integers(1, span + 1))) for _ in range(count)]
    await _check_tiles(dut, p, tiles, rng, seed, valid_prob=0.7, ready_prob=0.5)


@cocotb.test()
async def extreme_operands(dut):
    p, rng, nrng, seed = await _setup(dut, "extreme")
    tiles = extreme_tiles(p, 2 * max(p.rows, p.cols)) + extreme_tiles(p, 1)
    await _check_tiles(dut, p, tiles, rng, seed, valid_prob=0.8, ready_prob=0.6)


@cocotb.test()
async def tiled_gemm_ragged(dut):
    p, rng, nrng, seed = await _setup(dut, "gemm")
    lo, hi = -(1 << (p.width - 1)), (1 << (p.width - 1)) - 1
    M = int(nrng.integers(1, 2 * p.rows + 2))
    N = int(nrng.integers(1, 2 * p.cols + 2))
    K = int(nrng.integers(1, 3 * max(p.rows, p.cols)))
    a = nrng.integers(lo, hi + 1, (M, K))
    b = nrng.integers(lo, hi + 1, (K, N))
    run = await run_gemm(dut, p, a, b, rng, valid_prob=0.8, ready_prob=0.7)
    dut._log.info("GEMM %dx%dx%d: %d cycles (seed %d)", M, K, N, run.cycles, seed)


@cocotb.test()
async def dit_fc1_and_qkv_tiles(dut):
    """Real int8 operands of the tiny DiT: FC1 (X @ W1) and the Q/K projections."""
    _, p = design_params()
    if p.width != 8:
        pytest.skip(f"the DiT's operands are int8; this array takes {p.width}-bit operands")
    p, rng, nrng, seed = await _setup(dut, "dit")
    from exdisc.golden.trace import ffn_operands, prediction_operands
    ffn = ffn_operands(step=3, layer=1)
    qk = prediction_operands(step=2, layer=0)
    w_qk = np.concatenate(qk["wq"] + qk["wk"], axis=1)
    for name, x, w in (("FC1", ffn["x"], ffn["w1"]), ("QK projection", qk["x"], w_qk)):
        rows = nrng.choice(x.shape[0], 2 * p.rows + 1, replace=False)
        cols = nrng.choice(w.shape[1], 2 * p.cols + 1, replace=False)
        a, b = x[rows].astype(np.int64), w[:, cols].astype(np.int64)
        run = await run_gemm(dut, p, a, b, rng, valid_prob=0.8, ready_prob=0.6)
        dut._log.info("DiT %s: %dx%dx%d GEMM matches the golden model, %d cycles (seed %d)",
                      name, a.shape[0], a.shape[1], b.shape[1], run.cycles, seed)


@cocotb.test()
async def merged_random_tiles(dut):
    """Merge lanes: random lanes and selects (a fifth IDLE), output-sparse
    (tile selects only) and input-sparse (row selects too) tiles mixed, some
    shorter than the first-beat spacing."""
    _, p = design_params()
    if not p.merged:
        pytest.skip("lanes = 1: the array has no merge lanes")
    p, rng, nrng, seed = await _setup(dut, "merged")
    count = int(os.environ.get("EXDISC_TILES", "24"))
    tiles = [random_merged_tile(nrng, p, int(nrng.integers(1, 2 * p.first_spacing + 1)),
                                row_sel=bool(n % 2)) for n in range(count)]
    await _check_tiles(dut, p, tiles, rng, seed, valid_prob=0.7, ready_prob=0.5)
