"""The benchmark machinery measures what the golden cycle model predicts.

This is a functional check of the benchmark path on a small array, not a
timed test: the figures themselves come from `exdisc bench systolic`.
"""

import pytest

from hw.systolic import SystolicParams
from sim.bench import bench_systolic


@pytest.mark.cocotb
def test_bench_systolic_matches_model():
    result = bench_systolic(SystolicParams(rows=4, cols=4), [3, 4, 9], grid=2)
    for row in result["rows"]:
        assert row["matches_model"], row
        assert row["beats"] == row["tiles"] * row["k"]
    # K = 3 is shorter than max(R, C) = 4: the array must wait, and does.
    short = result["rows"][0]
    assert short["input_rate"] < 1.0
    assert result["rows"][1]["input_rate"] == 1.0


@pytest.mark.cocotb
def test_bench_ffn_matches_model():
    """A sparse FFN step on a 4 x 4 array with merge lanes (first 10 tokens):
    every GEMM's measured cycles equal the golden cycle model's (the RTL words
    are checked inside the run), and the sparse GEMMs take fewer beats."""
    from sim.bench import bench_ffn
    result = bench_ffn(SystolicParams(rows=4, cols=4, lanes=4, dsp_pes=6), tokens=10)
    runs = result["runs"]
    for name, r in runs.items():
        assert r["cycles"] == r["model_cycles"], (name, r)
    assert runs["fc1_sparse"]["beats"] < runs["fc1_dense"]["beats"]
    assert runs["fc2_sparse"]["beats"] < runs["fc2_dense"]["beats"]
    assert 0 < runs["fc1_sparse"]["cycles_cut"] < 1 and result["tokens"] == 10


@pytest.mark.cocotb
def test_bench_router_measures_every_point():
    from sim.bench_router import TRACES, bench_router
    record = bench_router(2, per_lane=24, bank_factors=(2,), hashes=("modulo", "xor"),
                          addr_width=12)
    runs = {(r["trace"], r["hash"]): r for r in record["runs"]}
    assert set(runs) == {(t, h) for t in TRACES for h in ("modulo", "xor")}
    for r in runs.values():
        assert r["requests"] == 2 * 24 and 0 < r["rate"] <= 1.0
        assert r["latency_p50"] >= 6
    # Stride of B words: one bank under modulo (one request per cycle for both
    # lanes together), every bank under xor.
    assert runs["stride_B", "modulo"]["rate"] <= 0.5 + 0.05
    assert runs["stride_B", "xor"]["rate"] > 0.9


def test_conmerge_figures_are_ordered(seed):
    import numpy as np
    from sim.bench_conmerge import fc1_figures, fc2_figures
    rng = np.random.default_rng(seed)
    mask = rng.random((40, 96)) < 0.1
    mask[3, :40] = True            # one dense row: the row bound exceeds the plain one
    for f in (fc1_figures(mask, 8, 8, (2, 4)), fc2_figures(mask, 8, 8, (2, 4))):
        for d in (2, 4):
            assert f["bound"] < f["row_bound"] <= f[f"merged_d{d}"] <= f["condensed"] <= f["dense"]
    # FC2 beats: every set bit is computed once per beat it occupies.
    f2 = fc2_figures(mask, 8, 8, (1,))
    assert f2["merged_d1"] == f2["condensed"]


def test_router_traces_follow_the_word_width():
    """The gathers are cut into the router's words: a 4x narrower word is 4x
    the words over the same bytes; a word that does not divide a key is
    rejected by name."""
    from hw.router import RouterParams
    from sim.bench_router import router_traces
    wide = router_traces(RouterParams(lanes=4, banks=8, addr_width=14, data_width=32), 64)
    narrow = router_traces(RouterParams(lanes=4, banks=8, addr_width=14, data_width=8), 256)
    for name in ("ctr", "st"):
        span_wide = max(max(lane) for lane in wide[name]) + 1
        span_narrow = max(max(lane) for lane in narrow[name]) + 1
        assert span_narrow == 4 * span_wide, name
    with pytest.raises(ValueError, match="data_width.*12"):
        router_traces(RouterParams(lanes=4, banks=8, addr_width=14, data_width=12), 16)
