"""FFN engine (the array with its output path): Amaranth-simulator checks
against golden.ffn_reuse.output_rows and the integer FFN-Reuse step."""

import asyncio
import random

import numpy as np
import pytest

from exdisc.hw.ffn_engine import FFNEngine, FFNEngineParams
from exdisc.hw.queue import LATENCY as QUEUE_LATENCY
from exdisc.hw.systolic import SystolicArray
from exdisc.sim.harness.payload import unpack
from exdisc.sim.harness.pysim import run_stream_unit
from exdisc.sim.host.sparse_ffn import expected_output, ffn_reuse_steps, random_aux_beats
from exdisc.sim.stimulus.systolic_tiles import (extreme_tiles, random_merged_tile, random_tile,
                                                tile_payloads)


def _run(p, tiles, beats, seed, *, valid_prob=0.7, ready_prob=0.5):
    got, _ = run_stream_unit(FFNEngine(p), {**tile_payloads(tiles, p), "aux": beats},
                             p.rows * len(tiles), random.Random(seed),
                             valid_prob=valid_prob, ready_prob=ready_prob)
    return [unpack(p.out_layout, v) for v in got]


@pytest.mark.parametrize("cfg", [dict(rows=3, cols=3, dsp_pes=4),
                                 dict(rows=2, cols=3, lanes=2, dsp_pes=3),
                                 dict(rows=2, cols=2, width=4, acc_width=8)],
                         ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_output_path_random(cfg, seed):
    """Random and extreme tiles with random partials, thresholds and flags."""
    p = FFNEngineParams(**cfg)
    rng = np.random.default_rng(seed)
    span = 2 * max(p.rows, p.cols, p.first_spacing)
    if p.merged:
        tiles = [random_merged_tile(rng, p, int(rng.integers(1, span)), row_sel=bool(n % 2))
                 for n in range(10)]
    else:
        tiles = [random_tile(rng, p, int(rng.integers(1, span))) for _ in range(8)]
        tiles += extreme_tiles(p, 5)
    beats = random_aux_beats(rng, tiles, p)
    got = _run(p, tiles, beats, seed)
    want = expected_output(tiles, p, beats)
    for n, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"row {n}: RTL {g} != golden {w} (seed {seed})"


def _row_cycles(dut, p, tiles, aux_beats, seed):
    """Cycle of every output row, inputs always valid, output always ready."""
    items = tile_payloads(tiles, p)
    if aux_beats is not None:
        items["aux"] = aux_beats
    _, cycles = run_stream_unit(dut, items, p.rows * len(tiles), random.Random(seed),
                                valid_prob=1.0, ready_prob=1.0)
    return cycles


def test_output_path_never_stalls(seed):
    """Back-to-back tiles through the engine leave exactly ``2 + QUEUE_LATENCY``
    cycles after the bare array would give them: the output path's credits
    cover its round trip, so it adds latency and no stall."""
    p = FFNEngineParams(rows=3, cols=3, dsp_pes=4)
    rng = np.random.default_rng(seed)
    tiles = [random_tile(rng, p, p.tile_spacing + int(rng.integers(0, 3))) for _ in range(12)]
    beats = random_aux_beats(rng, tiles, p)
    array = _row_cycles(SystolicArray(p.engine), p.engine, tiles, None, seed)
    engine = _row_cycles(FFNEngine(p), p, tiles, beats, seed)
    assert [e - a for e, a in zip(engine, array)] == [2 + QUEUE_LATENCY] * len(array), \
        f"row cycles: engine {engine}, array {array} (seed {seed})"


def _ops(rng, T, d, F, density):
    pick = lambda shape: rng.integers(-128, 128, shape)  # noqa: E731
    x_dense, w1 = pick((T, d)), pick((d, F))
    acc = x_dense @ w1
    return {"x_dense": x_dense, "x": pick((T, d)), "w1": w1, "w2": pick((F, d)),
            "h": pick((T, F)), "h_dense": pick((T, F)), "mask": rng.random((T, F)) < density,
            "threshold": np.quantile(acc, 0.7, axis=0).astype(np.int64)}


@pytest.mark.parametrize("lanes", [1, 4])
def test_ffn_reuse_steps(lanes, seed):
    """A dense step (mask from FC1, P = dense - masked) and a sparse step (FC1
    where the mask is set, FC2 = P + S), all through the RTL."""
    p = FFNEngineParams(rows=3, cols=3, lanes=lanes, dsp_pes=4)
    nrng = np.random.default_rng(seed)
    ops = _ops(nrng, 7, 4, 10, 0.25)
    ops["mask"][2] = True                      # a dense row

    async def run(plan, beats, name):
        got = _run(p, plan.tiles, beats, seed)
        assert got == expected_output(plan.tiles, p, beats), f"{name} (seed {seed})"
        return got

    for name, (got, want) in asyncio.run(ffn_reuse_steps(run, p, ops)).items():
        assert np.array_equal(got, want), f"{name}: RTL {got} != golden {want} (seed {seed})"


def test_params_are_the_arrays():
    p = FFNEngineParams(rows=2, cols=5, lanes=2)
    assert p.engine.as_dict() == p.as_dict() and p.latency == p.engine.latency + 2 + QUEUE_LATENCY
    with pytest.raises(ValueError, match="'lanes'.*3"):
        FFNEngineParams(lanes=3)
