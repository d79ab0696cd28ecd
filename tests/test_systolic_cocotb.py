"""Sign-off of the emitted systolic-array Verilog with Verilator and cocotb.

Small arrays cover every kind of PE (DSP and LUT multipliers, merge lanes,
each pipelining) and the output queue's wide form (9 or more 36-bit slices,
as at 16 x 16); the 16 x 16 array itself is word-checked on the DiT's tiles
by `exdisc bench systolic` and `exdisc bench ffn`.
"""

import pytest

from exdisc.hw.platform import ECP5
from exdisc.hw.systolic import SystolicParams
from exdisc.sim.harness.signoff import signoff


@pytest.mark.cocotb
@pytest.mark.parametrize("params", [
    # (the 4 x 4 array with DSP PEs at one lane, `exdisc sim systolic`'s default, is
    # the merged array's below without its lane selects)
    SystolicParams(rows=4, cols=4, mul_stages=2, dsp_pes=0, acc_width=20),
    # 10 columns: a 321-bit result row, 9 queue slices (ready through a pop LUT each)
    SystolicParams(rows=4, cols=10, mul_stages=3, dsp_pes=20),
    SystolicParams(rows=4, cols=4, lanes=4, dsp_pes=6),
], ids=lambda p: p.slug())
def test_systolic(params):
    run = signoff("systolic", params)
    expected_skips = set() if params.merged else {"merged_random_tiles"}
    if params.width != 8:
        expected_skips.add("dit_fc1_and_qkv_tiles")
    assert {name for name, _ in run.skipped} == expected_skips


@pytest.mark.cocotb
@pytest.mark.parametrize("params", [
    SystolicParams(rows=3, cols=4, dsp_pes=7),
    SystolicParams(rows=3, cols=3, dsp_pes=5, mul_stages=3, lanes=2),
], ids=lambda p: p.slug())
def test_systolic_ecp5_primitives(params):
    """The ECP5 elaboration (registered MULT18X18D in the DSP PEs, LUT
    multipliers in the others) is cycle-exact with the golden model too."""
    signoff("systolic", params, platform=ECP5)
