"""`exdisc flow` end to end on the default preset (the main job of `make flow`)."""

import json
import pathlib
import subprocess
import sys

import pytest

from exdisc.hw.presets import get_preset
from exdisc.synth.flow import SynthResult
from test_synth import check_reproduced

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.cocotb
@pytest.mark.synth
def test_flow_units(tmp_path):
    """The whole flow, synthesis against the baselines included, on the small
    units' preset (the default preset's core takes most of an hour to place
    and route: `make flow` runs it, and its baseline is stored); each point
    reproduces its baseline exactly."""
    r = subprocess.run([sys.executable, "-m", "exdisc", "flow", "--preset", "units",
                        "-o", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((tmp_path / "units" / "summary.json").read_text())
    assert [row["unit"] for row in summary] == [u for u, _ in get_preset("units")]
    for row, (_, params) in zip(summary, get_preset("units")):
        assert pathlib.Path(row["verilog"]).exists()
        assert row["sim"]["passed"] and "failed" not in row["sim"]
        assert row["synth"]["fmax_mhz"] > 0
        assert row["baseline"]["status"] == "within", row["baseline"]
        check_reproduced(SynthResult(**row["synth"]), params)
        if row["unit"] == "lod":
            assert row["formal"]["passed"]
    assert "done in" in r.stdout and "seed=" in r.stderr


@pytest.mark.cocotb
def test_flow_default_signs_off_the_core(tmp_path):
    """`make flow`'s main job up to synthesis, which is the core's cocotb
    sign-off: the default preset's core generated and run on Verilator
    (random programs, a malformed descriptor, a block of the DiT), every
    byte of external memory against the golden core model."""
    r = subprocess.run([sys.executable, "-m", "exdisc", "flow", "--preset", "default",
                        "--no-synth", "-o", str(tmp_path)], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    [row] = json.loads((tmp_path / "default" / "summary.json").read_text())
    assert row["unit"] == "core" and pathlib.Path(row["verilog"]).exists()
    assert row["sim"]["passed"] == ["core_random", "core_malformed", "core_dit_block"]


@pytest.mark.cocotb
def test_bench_core_rtl():
    """``exdisc bench core``'s RTL run on the core the flow signs off (in this
    file, so that the two share one Verilator model on one worker): a
    16-token block, the cycles accounted for, and its table."""
    from exdisc.sim.benchmarks import core
    [(_, params)] = get_preset("default")
    r = core.rtl_cycles(params, layer=1, tokens=16)
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


def test_flow_synthesizes_each_point_as_its_baseline_was(monkeypatch):
    """`exdisc flow` runs a point's synthesis with its baseline's options
    (generic synthesis or not, the target clock, the placer), and --freq and
    --placer override them; a point without a baseline is not placed and routed unless
    asked, and its unit says whether generic synthesis is worth its time."""
    import argparse
    from exdisc.cli import flow
    from exdisc.synth.flow import DEFAULT_FREQ_MHZ
    [(unit, params)] = get_preset("default")
    stored = {"options": {"freq_mhz": 50.0, "generic": False, "seed": 1, "placer": "static"}}
    monkeypatch.setattr(flow, "load_baseline", lambda u, p: stored if p == params else None)
    args = argparse.Namespace(freq=None, pnr_seed=1, speed=6, placer=None)
    how, generic = flow.synth_args(args, unit, params)
    assert (how.freq, how.placer, generic, args.freq) == (50.0, "static", False, None)
    how, _ = flow.synth_args(argparse.Namespace(freq=75.0, pnr_seed=1, speed=6, placer="heap"),
                             unit, params)
    assert (how.freq, how.placer) == (75.0, "heap")
    how, generic = flow.synth_args(args, "lod", get_preset("units")[0][1])
    assert (how.freq, how.placer, generic, how.no_pnr) == (DEFAULT_FREQ_MHZ, "heap", True, True)
    # the core without a baseline: its cells only, and no generic synthesis
    monkeypatch.setattr(flow, "load_baseline", lambda u, p: None)
    how, generic = flow.synth_args(args, unit, params)
    assert (how.no_pnr, generic) == (True, False)
    args.place_and_route = True
    assert flow.synth_args(args, unit, params)[0].no_pnr is False
