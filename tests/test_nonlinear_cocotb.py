"""Sign-off of the non-linear unit's emitted Verilog with Verilator and
cocotb: random rows, the edge cases and real DiT rows (whole: 256 scores,
256 FC1 accumulators, 64 residual values)."""

import pytest

from exdisc.hw.nonlinear import NonLinearParams
from exdisc.hw.platform import ECP5
from exdisc.sim.harness.signoff import signoff


@pytest.mark.cocotb
def test_nonlinear_signoff():
    run = signoff("nonlinear", NonLinearParams(lanes=8, max_len=256))
    assert run.passed == ["nonlinear_random", "nonlinear_edges", "nonlinear_dit"]


@pytest.mark.cocotb
def test_nonlinear_ecp5_primitives():
    """The ECP5 elaboration (every product on a MULT18X18D with its input and
    output registers) is cycle-exact with the golden models too."""
    run = signoff("nonlinear", NonLinearParams(lanes=4, max_len=64), platform=ECP5)
    assert run.passed == ["nonlinear_random", "nonlinear_edges", "nonlinear_dit"]
