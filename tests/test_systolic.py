"""Systolic array: Amaranth-simulator checks against the golden model."""

import random

import numpy as np
import pytest

from exdisc.golden.systolic import IDLE, cycle_model, merged_tile_result, tile_result, wrap
from exdisc.hw.systolic import SystolicArray, SystolicParams
from exdisc.sim.harness.payload import unpack
from exdisc.sim.harness.pysim import run_stream_unit
from exdisc.sim.stimulus.systolic_tiles import (expected_rows, extreme_tiles, random_merged_tile,
                                                random_tile, tile_payloads)


def _run(params, tiles, seed, *, valid_prob=0.7, ready_prob=0.5):
    got, cycles = run_stream_unit(SystolicArray(params), tile_payloads(tiles, params),
                                  params.rows * len(tiles), random.Random(seed),
                                  valid_prob=valid_prob, ready_prob=ready_prob)
    return [unpack(params.o_layout, v) for v in got], cycles


CONFIGS = [
    dict(rows=1, cols=1),
    dict(rows=2, cols=3, dsp_pes=0),
    dict(rows=3, cols=2, mul_stages=2, dsp_pes=0),
    dict(rows=4, cols=4, dsp_pes=5),
    dict(rows=4, cols=4, mul_stages=2),
    dict(rows=2, cols=3, mul_stages=3, dsp_pes=2),
    dict(rows=3, cols=2, mul_stages=4, dsp_pes=0),
    dict(rows=2, cols=2, width=4, acc_width=8),           # wraps often
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_random_tiles_backpressure(cfg, seed):
    p = SystolicParams(**cfg)
    rng = np.random.default_rng(seed)
    tiles = [random_tile(rng, p, int(rng.integers(1, 3 * max(p.rows, p.cols) + 1)))
             for _ in range(12)]
    got, _ = _run(p, tiles, seed)
    assert got == expected_rows(tiles, p)


@pytest.mark.parametrize("cfg", [dict(rows=3, cols=3, dsp_pes=4), dict(rows=2, cols=2, acc_width=16)])
def test_extreme_operands(cfg, seed):
    p = SystolicParams(**cfg)
    tiles = extreme_tiles(p, 9) + extreme_tiles(p, 1)
    got, _ = _run(p, tiles, seed)
    assert got == expected_rows(tiles, p)


def test_wrap_happens():
    """acc_width 16 with K = 9 of 128 * 128 overflows; the model must wrap."""
    a = np.full((1, 9), -128)
    b = np.full((9, 1), -128)
    assert tile_result(a, b, 8, 16)[0, 0] == wrap(9 * 16384, 16) != 9 * 16384


def test_merged_golden_by_definition(seed):
    """merged_tile_result against a plain loop over PEs and beats."""
    rng = np.random.default_rng(seed)
    R, C, D, K = 3, 4, 4, 6
    a = rng.integers(-128, 128, (R, K))
    b = rng.integers(-128, 128, (K, C, D))
    tile_sel = np.where(rng.random((C, R)) < 0.3, IDLE, rng.integers(0, D, (C, R)))
    row_sel = np.where(rng.random((K, R)) < 0.3, IDLE, rng.integers(0, D, (K, R)))
    want = np.zeros((R, C), dtype=np.int64)
    for r in range(R):
        for c in range(C):
            for k in range(K):
                if tile_sel[c, r] != IDLE and row_sel[k, r] != IDLE:
                    want[r, c] += a[r, k] * b[k, c, tile_sel[c, r] | row_sel[k, r]]
    assert np.array_equal(merged_tile_result(a, b, tile_sel, row_sel), want)
    # lane 0 everywhere is the dense product of lane 0
    zero_t, zero_r = np.zeros((C, R), np.int64), np.zeros((K, R), np.int64)
    assert np.array_equal(merged_tile_result(a, b, zero_t, zero_r), tile_result(a, b[:, :, 0]))
    with pytest.raises(ValueError, match="row_sel"):
        merged_tile_result(a, b, tile_sel, np.full((K, R), D))


@pytest.mark.parametrize("cfg, ks", [
    (dict(rows=4, cols=4), [4, 4, 4, 4, 8, 16]),
    (dict(rows=3, cols=5, mul_stages=2), [5, 7, 5, 2, 1, 9]),      # short tiles wait
    (dict(rows=3, cols=2, mul_stages=3, dsp_pes=2), [3, 1, 4, 6]),
    (dict(rows=5, cols=2), [5, 1, 6, 5]),
    # drain_delay + R + Q + 1 a multiple of the tile spacing: the queue holds
    # exactly the rows in flight when credits come back (fifo_depth)
    (dict(rows=4, cols=4, mul_stages=1), [4] * 8),
])
def test_cycle_model_exact(cfg, ks, seed):
    """No gaps and no backpressure: every result row leaves exactly when the
    golden cycle model says."""
    p = SystolicParams(**cfg)
    rng = np.random.default_rng(seed)
    tiles = [random_tile(rng, p, k) for k in ks]
    got, cycles = _run(p, tiles, seed, valid_prob=1.0, ready_prob=1.0)
    assert got == expected_rows(tiles, p)
    model = cycle_model(p.rows, p.cols, ks, mul_stages=p.mul_stages)
    first_rows = cycles[::p.rows]
    assert first_rows == model["first_rows"]
    assert cycles[-1] + 1 == model["total"]


MERGED = [
    dict(rows=2, cols=3, lanes=2, dsp_pes=0),
    dict(rows=3, cols=3, lanes=4, mul_stages=1, dsp_pes=4),
    dict(rows=4, cols=2, lanes=8, width=4, acc_width=8),
    dict(rows=1, cols=1, lanes=2),
]


@pytest.mark.parametrize("cfg", MERGED, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_merged_tiles_backpressure(cfg, seed):
    """Random lanes, tile selects and row selects (a fifth of them IDLE), tiles
    shorter than the first-beat spacing included, against the golden model."""
    p = SystolicParams(**cfg)
    rng = np.random.default_rng(seed)
    span = 2 * p.first_spacing
    tiles = [random_merged_tile(rng, p, int(rng.integers(1, span + 1)), row_sel=bool(n % 2))
             for n in range(12)]
    tiles.append(random_tile(rng, p, 3))           # a dense tile runs in lane 0
    got, _ = _run(p, tiles, seed)
    assert got == expected_rows(tiles, p)


@pytest.mark.parametrize("cfg, ks", [
    (dict(rows=3, cols=3, lanes=2), [5, 1, 1, 7, 2, 9, 9]),
    (dict(rows=2, cols=4, lanes=4, mul_stages=1), [1, 1, 6, 3, 5]),
])
def test_merged_cycle_model_exact(cfg, ks, seed):
    """Short tiles wait for the first-beat spacing exactly as the model says,
    and their selects are not overwritten by the next tile's."""
    p = SystolicParams(**cfg)
    rng = np.random.default_rng(seed)
    tiles = [random_merged_tile(rng, p, k) for k in ks]
    got, cycles = _run(p, tiles, seed, valid_prob=1.0, ready_prob=1.0)
    assert got == expected_rows(tiles, p)
    model = cycle_model(p.rows, p.cols, ks, mul_stages=p.mul_stages, lanes=p.lanes)
    assert cycles[::p.rows] == model["first_rows"]
    assert cycles[-1] + 1 == model["total"]


def test_busy_fraction_back_to_back():
    m = cycle_model(16, 16, [64] * 64)
    assert m["busy"] >= 0.98
    assert cycle_model(16, 16, [16] * 8)["last_beats"] == [15 + 16 * i for i in range(8)]


@pytest.mark.parametrize("kwargs, needle", [
    ({"rows": 0}, "'rows'"), ({"cols": 65}, "'cols'"), ({"width": 1}, "'width'"),
    ({"acc_width": 15}, "'acc_width'"), ({"mul_stages": 0}, "'mul_stages'"), ({"mul_stages": 5}, "'mul_stages'"),
    ({"dsp_pes": 17}, "'dsp_pes'"), ({"rows": 2.0}, "'rows'"), ({"lanes": 3}, "'lanes'"),
    ({"lanes": 0}, "'lanes'"), ({"lanes": True}, "'lanes'"),
])
def test_params_rejected(kwargs, needle):
    with pytest.raises((ValueError, TypeError)) as info:
        SystolicParams(**kwargs)
    assert needle in str(info.value) and repr(next(iter(kwargs.values()))) in str(info.value)


def test_derived():
    p = SystolicParams(rows=16, cols=16)
    assert p.dsp_count == 144 and p.tile_spacing == 16 and p.fifo_depth == 48
    assert SystolicParams(rows=4, cols=4).dsp_count == 16
    assert SystolicParams(rows=4, cols=4, dsp_pes=0).dsp_count == 0
