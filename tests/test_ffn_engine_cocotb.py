"""Sign-off of the emitted FFN-engine Verilog (array and output path) with
Verilator and cocotb: whole FFN-Reuse steps, the mask and every add in RTL."""

import pytest

from exdisc.hw.ffn_engine import FFNEngineParams
from exdisc.hw.platform import ECP5
from exdisc.sim.harness.signoff import signoff


@pytest.mark.cocotb
@pytest.mark.parametrize("params", [
    FFNEngineParams(rows=4, cols=4, lanes=4, dsp_pes=6),
    # 10 columns: the output queue's wide form, as at 16 x 16; LUT PEs beside DSP ones
    FFNEngineParams(rows=4, cols=10, dsp_pes=20),
], ids=lambda p: p.slug())
def test_ffn_engine(params):
    run = signoff("ffn", params)
    assert run.passed == ["output_path_random", "ffn_reuse_masks", "ffn_reuse_dit"]


@pytest.mark.cocotb
def test_ffn_engine_ecp5_primitives():
    """The ECP5 elaboration (DSP PEs, block-RAM output queue) with merge lanes."""
    signoff("ffn", FFNEngineParams(rows=3, cols=3, lanes=2, dsp_pes=4), platform=ECP5)
