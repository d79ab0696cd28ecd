"""Sign-off of the emitted systolic-array Verilog with Verilator and cocotb."""

import pytest

from hw.platform import ECP5
from hw.systolic import SystolicParams
from sim.runner import run_unit


@pytest.mark.cocotb
@pytest.mark.parametrize("params", [
    SystolicParams(rows=4, cols=4, dsp_pes=6),
    SystolicParams(rows=4, cols=4, mul_stages=2, dsp_pes=0, acc_width=20),
    SystolicParams(rows=16, cols=16),
    # merge lanes; 16 x 16 with D = 4 runs in `exdisc bench ffn` (word-checked) and
    # `exdisc sim systolic --rows 16 --cols 16 --lanes 4`, outside make test for time
    SystolicParams(rows=4, cols=4, lanes=4, dsp_pes=6),
], ids=lambda p: p.slug())
def test_systolic(params):
    run_unit("systolic", params, "sim.tb_systolic")


@pytest.mark.cocotb
@pytest.mark.parametrize("params", [
    SystolicParams(rows=3, cols=4, dsp_pes=7),
    SystolicParams(rows=4, cols=3, dsp_pes=5, mul_stages=3),
    SystolicParams(rows=3, cols=3, dsp_pes=4, mul_stages=2, lanes=2),
], ids=lambda p: p.slug())
def test_systolic_ecp5_primitives(params):
    """The ECP5 elaboration (registered MULT18X18D in the DSP PEs, LUT
    multipliers in the others) is cycle-exact with the golden model too."""
    run_unit("systolic", params, "sim.tb_systolic", platform=ECP5)
