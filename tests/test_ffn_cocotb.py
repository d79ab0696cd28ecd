"""Sign-off of the emitted FFN-engine Verilog (array and output path) with
Verilator and cocotb: whole FFN-Reuse steps, the mask and every add in RTL."""

import pytest

from hw.ffn_engine import FFNEngineParams
from hw.platform import ECP5
from sim.runner import run_unit


@pytest.mark.cocotb
@pytest.mark.parametrize("params", [
    FFNEngineParams(rows=4, cols=4, lanes=4, dsp_pes=6),
    FFNEngineParams(rows=16, cols=16),
], ids=lambda p: p.slug())
def test_ffn_engine(params):
    run_unit("ffn", params, "sim.tb_ffn")


@pytest.mark.cocotb
def test_ffn_engine_ecp5_primitives():
    """The ECP5 elaboration (DSP PEs, block-RAM output queue) with merge lanes."""
    run_unit("ffn", FFNEngineParams(rows=3, cols=3, lanes=2, dsp_pes=4), "sim.tb_ffn",
             platform=ECP5)
