"""Stored synthesis baselines with tolerances.

A baseline is a JSON file in ``synth/baselines/`` per unit and parameter
point, holding the metrics of a :class:`synth.flow.SynthResult` and the
tolerances a later run must stay within: cell counts may grow by at most
``cells`` (a fraction, at least ``cells_abs`` cells), Fmax may drop by at most
``fmax`` (a fraction), logic depth may grow by at most ``depth`` gates.
Fmax comes from one nextpnr seed: placer seeds move it by about 4 %, and a
change that only reorders the netlist moved the 4 x 4 engine by 11 %
(195 to 173 MHz, same cells), hence 15 %.
Updating one is an explicit command (``exdisc synth ... --update-baseline``
or ``exdisc baseline --update``); tests only compare.
"""

import datetime
import json
import pathlib

from hw.units import get_unit
from .flow import DEVICE


__all__ = ["BASELINE_DIR", "DEFAULT_TOLERANCE", "GENERIC_MODEL", "baseline_path",
           "load_baseline", "save_baseline", "compare", "not_compared", "stored_baselines"]


BASELINE_DIR = pathlib.Path(__file__).resolve().parent / "baselines"
DEFAULT_TOLERANCE = {"cells": 0.05, "cells_abs": 4, "fmax": 0.15, "depth": 2}
_CELL_METRICS = ("lut4", "ff", "ccu2c", "mult18", "bram", "gates", "transistors")
# Version of the technology-independent view (gates, transistors, depth).
# 2: flip-flops with an enable or a synchronous reset are lowered to plain
# D flip-flops and gates before gate mapping; model 1 left them as cells
# that ``stat -tech cmos`` does not count, so most flip-flops cost nothing.
# Baselines of another model are not compared on those metrics.
GENERIC_MODEL = 2
# Speed grade every baseline is timed at: the flow's default, the slowest
# (older files without a "speed" field were too).
BASELINE_SPEED = DEVICE["speed"]
_GENERIC_METRICS = ("gates", "transistors", "logic_depth")


def baseline_path(unit_name, params):
    return BASELINE_DIR / f"{get_unit(unit_name).module_name(params)}.json"


def load_baseline(unit_name, params):
    path = baseline_path(unit_name, params)
    return json.loads(path.read_text()) if path.exists() else None


def save_baseline(result, tolerance=None):
    """Store ``result`` (a SynthResult with P&R) as the baseline of its point."""
    if result.fmax_mhz is None:
        raise ValueError("a baseline needs place and route (Fmax); run without --no-pnr")
    if result.speed != BASELINE_SPEED:
        raise ValueError(f"baselines are timed at speed grade {BASELINE_SPEED}; "
                         f"not stored at speed {result.speed!r}")
    record = {
        "unit": result.unit,
        "module": result.module,
        "params": result.params,
        "device": result.device,
        "speed": result.speed,
        "metrics": result.metrics(),
        "floorplan": result.floorplan,
        "generic_model": GENERIC_MODEL,
        "tolerance": dict(tolerance or DEFAULT_TOLERANCE),
        "tools": result.tools,
        "seconds": {k: round(v, 1) for k, v in result.seconds.items()},
        "recorded": datetime.date.today().isoformat(),
    }
    path = BASELINE_DIR / f"{result.module}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def not_compared(baseline, speed=None):
    """Metrics :func:`compare` skips: the technology-independent ones when
    ``baseline`` was recorded with another :data:`GENERIC_MODEL`, and Fmax
    when ``speed`` (the result's speed grade) is not the baseline's."""
    skip = [] if baseline.get("generic_model", 1) == GENERIC_MODEL else list(_GENERIC_METRICS)
    if speed is not None and speed != baseline.get("speed", BASELINE_SPEED):
        skip.append("fmax_mhz")
    return skip


def compare(result, baseline):
    """Regressions of ``result`` against ``baseline`` as readable strings;
    empty when within tolerance (metrics in :func:`not_compared` aside)."""
    tol = {**DEFAULT_TOLERANCE, **baseline.get("tolerance", {})}
    base = baseline["metrics"]
    now = result.metrics()
    problems = []
    skip = not_compared(baseline, result.speed)
    for name in _CELL_METRICS:
        if name in skip:
            continue
        limit = max(base[name] * (1 + tol["cells"]), base[name] + tol["cells_abs"])
        if now[name] > limit:
            problems.append(f"{name} {now[name]} > {base[name]} (+{tol['cells']:.0%} "
                            f"or +{tol['cells_abs']} allowed)")
    if "logic_depth" not in skip and now["logic_depth"] > base["logic_depth"] + tol["depth"]:
        problems.append(f"logic_depth {now['logic_depth']} > {base['logic_depth']} "
                        f"(+{tol['depth']} allowed)")
    if "fmax_mhz" not in skip and base.get("fmax_mhz") and now["fmax_mhz"] is not None:
        floor = base["fmax_mhz"] * (1 - tol["fmax"])
        if now["fmax_mhz"] < floor:
            problems.append(f"fmax {now['fmax_mhz']:.1f} MHz < {floor:.1f} MHz "
                            f"({base['fmax_mhz']:.1f} - {tol['fmax']:.0%})")
    return problems


def stored_baselines(max_seconds=None):
    """(unit name, params object) of every stored baseline; with
    ``max_seconds``, only those whose tools ran at most that long when
    recorded (the test suite checks those, ``exdisc baseline`` all)."""
    out = []
    for path in sorted(BASELINE_DIR.glob("*.json")):
        record = json.loads(path.read_text())
        if max_seconds is not None and sum(record.get("seconds", {}).values()) > max_seconds:
            continue
        unit = get_unit(record["unit"])
        out.append((record["unit"], unit.params(**record["params"])))
    return out
