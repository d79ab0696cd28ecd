"""Sign-off of DiscCore's emitted Verilog with Verilator and cocotb (in a
file of its own, so that it and the other cores' sign-offs can run on
different workers): random gathers and scatters and a bad list, and CTR's
full and reuse steps on a block of the recorded run, every byte of external
memory against the golden core model."""

import pytest

from exdisc.hw.presets import get_preset
from exdisc.sim.harness.signoff import signoff


@pytest.mark.cocotb
def test_disc_signoff():
    """DiscCore at the disc preset's sizes."""
    [(_, disc)] = get_preset("disc")
    run = signoff("disc", disc)
    assert run.passed == ["disc_random", "disc_ctr_steps", "disc_st_steps"]
