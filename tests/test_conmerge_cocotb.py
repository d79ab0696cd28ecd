"""Sign-off of ConMerge's emitted Verilog with Verilator and cocotb."""

import pytest

from exdisc.hw.conmerge import ConMergeParams
from exdisc.sim.harness.signoff import signoff

pytestmark = pytest.mark.cocotb


def test_conmerge_16x16():
    # 16 x 16 slots, FC1 masks of 256 columns: every tile of the real mask.
    # (D = 1, condense only, is signed off in the Amaranth tests.)
    run = signoff("conmerge", ConMergeParams(rows=16, cols=16, lanes=4, index_bits=8))
    assert run.passed == ["conmerge_random", "conmerge_dit_fc1_mask"]
