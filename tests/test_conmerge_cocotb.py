"""Sign-off of ConMerge's emitted Verilog with Verilator and cocotb."""

import pytest

from hw.conmerge import ConMergeParams
from sim.runner import run_unit

pytestmark = pytest.mark.cocotb


def test_conmerge_16x16():
    # 16 x 16 slots, FC1 masks of 256 columns: every tile of the real mask.
    # (D = 1, condense only, is signed off in the Amaranth tests.)
    run_unit("conmerge", ConMergeParams(rows=16, cols=16, lanes=4, index_bits=8),
             "sim.tb_conmerge")
