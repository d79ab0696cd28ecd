"""Sign-off of the emitted systolic-array Verilog with Verilator and cocotb."""

import pytest

from hw.systolic import SystolicParams
from sim.runner import run_unit


@pytest.mark.cocotb
@pytest.mark.parametrize("params", [
    SystolicParams(rows=4, cols=4, dsp_pes=6),
    SystolicParams(rows=4, cols=4, mul_stages=2, dsp_pes=0, acc_width=20),
    SystolicParams(rows=16, cols=16),
], ids=lambda p: p.slug())
def test_systolic(params):
    run_unit("systolic", params, "sim.tb_systolic")
