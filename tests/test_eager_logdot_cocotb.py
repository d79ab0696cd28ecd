"""Sign-off of the log-domain dot product's emitted Verilog (Verilator, cocotb),
on random vectors and on real operands from the DiT trace."""

import pytest

from exdisc.hw.eager_logdot import LogDotParams
from exdisc.sim.harness.signoff import signoff

pytestmark = pytest.mark.cocotb


def test_logdot_stage1():
    # 16 lanes x 4 beats: the 64-element rows of X and columns of Wq/Wk
    run = signoff("logdot", LogDotParams(lanes=16, width=8, k=2, max_beats=4))
    assert run.passed == ["logdot_random_backpressure", "logdot_dit_trace"]


@pytest.mark.parametrize("k, rounding", [(1, "truncate"), (2, "signed")])
def test_logdot_lane_exhaustive(k, rounding):
    # every int8 pair through one lane (magnitude, LOD, shifts, the one-tree result),
    # at both k and both integer roundings; rounding changes only what a lane keeps,
    # so the trees behind it are covered by the other configurations (half-up, and
    # every rounding on 6-bit pairs, in
    # tests/test_eager_logdot.py)
    run = signoff("logdot", LogDotParams(lanes=1, width=8, k=k, max_beats=1, split=False,
                                         rounding=rounding))
    assert "logdot_exhaustive_lane" in run.passed


def test_logdot_stage2():
    # Qp, Kp (up to 22 bits) of one 16-wide head in four beats of four lanes, into
    # separate pos/neg accumulators. The predictor's own 16-lane, one-beat stage 2
    # (one signed result) is signed off in test_eager_predictor_cocotb.
    run = signoff("logdot", LogDotParams(lanes=4, width=24, k=2, max_beats=4))
    assert run.passed == ["logdot_random_backpressure", "logdot_dit_trace"]
