"""Sign-off of the eager predictor's emitted Verilog with Verilator and cocotb,
on random vectors and on real operands from the DiT trace."""

import pytest

from hw.eager import LogDotParams
from hw.row_select import RowSelectParams
from sim.runner import run_unit

pytestmark = pytest.mark.cocotb


def test_logdot_stage1():
    # 16 lanes x 4 beats: the 64-element rows of X and columns of Wq/Wk
    run_unit("logdot", LogDotParams(lanes=16, width=8, k=2, max_beats=4), "sim.tb_logdot")



@pytest.mark.parametrize("k, rounding", [(1, "truncate"), (2, "truncate"), (2, "signed")])
def test_logdot_lane_exhaustive(k, rounding):
    # every int8 pair through one lane (magnitude, LOD, shifts, the one-tree result);
    # rounding changes only what a lane keeps, so the trees behind it are covered
    # by the other configurations (half-up, and every rounding on 6-bit pairs, in
    # tests/test_eager.py)
    run_unit("logdot", LogDotParams(lanes=1, width=8, k=k, max_beats=1, split=False,
                                    rounding=rounding), "sim.tb_logdot")


def test_logdot_stage2():
    # Qp, Kp (up to 22 bits) of one 16-wide head in four beats of four lanes, into
    # separate pos/neg accumulators. The predictor's own 16-lane, one-beat stage 2
    # (one signed result) is signed off in test_eager_predictor.
    run_unit("logdot", LogDotParams(lanes=4, width=24, k=2, max_beats=4), "sim.tb_logdot")


@pytest.mark.parametrize("mode", ["max_relative", "top_k"])
def test_rowselect(mode):
    run_unit("rowselect", RowSelectParams(score_width=48, row=256, mode=mode, top_k=32),
             "sim.tb_rowselect")


def test_eager_predictor():
    """Both stages and the selector composed, at the DiT's shape (T 256, d 64, dh 16):
    random heads back to back and a DiT head against EagerPrediction.predict."""
    from hw.eager_predictor import EagerParams
    run_unit("eager", EagerParams(), "sim.tb_eager_predictor")
