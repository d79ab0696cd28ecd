"""Sign-off of ExionCore's emitted Verilog with Verilator and cocotb (in a
file of its own, so that it and the core's sign-off can run on different
workers): random sparse programs, and FFN-Reuse's steps on a block of the
recorded run, every byte of external memory against the golden core model."""

import pytest

from exdisc.hw.presets import get_preset
from exdisc.sim.harness.signoff import signoff


@pytest.mark.cocotb
def test_exion_signoff():
    """ExionCore at the exion preset's sizes: random sparse programs, and
    FFN-Reuse's dense and sparse steps on a block of the recorded run, without
    and with eager prediction's masks on attention."""
    [(_, exion)] = get_preset("exion")
    run = signoff("exion", exion)
    assert run.passed == ["exion_random", "exion_ffn_reuse", "exion_eager"]
