"""Sign-off of the row selector's emitted Verilog (Verilator, cocotb), on random
rows and on rows of predicted scores from the DiT trace."""

import pytest

from exdisc.hw.eager_rowselect import RowSelectParams
from exdisc.sim.harness.signoff import signoff

pytestmark = pytest.mark.cocotb


@pytest.mark.parametrize("mode", ["max_relative", "top_k"])
def test_rowselect(mode):
    run = signoff("rowselect", RowSelectParams(score_width=48, row=256, mode=mode, top_k=32))
    assert run.passed == ["rowselect_random_backpressure", "rowselect_dit_trace"]
