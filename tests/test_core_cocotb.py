"""The core's emitted Verilog on Verilator: ``exdisc bench core``'s RTL run.
The core's sign-off (random programs, a malformed descriptor, a block of the
project's DiT from the recorded run, every byte of external memory against
the golden core model) is `make flow`'s main job, and
test_flow.py::test_flow_default_signs_off_the_core runs it on the same
Verilator model."""

import pytest

from exdisc.hw.presets import get_preset

#: The default preset's core (8 x 8, buffers for a 16-token block of the DiT):
#: the model `make flow` signs off, built once for both.
[(_, SIGNOFF)] = get_preset("default")


@pytest.mark.cocotb
def test_bench_core_rtl():
    """``exdisc bench core``'s RTL run at the sign-off core (its Verilator
    model reused): a 16-token block, the cycles accounted for, and its table."""
    from exdisc.sim.benchmarks import core
    r = core.rtl_cycles(SIGNOFF, layer=1, tokens=16)
    assert r["cycles"] >= r["engine_beats"] > 0
    assert r["by_op"]["GEMM"] >= r["engine_beats"]
    assert set(r["by_op"]) == set(r["model"]["by_op"])
    # the model times descriptors alone: overlapping ones can only take longer
    assert all(lost >= 0 for lost in r["model"]["lost"].values())
    assert sum(r["model"]["lost"].values()) == (sum(r["by_op"].values())
                                                 - sum(r["model"]["by_op"].values()))
    assert 0 < r["model"]["exact"] <= r["descriptors"]
    assert sum(r["queues_busy"].values()) == sum(r["by_op"].values())
    assert len(core.tables({"rtl": r})) == 1
