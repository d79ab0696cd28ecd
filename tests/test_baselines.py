"""The stored baselines: each still holds for today's netlist (its digest),
and the comparison catches regressions. No tool runs here."""

import copy
import json
import pathlib

import pytest

from exdisc.hw.lod import LODParams
from exdisc.hw.presets import get_preset
from exdisc.synth import baselines
from exdisc.synth.baselines import (BASELINE_SPEED, GENERIC_MODEL, compare, current_netlist,
                                    load_baseline, not_compared, save_baseline, stored_baselines)
from exdisc.synth.flow import SynthResult, netlist_digest
from test_synth import REPRODUCED, _id


BASELINES = stored_baselines()


@pytest.mark.parametrize("unit_name, params", BASELINES, ids=[_id(b) for b in BASELINES])
def test_baseline_was_measured_on_this_netlist(unit_name, params):
    """Every stored baseline was measured on the design and flow that exist
    now; after a change, `exdisc baseline --stale` measures the designs it
    touched again (and `--update` stores them)."""
    record = load_baseline(unit_name, params)
    assert "netlist" in record, (f"{record['module']}: recorded before netlists were tracked; "
                                 "run exdisc baseline --stale --update")
    now = current_netlist(unit_name, params, record)
    assert now == record["netlist"], (
        f"{record['module']}: the netlist or flow changed since its baseline was measured "
        f"({record['netlist']} -> {now}); run exdisc baseline --stale (--update to store)")


def test_a_stored_check_holds_only_for_the_sources_it_was_made_from(tmp_path, monkeypatch):
    """A digest from the checks file is trusted only under its key: another
    source, parameter or option elaborates again."""
    unit_name, params = "lod", LODParams(width=16, k=1)
    record = load_baseline(unit_name, params)
    checks = tmp_path / "checks.json"
    monkeypatch.setattr(baselines, "CHECKS_PATH", checks)
    key = baselines._check_key(unit_name, params, record)
    checks.write_text(json.dumps({record["module"]: {"key": key, "netlist": "stored"}}))
    assert current_netlist(unit_name, params, record) == "stored"
    elaborated = netlist_digest(unit_name, params, **record["options"])
    reseeded = {**record, "options": {**record["options"], "seed": 2}}
    assert current_netlist(unit_name, params, reseeded) != "stored"
    monkeypatch.setattr(baselines, "_sources_digest", lambda: "an edited source tree")
    assert current_netlist(unit_name, params, record) == elaborated
    other = LODParams(width=16, k=1, registered=True)
    assert baselines._check_key(unit_name, other, record) != key


def test_the_source_digest_reads_the_design_and_the_flow():
    """Every module that elaboration or the flow's inputs come from is in it."""
    import exdisc.hw.core.gemm
    import exdisc.hw.platform
    import exdisc.synth.wrapper
    read = {path.resolve() for _, path in baselines._source_files()}
    for module in (exdisc.hw.core.gemm, exdisc.hw.platform, exdisc.synth.wrapper,
                   exdisc.synth.flow):
        assert pathlib.Path(module.__file__).resolve() in read, module.__name__


def test_reproduced_designs_have_baselines():
    # test_flow_units reproduces the units preset's points
    for unit_name, params in REPRODUCED + get_preset("units"):
        assert load_baseline(unit_name, params) is not None, (unit_name, params)


def test_every_baseline_is_of_the_current_generic_model():
    for unit_name, params in BASELINES:
        record = load_baseline(unit_name, params)
        skipped = not_compared(record)
        if record.get("options", {}).get("generic", True) is False:
            # recorded without generic synthesis (--no-generic): it has none to compare
            assert record["metrics"]["gates"] is None, record["module"]
            skipped = [m for m in skipped if m not in ("gates", "transistors", "logic_depth")]
        assert not skipped, f"{record['module']}: re-record with exdisc baseline --update"


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
