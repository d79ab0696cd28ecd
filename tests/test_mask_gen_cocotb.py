"""Sign-off of the mask generator's emitted Verilog with Verilator and cocotb:
random and extreme rows and the DiT's real FC1 accumulators."""

import pytest

from exdisc.hw.mask_gen import MaskGenParams
from exdisc.sim.harness.signoff import signoff


@pytest.mark.cocotb
def test_mask_gen_signoff():
    run = signoff("mask", MaskGenParams(cols=16, acc_width=32))
    assert run.passed == ["mask_gen_random", "mask_gen_dit_fc1"]
