"""Sign-off of the core's emitted Verilog with Verilator and cocotb: random
programs, a malformed descriptor, and a block of the project's DiT from the
recorded run, every byte of external memory against the golden core model."""

import pytest

from exdisc.hw.core.params import CoreParams
from exdisc.sim.harness.signoff import signoff

#: A 4 x 4 core whose buffers hold a 16-token block of the DiT.
SIGNOFF = CoreParams(width=256, act_rows=256, wgt_rows=512, acc_rows=512, mask_rows=64,
                     max_len=256, dram_bytes=1 << 18, array_rows=4, array_cols=4, nl_lanes=4)


@pytest.mark.cocotb
def test_core_signoff():
    run = signoff("core", SIGNOFF)
    assert run.passed == ["core_random", "core_malformed", "core_dit_block"]


@pytest.mark.cocotb
def test_bench_core_rtl():
    """``exdisc bench core``'s RTL run at the sign-off core (its Verilator
    model reused): a 16-token block, the cycles accounted for, and its table."""
    from exdisc.sim.benchmarks import core
    r = core.rtl_cycles(SIGNOFF, layer=1, tokens=16)
    assert r["cycles"] >= r["engine_beats"] > 0
    assert r["by_op"]["GEMM"] >= r["engine_beats"]
    assert set(r["by_op"]) == set(r["estimate"]["by_op"])
    assert sum(r["queues_busy"].values()) == sum(r["by_op"].values())
    assert len(core.tables({"rtl": r})) == 1
