"""Output-sparse FC1 and input-sparse FC2 tiles (sim/sparse_ffn.py) against the
integer FFN-Reuse step (golden.ffn_reuse.sparse_step_int): first with the
golden tile results, then through the RTL engine in the Amaranth simulator."""

import random

import numpy as np
import pytest

from exdisc.golden.ffn_reuse import sparse_step_int
from exdisc.hw.systolic import SystolicArray, SystolicParams
from exdisc.sim.harness.payload import unpack
from exdisc.sim.harness.pysim import run_stream_unit
from exdisc.sim.host.sparse_ffn import (cached_partial, dense_tiles, fc1_tiles, fc2_tiles,
                                        sparse_fc2)
from exdisc.sim.stimulus.systolic_tiles import tile_payloads


def _ops(rng, T, d, F, density):
    mask = rng.random((T, F)) < density
    pick = lambda shape: rng.integers(-128, 128, shape)  # noqa: E731
    return {"x": pick((T, d)), "w1": pick((d, F)), "w2": pick((F, d)), "h": pick((T, F)),
            "h_dense": pick((T, F)), "mask": mask}


def _golden_engine(p):
    def run(plan):
        rows = []
        for t in plan.tiles:
            res = t.result(p)
            rows += [{"row": list(res[r])} for r in range(p.rows)]
        return plan.assemble(rows)
    return run


def _rtl_engine(p, seed):
    def run(plan):
        if not plan.tiles:
            return plan.assemble([])
        got, _ = run_stream_unit(SystolicArray(p), tile_payloads(plan.tiles, p),
                                 p.rows * len(plan.tiles), random.Random(seed),
                                 valid_prob=0.8, ready_prob=0.7)
        return plan.assemble([unpack(p.o_layout, v) for v in got])
    return run


def _check_step(p, ops, run):
    want = sparse_step_int(ops["x"], ops["w1"], ops["w2"], ops["h_dense"], ops["h"], ops["mask"],
                           p.acc_width)
    mask = ops["mask"]
    fc1 = run(fc1_tiles(ops["x"], ops["w1"], mask, p))
    dense = run(dense_tiles(ops["h_dense"], ops["w2"], p))
    masked = run(fc2_tiles(ops["h_dense"], ops["w2"], mask, p))
    partial = cached_partial(dense, masked, p.acc_width)
    fc2 = sparse_fc2(partial, run(fc2_tiles(ops["h"], ops["w2"], mask, p)), p.acc_width)
    assert np.array_equal(fc1, want["fc1"])
    assert np.array_equal(partial, want["partial"])
    assert np.array_equal(fc2, want["fc2"])


@pytest.mark.parametrize("lanes", [1, 2, 4])
@pytest.mark.parametrize("density", [0.0, 0.05, 0.3, 1.0])
def test_plans_with_golden_tiles(lanes, density, seed):
    rng = np.random.default_rng(seed)
    p = SystolicParams(rows=4, cols=3, lanes=lanes)
    _check_step(p, _ops(rng, 9, 5, 17, density), _golden_engine(p))


def test_merging_saves_beats(seed):
    rng = np.random.default_rng(seed)
    ops = _ops(rng, 16, 4, 64, 0.08)
    beats = {d: (fc1_tiles(ops["x"], ops["w1"], ops["mask"], SystolicParams(rows=8, cols=8, lanes=d)).beats,
                 fc2_tiles(ops["h"], ops["w2"], ops["mask"], SystolicParams(rows=8, cols=8, lanes=d)).beats)
             for d in (1, 4)}
    assert beats[4][0] < beats[1][0] and beats[4][1] < beats[1][1]


@pytest.mark.parametrize("lanes", [1, 4])
def test_sparse_step_on_rtl(lanes, seed):
    rng = np.random.default_rng(seed)
    p = SystolicParams(rows=3, cols=3, lanes=lanes, dsp_pes=4)
    ops = _ops(rng, 7, 4, 10, 0.25)
    ops["mask"][2] = True                      # a dense row
    _check_step(p, ops, _rtl_engine(p, seed))
