"""Stored synthesis baselines with tolerances.

A baseline is a JSON file in ``synth/baselines/`` per unit and parameter
point, holding the metrics of a :class:`exdisc.synth.flow.SynthResult`, the
digest of the netlist and flow they were measured on
(:func:`exdisc.synth.flow.netlist_digest`), and the tolerances a later run
must stay within: cell counts may grow by at most ``cells`` (a fraction, at
least ``cells_abs`` cells), Fmax may drop by at most ``fmax`` (a fraction),
logic depth may grow by at most ``depth`` gates. Fmax comes from one nextpnr
seed: placer seeds move it by a few percent, and a change that only reorders
a netlist can move it by more than ten, hence 15 %.

The tools are deterministic: a design whose digest is its baseline's gives
the baseline's numbers exactly, so ``make test`` checks the digest of every
baseline and re-runs the tools only on a few small designs, to show that
they still reproduce what is stored. A design whose netlist changed is
measured again with ``exdisc baseline --stale``, and stored with
``--update``; tests only compare.

A digest needs the design elaborated, which takes a minute for a core.
Elaboration is deterministic too, so ``exdisc baseline --stale --update``
also stores, in :data:`CHECKS_PATH`, the digest it elaborated for each
point under a key of everything the elaboration reads (the sources of
``hw/`` and ``synth/``, the parameters, the options, the tool versions):
while the key holds, the digest is known without elaborating again.
"""

import dataclasses
import datetime
import functools
import hashlib
import json
import pathlib

import exdisc.hw
from exdisc.hw.units import get_unit
from exdisc.common.workdir import source_root
from . import flow
from .flow import DEVICE, netlist_digest


__all__ = ["BASELINE_DIR", "DEFAULT_TOLERANCE", "GENERIC_MODEL", "BASELINE_SPEED", "Verdict",
           "baseline_path", "load_baseline", "save_baseline", "compare", "not_compared",
           "verdict", "stored_baselines", "stale_baselines", "current_netlist", "CHECKS_PATH"]


BASELINE_DIR = pathlib.Path(__file__).resolve().parent / "baselines"
# Beside the baselines rather than among them: every *.json there is one.
CHECKS_PATH = BASELINE_DIR.parent / "baseline_checks.json"
DEFAULT_TOLERANCE = {"cells": 0.05, "cells_abs": 4, "fmax": 0.15, "depth": 2}
_CELL_METRICS = ("lut4", "ff", "ccu2c", "mult18", "bram", "gates", "transistors")
# Version of the technology-independent view (gates, transistors, depth).
# 2: flip-flops with an enable or a synchronous reset are lowered to plain
# D flip-flops and gates before gate mapping; model 1 left them as cells
# that ``stat -tech cmos`` does not count, so most flip-flops cost nothing.
# Baselines of another model are not compared on those metrics.
GENERIC_MODEL = 2
# Speed grade every baseline is timed at: the flow's default, the slowest.
BASELINE_SPEED = DEVICE["speed"]
_GENERIC_METRICS = ("gates", "transistors", "logic_depth")


def baseline_path(unit_name, params):
    return BASELINE_DIR / f"{get_unit(unit_name).module_name(params)}.json"


def load_baseline(unit_name, params):
    path = baseline_path(unit_name, params)
    return json.loads(path.read_text()) if path.exists() else None


def save_baseline(result, tolerance=None):
    """Store ``result`` (a SynthResult with P&R, timed at the baseline speed
    grade) as the baseline of its point, in the source checkout."""
    if result.fmax_mhz is None:
        raise ValueError("a baseline needs place and route (Fmax); run without --no-pnr")
    if result.speed != BASELINE_SPEED:
        raise ValueError(f"baselines are timed at speed grade {BASELINE_SPEED}; "
                         f"not stored at speed {result.speed!r}")
    if source_root() is None:
        raise ValueError("baselines are files of a source checkout of exdisc (synth/baselines/); "
                         "this copy is installed, not checked out")
    record = {
        "unit": result.unit,
        "module": result.module,
        "params": result.params,
        "device": result.device,
        "speed": result.speed,
        "metrics": result.metrics(),
        "floorplan": result.floorplan,
        # not compared: what the metrics are made of, for the reader
        **({"parts": result.parts} if result.parts else {}),
        **({"critical_path": result.critical_path} if result.critical_path else {}),
        "netlist": result.netlist,
        "options": result.options,
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
    if baseline["metrics"].get("gates") is None:       # recorded without generic synthesis
        skip = list(_GENERIC_METRICS)
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
        if name in skip or now[name] is None:
            continue
        limit = max(base[name] * (1 + tol["cells"]), base[name] + tol["cells_abs"])
        if now[name] > limit:
            problems.append(f"{name} {now[name]} > {base[name]} (+{tol['cells']:.0%} "
                            f"or +{tol['cells_abs']} allowed)")
    if "logic_depth" not in skip and now["logic_depth"] is not None \
            and now["logic_depth"] > base["logic_depth"] + tol["depth"]:
        problems.append(f"logic_depth {now['logic_depth']} > {base['logic_depth']} "
                        f"(+{tol['depth']} allowed)")
    if "fmax_mhz" not in skip and base.get("fmax_mhz") and now["fmax_mhz"] is not None:
        floor = base["fmax_mhz"] * (1 - tol["fmax"])
        if now["fmax_mhz"] < floor:
            problems.append(f"fmax {now['fmax_mhz']:.1f} MHz < {floor:.1f} MHz "
                            f"({base['fmax_mhz']:.1f} - {tol['fmax']:.0%})")
    return problems


@dataclasses.dataclass
class Verdict:
    """A result held against its stored baseline.

    Members
    -------
    status : str
        ``"within"``, ``"regression"``, ``"none"`` (no baseline stored) or
        ``"unchecked"`` (no place and route).
    text : str
        One line for the user.
    """
    status: str
    text: str

    @property
    def regression(self):
        return self.status == "regression"


def verdict(result, params):
    """The :class:`Verdict` of ``result`` (of the unit at ``params``)."""
    base = load_baseline(result.unit, params)
    if base is None:
        return Verdict("none", "no stored baseline")
    if result.fmax_mhz is None:
        return Verdict("unchecked", "baseline not checked (no place and route)")
    problems = compare(result, base)
    if problems:
        return Verdict("regression", "REGRESSION: " + "; ".join(problems))
    text = "within baseline"
    if base.get("netlist") == result.netlist:
        text += " (same netlist and flow as when it was recorded)"
    skipped = [m for m in not_compared(base) if m != "fmax_mhz"]
    if skipped:
        text += (f" ({', '.join(skipped)} not compared: baseline from generic model "
                 f"{base.get('generic_model', 1)})")
    if "fmax_mhz" in not_compared(base, result.speed):
        text += f" (Fmax not compared: baseline timed at speed {BASELINE_SPEED})"
    return Verdict("within", text)


def stored_baselines(max_seconds=None):
    """(unit name, params object) of every stored baseline; with
    ``max_seconds``, only those whose tools ran at most that long when
    recorded."""
    out = []
    for path in sorted(BASELINE_DIR.glob("*.json")):
        record = json.loads(path.read_text())
        if max_seconds is not None and sum(record.get("seconds", {}).values()) > max_seconds:
            continue
        unit = get_unit(record["unit"])
        out.append((record["unit"], unit.params(**record["params"])))
    return out


def stale_baselines(store_checks=False):
    """``(unit name, params, reason)`` of every stored baseline whose netlist
    or flow is no longer the one it was measured on, each elaborated (no
    stored check is trusted); with ``store_checks``, the digests found are
    stored as the checks :func:`current_netlist` trusts."""
    out, checks = [], {}
    for unit_name, params in stored_baselines():
        record = load_baseline(unit_name, params)
        now = netlist_digest(unit_name, params, **record.get("options", {}))
        checks[record["module"]] = {"key": _check_key(unit_name, params, record), "netlist": now}
        if record.get("netlist") != now:
            reason = ("recorded before netlists were tracked" if "netlist" not in record
                      else f"netlist or flow changed ({record['netlist']} -> {now})")
            out.append((unit_name, params, reason))
    if store_checks:
        CHECKS_PATH.write_text(json.dumps(checks, indent=2, sort_keys=True) + "\n")
    return out


def current_netlist(unit_name, params, record):
    """The digest of today's netlist at a stored baseline's point and options:
    the one :func:`stale_baselines` stored for it, if everything the
    elaboration reads is as it was then, else elaborated now."""
    check = _load_checks().get(record["module"])
    if check is not None and check["key"] == _check_key(unit_name, params, record):
        return check["netlist"]
    return netlist_digest(unit_name, params, **record.get("options", {}))


def _load_checks():
    return json.loads(CHECKS_PATH.read_text()) if CHECKS_PATH.exists() else {}


@functools.cache
def _sources_digest():
    """What every elaboration and flow input depends on, beside the point's
    own parameters and options: the Python sources of ``hw/`` (the design)
    and ``synth/`` (the wrapper, the script, the digest), the tool versions
    and the flow's revision."""
    h = hashlib.sha256()
    for name, path in _source_files():
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(json.dumps([flow.tool_versions(), flow.FLOW_REVISION]).encode())
    return h.hexdigest()


def _source_files():
    """``(name, path)`` of the Python sources of ``hw/`` and ``synth/``."""
    return [(path.relative_to(package.parent).as_posix(), path)
            for package in (pathlib.Path(exdisc.hw.__file__).parent, pathlib.Path(__file__).parent)
            for path in sorted(package.rglob("*.py"))]


def _check_key(unit_name, params, record):
    point = [unit_name, record["module"], dataclasses.asdict(params), record.get("options", {})]
    return hashlib.sha256((_sources_digest() + json.dumps(point, sort_keys=True, default=str))
                          .encode()).hexdigest()[:16]
