"""Synthesis flow: the stored baselines hold for the current netlists, the tools
reproduce them, the report is consistent, and the comparison catches
regressions.

The tools are deterministic, so a baseline holds as long as the netlist and
flow it was measured on (its digest) are the current ones: that is checked
for every baseline by elaboration alone. The tools themselves run on a few
small designs and must give the stored numbers exactly.
"""

import copy
import json

import pytest

from exdisc.hw.eager_rowselect import RowSelectParams
from exdisc.hw.lod import LODParams
from exdisc.hw.systolic import SystolicParams
from exdisc.synth.baselines import (BASELINE_SPEED, GENERIC_MODEL, compare, load_baseline,
                                    not_compared, save_baseline, stored_baselines, verdict)
from exdisc.synth.flow import SynthResult, netlist_digest, synth_dir, synthesize


BASELINES = stored_baselines()
#: Synthesized in every `make test`, each in seconds: a LUT-only unit, one with a
#: block RAM, and a floorplanned systolic array with DSPs and its block-RAM queue.
REPRODUCED = [("lod", LODParams(width=16, k=1)),
              ("rowselect", RowSelectParams(score_width=48, row=256, top_k=32)),
              ("systolic", SystolicParams(rows=4, cols=4))]


def _id(point):
    unit_name, params = point
    return f"{unit_name}-{params.slug()}"


@pytest.mark.parametrize("unit_name, params", BASELINES, ids=[_id(b) for b in BASELINES])
def test_baseline_was_measured_on_this_netlist(unit_name, params):
    """Every stored baseline was measured on the design and flow that exist
    now; after a change, `exdisc baseline --stale` measures the designs it
    touched again (and `--update` stores them)."""
    record = load_baseline(unit_name, params)
    assert "netlist" in record, (f"{record['module']}: recorded before netlists were tracked; "
                                 "run exdisc baseline --stale --update")
    now = netlist_digest(unit_name, params, **record["options"])
    assert now == record["netlist"], (
        f"{record['module']}: the netlist or flow changed since its baseline was measured "
        f"({record['netlist']} -> {now}); run exdisc baseline --stale (--update to store)")


@pytest.mark.synth
@pytest.mark.parametrize("unit_name, params", REPRODUCED, ids=[_id(b) for b in REPRODUCED])
def test_tools_reproduce_the_baseline(unit_name, params):
    record = load_baseline(unit_name, params)
    result = synthesize(unit_name, params, **record["options"])
    assert result.netlist == record["netlist"]
    assert result.metrics() == record["metrics"], "the same netlist gave other numbers"
    assert verdict(result, params).status == "within"
    # The report is internally consistent.
    assert result.lut4 == result.ecp5_cells.get("LUT4", 0)
    assert result.mult18 == result.ecp5_cells.get("MULT18X18D", 0)
    assert result.utilisation["TRELLIS_IO"]["used"] == 5     # clk, rst, sin, load, sout
    # The wrapper's shift registers are all there (the unit's own FFs may be
    # fewer after P&R: yosys optimises across the wrapper boundary).
    wrapper_ffs = 3 * result.wrapper_bits["in"] + 2 * result.wrapper_bits["out"]
    assert result.utilisation["TRELLIS_FF"]["used"] >= wrapper_ffs
    # A systolic array's DSPs (and its queue's block RAMs) are floorplanned,
    # and nextpnr took every site (plus the clock pin's).
    if unit_name == "systolic":
        assert result.floorplan >= result.mult18 > 0
        log = (synth_dir(result.module) / "nextpnr.log").read_text()
        assert f"Placed {result.floorplan + 1} cells based on constraints" in log


def test_reproduced_designs_have_baselines():
    for unit_name, params in REPRODUCED:
        assert load_baseline(unit_name, params) is not None, (unit_name, params)


def test_every_baseline_is_of_the_current_generic_model():
    for unit_name, params in BASELINES:
        record = load_baseline(unit_name, params)
        assert not not_compared(record), \
            f"{record['module']}: re-record with exdisc baseline --update"


def test_a_changed_netlist_changes_the_digest():
    a = netlist_digest("lod", LODParams(width=16, k=1))
    assert a == netlist_digest("lod", LODParams(width=16, k=1))
    assert a != netlist_digest("lod", LODParams(width=16, k=1, registered=True))
    assert a != netlist_digest("lod", LODParams(width=16, k=1), seed=2)


def _fake_result(**overrides):
    metrics = dict(lut4=100, ff=10, ccu2c=0, mult18=0, bram=0, gates=200, transistors=800,
                   logic_depth=10, fmax_mhz=200.0)
    metrics.update(overrides)
    return SynthResult(unit="lod", module="m", params={}, device="d", ecp5_cells={},
                       transistors_exact=True, **metrics)


def test_compare_flags_regressions():
    base = {"metrics": _fake_result().metrics(), "generic_model": GENERIC_MODEL,
            "tolerance": {"cells": 0.05, "cells_abs": 4, "fmax": 0.10, "depth": 2}}
    assert compare(_fake_result(), base) == []
    assert compare(_fake_result(lut4=105), base) == []          # +5 % allowed
    assert any("lut4" in p for p in compare(_fake_result(lut4=106), base))
    assert any("fmax" in p for p in compare(_fake_result(fmax_mhz=179.0), base))
    assert compare(_fake_result(fmax_mhz=181.0), base) == []
    assert any("logic_depth" in p for p in compare(_fake_result(logic_depth=13), base))
    small = copy.deepcopy(base)
    small["metrics"]["ff"] = 2
    assert compare(_fake_result(ff=6), small) == []             # +4 cells allowed when tiny
    assert any("ff" in p for p in compare(_fake_result(ff=7), small))
    assert any("transistors" in p for p in compare(_fake_result(transistors=900), base))


def test_compare_skips_other_generic_model():
    """A baseline recorded with an older technology-independent model is not
    compared on gates, transistors and depth, and says so; cells still are."""
    old = {"metrics": _fake_result().metrics()}
    assert not_compared(old) == ["gates", "transistors", "logic_depth"]
    assert compare(_fake_result(transistors=5000, gates=900, logic_depth=30), old) == []
    assert any("lut4" in p for p in compare(_fake_result(lut4=200), old))


def test_compare_skips_fmax_at_another_speed_grade():
    """Fmax timed for a faster part is not held against a baseline of the
    slowest one (or the reverse); cells still are. Such a result is never
    stored as a baseline."""
    base = {"metrics": _fake_result().metrics(), "generic_model": GENERIC_MODEL,
            "speed": BASELINE_SPEED}
    assert any("fmax" in p for p in compare(_fake_result(fmax_mhz=100.0), base))
    fast = _fake_result(fmax_mhz=100.0, speed=8)
    assert not_compared(base, 8) == ["fmax_mhz"] and compare(fast, base) == []
    assert any("lut4" in p for p in compare(_fake_result(lut4=200, speed=8), base))
    with pytest.raises(ValueError, match="speed grade 6; not stored at speed 8"):
        save_baseline(fast)


@pytest.mark.parametrize("speed, error", [(9, ValueError), (5, ValueError), (True, TypeError),
                                          ("8", TypeError)])
def test_synthesize_rejects_speed(speed, error):
    with pytest.raises(error, match=f"parameter 'speed'.*{speed!r}"):
        synthesize("lod", LODParams(width=16, k=1), pnr=True, speed=speed)


@pytest.mark.parametrize("floorplan", [1, "yes", None])
def test_synthesize_rejects_floorplan(floorplan):
    with pytest.raises(TypeError, match=f"parameter 'floorplan'.*{floorplan!r}"):
        synthesize("lod", LODParams(width=16, k=1), pnr=True, floorplan=floorplan)


@pytest.mark.synth
def test_speed_grade_reaches_nextpnr():
    """The same netlist timed for a -8 part runs faster than for a -6 (speed
    8 delays are about a quarter shorter: the W = 16, k = 2 LOD gave 236.7
    against 174.0 MHz when measured)."""
    params = LODParams(width=16, k=1)
    slow = synthesize("lod", params, speed=6, log=lambda s: None)
    fast = synthesize("lod", params, speed=8, log=lambda s: None)
    assert (slow.speed, fast.speed) == (6, 8)
    assert fast.fmax_mhz > slow.fmax_mhz * 1.1, (slow.fmax_mhz, fast.fmax_mhz)


@pytest.mark.synth
def test_wrapper_counts_ports():
    result = synthesize("lod", LODParams(width=16, k=2), pnr=False)
    # i: payload 16 + valid; o: ready. Out: i.ready, o.valid, payload 2*4 + 2.
    assert result.wrapper_bits == {"in": 18, "out": 12}
    assert result.fmax_mhz is None


@pytest.mark.synth
def test_lut_attribution_accounts_for_every_lut():
    """Every LUT4 of the mapped netlist is charged to the registers it feeds,
    and a registered unit's LUTs go to its own output register."""
    from exdisc.synth.attribution import lut_attribution
    result = synthesize("lod", LODParams(width=16, k=2, registered=True), pnr=False)
    netlist = synth_dir(result.module) / "wrapped.json"
    cells = json.loads(netlist.read_text())["modules"]["wrapped"]["cells"].values()
    luts = sum(1 for cell in cells if cell["type"] == "LUT4")
    counts = lut_attribution(netlist)
    assert sum(counts.values()) == pytest.approx(luts)
    # The unit's LUTs (its own count, less rounding across the wrapper) feed o.payload.
    assert counts["o__payload"] >= 0.9 * result.lut4


@pytest.mark.synth
@pytest.mark.parametrize("rounding", ["signed", "truncate"])
def test_area_floors_remove_only_the_lane_logic(rounding):
    """An area floor keeps every flip-flop of its unit (so that the difference
    is lane logic, not registers that synthesis dropped) and costs less."""
    from exdisc.hw.dot import DotParams
    from exdisc.hw.eager_logdot import LogDotParams
    from exdisc.hw.units import AREA_FLOORS
    quiet = dict(pnr=False, log=lambda s: None)
    log = LogDotParams(lanes=4, width=8, k=2, max_beats=2, encoded=True, split=False,
                       rounding=rounding)
    mac = DotParams(lanes=4, width=8, max_beats=2)
    for name, params in (("logdot", log), ("dot", mac)):
        unit = synthesize(name, params, **quiet)
        floor = synthesize(AREA_FLOORS[f"{name}_floor"], params, **quiet)
        assert floor.unit == f"{name}_floor" and floor.module != unit.module
        assert floor.ff == unit.ff, name
        assert floor.transistors < unit.transistors, name


@pytest.mark.parametrize("change, error", [
    ({"k": 1}, "parameter 'k' of an area floor must be 2, not 1"),
    ({"encoded": False}, "parameter 'encoded' of an area floor must be True"),
])
def test_area_floor_rejects_what_it_cannot_bound(change, error):
    from exdisc.hw.eager_logdot import LogDotAreaFloor, LogDotParams
    params = dict(lanes=4, k=2, encoded=True, split=False, rounding="truncate")
    with pytest.raises(ValueError, match=error):
        LogDotAreaFloor(LogDotParams(**{**params, **change}))
