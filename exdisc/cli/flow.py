"""``exdisc flow``: generate, sign off, prove and synthesize every point of a preset."""

import argparse
import dataclasses
import json
import pathlib
import time

from exdisc.hw.emit import emit_verilog
from exdisc.hw.presets import PRESETS, get_preset
from exdisc.hw.units import get_unit
from exdisc.synth.baselines import load_baseline
from exdisc.synth.flow import DEFAULT_FREQ_MHZ
from exdisc.common.progress import log
from exdisc.sim.harness.runner import SimulationFailed
from exdisc.common.tables import Table
from exdisc.common.workdir import write_if_changed
from .options import EXIT_CHECK_FAILED, EXIT_OK
from .units import run_synth, synth_options


__all__ = ["add_commands", "synth_args"]


def synth_args(args, unit_name, params):
    """The synthesis options of a point, ``(args, generic)``: as its baseline
    was measured, so that the two compare (a unit recorded without generic
    synthesis, or at another target clock, runs so here), unless ``--freq``
    (or ``--placer``) says otherwise. A point without a baseline has nothing to be compared
    with: it is placed and routed only with ``--place-and-route``, and
    synthesized generically unless its unit says that takes too long
    (``generic_synthesis = False``)."""
    base = load_baseline(unit_name, params)
    recorded = (base or {}).get("options", {})
    how = argparse.Namespace(**vars(args))
    if how.freq is None:
        how.freq = recorded.get("freq_mhz", DEFAULT_FREQ_MHZ)
    if getattr(how, "placer", None) is None:
        how.placer = recorded.get("placer", "heap")
    how.no_pnr = base is None and not getattr(args, "place_and_route", False)
    default = getattr(get_unit(unit_name).component, "generic_synthesis", True)
    return how, recorded.get("generic", default)


def _point(n, total, unit_name, params, args, out):
    """Every step of one parameter point; returns its summary row (dict)."""
    from exdisc.sim.harness.signoff import TESTBENCHES, signoff
    from exdisc.synth.formal import PROVERS
    unit = get_unit(unit_name)
    module = unit.module_name(params)
    row = {"unit": unit_name, "module": module, "params": params.as_dict()}

    def say(step, text):
        log(f"[{n}/{total} {module}] {step}: {text}")

    path = out / f"{module}.v"
    write_if_changed(path, emit_verilog(unit.component(params), module))
    say("generate", str(path))
    row["verilog"] = str(path)
    if unit_name in TESTBENCHES:
        t = time.monotonic()
        try:
            run = signoff(unit_name, params, seed=args.seed, log=lambda s: say("simulate", s))
            row["sim"] = {"passed": run.passed, "skipped": run.skipped, "seed": run.seed,
                          "seconds": round(time.monotonic() - t, 1)}
            say("simulate", f"{run.summary()} against the golden model")
        except SimulationFailed as e:
            row["sim"] = {"failed": str(e)}
            say("simulate", f"FAILED: {e}")
    if unit_name in PROVERS:
        proof = PROVERS[unit_name](params, log=lambda s: say("prove", s))
        row["formal"] = {"passed": proof.passed, "seconds": round(proof.seconds, 1)}
        say("prove", "PASS" if proof.passed else f"FAIL (see {proof.directory})")
    if not args.no_synth:
        how, generic = synth_args(args, unit_name, params)
        result, verdict = run_synth(unit_name, params, how, log=lambda s: say("synthesize", s),
                                    generic=generic)
        row["synth"] = dataclasses.asdict(result)
        row["baseline"] = {"status": verdict.status, "text": verdict.text}
        fmax = f"Fmax {result.fmax_mhz} MHz" if result.fmax_mhz else "not placed and routed"
        say("synthesize", f"{result.lut4} LUT4, {result.ff} FF, depth {result.logic_depth}, "
                          f"{fmax}; {verdict.text}")
    return row


def _failed(row):
    return ("failed" in row.get("sim", {}) or not row.get("formal", {}).get("passed", True)
            or row.get("baseline", {}).get("status") == "regression")


def cmd_flow(args):
    points = get_preset(args.preset)
    out = pathlib.Path(args.output) / args.preset
    start = time.monotonic()
    summary = [_point(n, len(points), u, p, args, out) for n, (u, p) in enumerate(points, 1)]
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    rows = []
    for r in summary:
        s, sim = r.get("synth", {}), r.get("sim")
        rows.append([r["module"],
                     "-" if sim is None else "FAILED" if "failed" in sim else
                     f"{len(sim['passed'])} passed" + (f", {len(sim['skipped'])} skipped"
                                                       if sim["skipped"] else ""),
                     ("PASS" if r["formal"]["passed"] else "FAIL") if "formal" in r else "-",
                     s.get("lut4", "-"), s.get("ff", "-"), s.get("mult18", "-"),
                     s.get("bram", "-"), s.get("fmax_mhz") or "-",
                     r["baseline"]["text"] if "baseline" in r else "-"])
    print(Table(["module", "sign-off", "formal", "LUT4", "FF", "MULT18", "BRAM", "Fmax MHz",
                 "baseline"], rows,
                title=f"exdisc flow --preset {args.preset}: done in "
                      f"{time.monotonic() - start:.0f} s",
                caption=f"summary: {out / 'summary.json'}").text())
    return EXIT_CHECK_FAILED if any(_failed(r) for r in summary) else EXIT_OK


def add_commands(sub):
    p = sub.add_parser("flow", help="generate, sign off, prove and synthesize a preset",
                       description="Every parameter point of a preset: Verilog, the cocotb "
                                   "sign-off against the golden model, the formal proof where "
                                   "the unit has one, synthesis and place and route against "
                                   "the stored baseline; then a summary.")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="the parameter points (see 'exdisc list')")
    p.add_argument("-o", "--output", default="build/flow", metavar="DIR",
                   help="directory of the Verilog and the summary")
    p.add_argument("--no-synth", action="store_true", help="skip yosys and nextpnr")
    p.add_argument("--place-and-route", action="store_true",
                   help="place and route points without a stored baseline too (by default "
                        "they get yosys's cells and area by part only: nothing to compare "
                        "their Fmax with, and the default core takes hours)")
    p.add_argument("--seed", type=int, default=None,
                   help="simulation seed (default: $EXDISC_SEED or fresh, printed)")
    synth_options(p, freq_from_baseline=True)
    p.set_defaults(func=cmd_flow, prog_name=p.prog)
