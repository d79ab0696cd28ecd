"""Sign-off of CTR's decision unit's emitted Verilog (Verilator, cocotb), on
random steps and on a whole recorded CTR run of the DiT."""

import pytest

from exdisc.hw.ctr_select import CtrSelectParams
from exdisc.sim.harness.signoff import signoff

pytestmark = pytest.mark.cocotb


def test_ctr_select():
    run = signoff("ctrselect", CtrSelectParams())
    assert run.passed == ["ctr_select_random_backpressure", "ctr_select_dit_run"]
