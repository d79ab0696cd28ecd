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
