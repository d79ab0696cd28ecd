"""The eager predictor's row selector in the Amaranth simulator, against its
golden twin (:mod:`exdisc.golden.eager_rowselect`)."""

import random

import pytest

from exdisc.hw.eager_rowselect import RowSelectParams, RowSelector
from exdisc.sim.harness.pysim import run_stream_unit, valid_cycles
from exdisc.sim.stimulus.eager_rowselect import select_rows


def _run(dut, layout, beats, count, rng):
    return run_stream_unit(dut, {"i": beats}, count, rng, valid_prob=0.7, ready_prob=0.6,
                           layout=layout)[0]


@pytest.mark.parametrize("mode", ["max_relative", "top_k"])
def test_row_selector_latency(mode):
    p = RowSelectParams(score_width=10, row=4, mode=mode, top_k=2)
    theta = {"theta": 4} if mode == "max_relative" else {}
    beats = [{"score": v, "last": int(n == 3), **theta} for n, v in enumerate([5, -3, 7, 1])]
    seen = valid_cycles(RowSelector(p), beats, 12)
    assert seen[0] == p.latency and len(seen) == 4


@pytest.mark.parametrize("mode,top_k", [("max_relative", 1), ("top_k", 1), ("top_k", 4),
                                        ("top_k", 8)])
def test_row_selector_random(mode, top_k, seed):
    p = RowSelectParams(score_width=10, row=8, mode=mode, top_k=top_k)
    rng = random.Random(seed)
    rows = select_rows(p, rng, 80)
    beats = [b for row, _ in rows for b in row]
    want = [k for _, keep in rows for k in keep]
    got = _run(RowSelector(p), p.out_layout, beats, len(want), rng)
    assert got == want


def test_parameters_are_validated():
    with pytest.raises(ValueError, match="mode"):
        RowSelectParams(mode="median")
    with pytest.raises(TypeError, match="row"):
        RowSelectParams(row=2.5)
