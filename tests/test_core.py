"""The whole core in the Amaranth simulator against the golden core model:
every byte of external memory after a program, and with a closing store of
every buffer, every word the program wrote."""

import numpy as np
import pytest

from exdisc.golden import core as gcore
from exdisc.golden.core_isa import Op
from exdisc.hw.core.params import CoreParams
from exdisc.sim.stimulus.core import golden_config, transfer_gemm_program
from exdisc.sim.testbenches.core import run_core

SMALL = CoreParams(width=32, act_rows=16, wgt_rows=16, acc_rows=16, mask_rows=8, max_len=32,
                   dram_bytes=6144, array_rows=4, array_cols=4, nl_lanes=4)


def _check(p, program, dram, seed):
    want = gcore.run(program, dram, golden_config(p), check=True)
    got = run_core(p, program, dram, seed)
    assert got.finished and got.error == 0
    bad = np.flatnonzero(got.dram != want.dram[0])
    assert not bad.size, f"{bad.size} bytes differ, first at {bad[:8]}"
    return got


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_loads_and_stores(seed):
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    program = transfer_gemm_program(rng, SMALL, 14, ops=(Op.LOAD, Op.STORE))
    _check(SMALL, program, rng.integers(0, 256, SMALL.dram_bytes, dtype=np.uint8), seed)


@pytest.mark.parametrize("seed,shape", [(4, (4, 4)), (5, (4, 4)), (6, (2, 4)), (7, (4, 3))])
def test_gemms(seed, shape):
    """GEMMs of every init, transposed or not, on tiles cut at m and n, on
    engines of a few shapes."""
    print(f"seed {seed}")
    p = CoreParams(**dict(SMALL.as_dict(), array_rows=shape[0], array_cols=shape[1]))
    rng = np.random.default_rng(seed)
    program = transfer_gemm_program(rng, p, 14, ops=(Op.LOAD, Op.GEMM, Op.GEMM, Op.STORE))
    _check(p, program, rng.integers(0, 256, p.dram_bytes, dtype=np.uint8), seed)


def test_dit_block():
    """A whole block of a small random DiT, compiled: every operation of the
    core (loads, GEMMs of every init, softmax with its masks and row scales,
    requantize by row scales, GELU, LayerNorm with its gains and biases,
    gated adds, stores) against the golden core model."""
    from exdisc.golden import core_compile as cc
    from exdisc.golden.dit import DiT
    from exdisc.golden.dit_config import DiTConfig
    cfg = DiTConfig(image_size=8, patch=2, hidden=16, depth=1, heads=4)
    model = DiT.random(cfg, seed=3, std=0.3)
    seed = 3
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, cfg.tokens, cfg.hidden)).astype(np.float32)
    c = rng.standard_normal((1, cfg.hidden)).astype(np.float32)
    p = CoreParams(width=64, act_rows=128, wgt_rows=128, acc_rows=256, mask_rows=32, max_len=64,
                   dram_bytes=1 << 13, array_rows=4, array_cols=4, nl_lanes=4)
    comp = cc.compile_block(model, 0, x, c, golden_config(p), chunk_rows=4)
    ops = {Op(w & 0xF) for w in comp.program}
    assert ops == set(Op)
    _check(p, comp.program, comp.dram[0], seed)
