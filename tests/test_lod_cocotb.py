"""Sign-off of the emitted LOD Verilog with Verilator and cocotb."""

import pytest

from exdisc.hw.lod import LODParams
from exdisc.sim.harness.signoff import signoff


@pytest.mark.cocotb
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("registered", [False, True])
def test_lod_w32(k, registered):
    signoff("lod", LODParams(width=32, k=k, registered=registered))
