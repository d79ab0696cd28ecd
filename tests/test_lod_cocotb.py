"""Sign-off of the emitted LOD Verilog with Verilator and cocotb."""

import pytest

from hw.lod import LODParams
from sim.runner import run_unit


@pytest.mark.cocotb
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("registered", [False, True])
def test_lod_w32(k, registered):
    run_unit("lod", LODParams(width=32, k=k, registered=registered), "sim.tb_lod")
