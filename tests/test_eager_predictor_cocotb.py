"""Sign-off of the composed eager predictor's emitted Verilog (Verilator, cocotb)."""

import pytest

from exdisc.hw.eager_predictor import EagerParams
from exdisc.sim.harness.signoff import signoff

pytestmark = pytest.mark.cocotb


def test_eager_predictor():
    """Both stages and the selector composed, at the DiT's shape (T 256, d 64, dh 16):
    random heads back to back and a DiT head against EagerPrediction.predict."""
    signoff("eager", EagerParams())
