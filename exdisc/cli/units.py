"""The commands on one unit: list, generate, sim, prove, synth; and baseline."""

import argparse
import json
import pathlib
import sys

from exdisc.hw.emit import emit_rtlil, emit_verilog
from exdisc.hw.platform import TARGETS, get_target
from exdisc.hw.presets import PRESETS
from exdisc.hw.units import UNITS, get_unit
from exdisc.common.tables import Table
from exdisc.common.workdir import write_if_changed
from .options import (EXIT_CHECK_FAILED, EXIT_OK, Parser, add_param_options, as_dict,
                      params_from_args, positive_int)


__all__ = ["add_commands", "synth_table", "run_synth"]


# --- list and generate ------------------------------------------------------

def cmd_list(args):
    print(Table(["unit", "what it is"], [[n, u.summary] for n, u in UNITS.items()],
                title="units").text())
    print()
    rows = [[name if i == 0 else "", unit_name, get_unit(unit_name).module_name(params)]
            for name, points in PRESETS.items() for i, (unit_name, params) in enumerate(points)]
    print(Table(["preset", "unit", "parameter point (module)"], rows,
                title="presets (exdisc flow --preset NAME)").text())
    return EXIT_OK


def cmd_generate(args):
    unit = get_unit(args.unit)
    params = params_from_args(unit, args)
    out = pathlib.Path(args.output)
    module = unit.module_name(params)
    platform = get_target(args.target)
    suffix = "" if platform is None else f"_{platform.name}"
    emitters = {"verilog": (".v", emit_verilog), "rtlil": (".il", emit_rtlil)}
    for fmt in args.format:
        ext, emit = emitters[fmt]
        path = out / f"{module}{suffix}{ext}"
        text = emit(unit.component(params), module, platform)
        changed = write_if_changed(path, text)
        print(f"{'wrote' if changed else 'unchanged'} {path} ({len(text.splitlines())} lines)")
    meta = out / f"{module}.json"
    write_if_changed(meta, json.dumps({"unit": unit.name, "module": module,
                                       "params": params.as_dict()}, indent=2, sort_keys=True)
                     + "\n")
    print(f"parameters in {meta}")
    return EXIT_OK


def _formats(text):
    formats = text.split(",")
    if any(f not in ("verilog", "rtlil") for f in formats):
        raise argparse.ArgumentTypeError(f"expected verilog, rtlil or both (verilog,rtlil), "
                                         f"not {text!r}")
    return formats


# --- sim and prove -----------------------------------------------------------

def cmd_sim(args):
    from exdisc.sim.harness.signoff import signoff
    unit = get_unit(args.unit)
    params = params_from_args(unit, args)
    run = signoff(unit.name, params, seed=args.seed)
    print(f"{unit.module_name(params)}: cocotb sign-off against the golden model: "
          f"{run.summary()} (seed {run.seed}); log: {run.run_dir / 'sim.log'}")
    return EXIT_OK


def cmd_prove(args):
    from exdisc.synth.formal import PROVERS
    unit = get_unit(args.unit)
    params = params_from_args(unit, args)
    result = PROVERS[unit.name](params)
    print(f"{result.name}: {'PASS' if result.passed else 'FAIL'} in {result.seconds:.1f} s "
          f"({result.directory})")
    return EXIT_OK if result.passed else EXIT_CHECK_FAILED


# --- synth and baseline ------------------------------------------------------

SYNTH_HEADERS = ["module", "LUT4", "FF", "CCU2C", "MULT18", "BRAM", "gates", "transistors",
                 "depth", "Fmax MHz", "yosys s", "nextpnr s"]


def _synth_cells(r):
    seconds = lambda s: f"{s:.0f}" if s is not None else "-"  # noqa: E731
    generic = r.gates is not None
    return [r.module, r.lut4, r.ff, r.ccu2c, r.mult18, r.bram, r.gates if generic else "-",
            f"{r.transistors}{'' if r.transistors_exact else '+'}" if generic else "-",
            r.logic_depth if generic else "-",
            f"{r.fmax_mhz:.1f}" if r.fmax_mhz is not None else "-",
            seconds(r.seconds.get("yosys")), seconds(r.seconds.get("nextpnr"))]


def synth_table(results, verdicts=None, title=None):
    """A table of synthesis results (and their verdicts)."""
    headers = SYNTH_HEADERS + (["baseline"] if verdicts is not None else [])
    rows = [_synth_cells(r) + ([v.text] if verdicts is not None else [])
            for r, v in zip(results, verdicts or [None] * len(results))]
    return Table(headers, rows, title=title)


def parts_table(parts, critical_path=None, title=None):
    """A table of a synthesis result's cells by part (``SynthResult.parts``),
    with each part's share of the whole; the critical path's ends below it."""
    from exdisc.synth.attribution import PART_RESOURCES
    totals = {k: sum(v[k] for v in parts.values()) for k in PART_RESOURCES}
    share = lambda n, k: f"{n} ({n / totals[k]:.0%})" if totals[k] else str(n)  # noqa: E731
    rows = [[label] + [share(v[k], k) for k in PART_RESOURCES] for label, v in parts.items()]
    rows.append(["total"] + [totals[k] for k in PART_RESOURCES])
    caption = None
    if critical_path:
        caption = (f"critical path ({critical_path['delay_ns']} ns): {critical_path['from']} "
                   f"({critical_path['from_part']}) to {critical_path['to']} "
                   f"({critical_path['to_part']})")
    return Table(["part", "LUT4", "CCU2C", "FF", "MULT18", "BRAM", "LUT RAM"], rows,
                 title=title, caption=caption)


def run_synth(unit_name, params, args, log=None, generic=None):
    """Synthesize with the command's options (``generic``, if given, instead
    of ``--no-generic``); returns ``(result, verdict)``."""
    from exdisc.synth.baselines import save_baseline, verdict, Verdict
    from exdisc.synth.flow import synthesize
    kwargs = {"log": log} if log else {}
    if generic is None:
        # a unit whose generic synthesis takes too long says so
        generic = not getattr(args, "no_generic", False) and getattr(
            get_unit(unit_name).component, "generic_synthesis", True)
    result = synthesize(unit_name, params, pnr=not getattr(args, "no_pnr", False),
                        freq_mhz=args.freq, seed=args.pnr_seed, speed=args.speed,
                        floorplan=not getattr(args, "no_floorplan", False),
                        generic=generic, placer=getattr(args, "placer", None) or "heap",
                        **kwargs)
    if getattr(args, "update_baseline", False):
        return result, Verdict("within", f"baseline written: {save_baseline(result)}")
    return result, verdict(result, params)


def cmd_synth(args):
    unit = get_unit(args.unit)
    params = params_from_args(unit, args)
    result, v = run_synth(unit.name, params, args)
    if args.json:
        print(json.dumps({**as_dict(result), "baseline": v.text}, indent=2, sort_keys=True))
    else:
        print(synth_table([result]).text())
        if result.parts:
            print(parts_table(result.parts, result.critical_path,
                              title="cells by part (LUT4 and CCU2C by the registers they "
                                    "feed; other: the P&R wrapper)").text())
        print(f"P&R: {result.device} speed {result.speed}, {result.wrapper}"
              + (f", {result.floorplan} cells floorplanned" if result.floorplan else ""))
        print(v.text)
    if args.attribute:
        from exdisc.synth.attribution import lut_attribution
        from exdisc.synth.flow import synth_dir
        counts = lut_attribution(synth_dir(result.module) / "wrapped.json")
        table = Table(["LUT4", "feeding (digits as #)"],
                      [[f"{n:.0f}", group] for group, n in counts.most_common(args.attribute)])
        # With --json the table goes to stderr, so that stdout stays one JSON document.
        print(table.text(), file=sys.stderr if args.json else sys.stdout)
    return EXIT_CHECK_FAILED if v.regression else EXIT_OK


def cmd_baseline(args):
    from exdisc.synth.baselines import load_baseline, stale_baselines, stored_baselines
    if args.stale:
        # with --update, the digests found are stored: make test trusts them
        # while the sources they were elaborated from are unchanged
        points = [(u, p) for u, p, _ in stale_baselines(store_checks=args.update_baseline)]
    else:
        points = stored_baselines(args.max_seconds)
    results, verdicts = [], []
    for unit_name, params in points:
        # as recorded: a baseline measured without generic synthesis is run without it
        generic = load_baseline(unit_name, params).get("options", {}).get("generic", True)
        result, v = run_synth(unit_name, params, args, generic=generic)
        results.append(result)
        verdicts.append(v)
    table = synth_table(results, verdicts, title=f"{len(results)} stored baselines")
    if args.json:
        print(json.dumps([{**as_dict(r), "baseline": v.text} for r, v in zip(results, verdicts)],
                         indent=2, sort_keys=True))
    else:
        print(table.text())
    return EXIT_CHECK_FAILED if any(v.regression for v in verdicts) else EXIT_OK


# --- the parser --------------------------------------------------------------

def _unit_parsers(sub, name, help, units, add_options=None):
    p = sub.add_parser(name, help=help, description=help)
    units_sub = p.add_subparsers(dest="unit", metavar="UNIT", required=True, parser_class=Parser)
    for unit_name in units:
        unit = UNITS[unit_name]
        q = units_sub.add_parser(unit_name, help=unit.summary, description=unit.summary)
        add_param_options(q, unit.params)
        if add_options:
            add_options(q)
        q.set_defaults(prog_name=q.prog)
    return p


def synth_options(p, freq_from_baseline=False):
    """The synthesis options; with ``freq_from_baseline``, ``--freq`` defaults
    to None: the target clock each point's baseline was measured at."""
    from exdisc.synth.flow import DEFAULT_FREQ_MHZ, DEVICE, PLACERS, SPEED_GRADES
    g = p.add_argument_group("synthesis")
    g.add_argument("--freq", type=float, default=None if freq_from_baseline else DEFAULT_FREQ_MHZ,
                   metavar="MHZ",
                   help="place-and-route target frequency" +
                        (" (default: the one each point's baseline was measured at, else "
                         f"{DEFAULT_FREQ_MHZ:g})" if freq_from_baseline else ""))
    g.add_argument("--pnr-seed", type=int, default=1, metavar="N", help="nextpnr placer seed")
    g.add_argument("--speed", type=int, default=DEVICE["speed"], choices=SPEED_GRADES,
                   help="speed grade nextpnr times (6 is the slowest, the baselines' grade)")
    g.add_argument("--placer", choices=PLACERS, default=None if freq_from_baseline else "heap",
                   help="nextpnr's placer: heap (its default) or static, which spreads a "
                        "congested design better" +
                        (" (default: the one each point's baseline was measured with, else "
                         "heap)" if freq_from_baseline else ""))


def add_commands(sub):
    from exdisc.sim.harness.signoff import TESTBENCHES
    from exdisc.synth.formal import PROVERS

    p = sub.add_parser("list", help="list the units and presets")
    p.set_defaults(func=cmd_list)

    def generate_options(q):
        q.add_argument("-o", "--output", default="build/generated", metavar="DIR",
                       help="output directory")
        q.add_argument("--format", type=_formats, default=["verilog", "rtlil"],
                       metavar="verilog,rtlil", help="what to write (default: both)")
        q.add_argument("--target", choices=sorted(TARGETS), default="generic",
                       help="generic: portable RTL; ecp5: with ECP5 primitives (DSP, block RAM)")
    _unit_parsers(sub, "generate", "write the Verilog and RTLIL of a unit", UNITS,
                  generate_options).set_defaults(func=cmd_generate)

    def sim_options(q):
        q.add_argument("--seed", type=int, default=None,
                       help="random seed (default: $EXDISC_SEED, or a fresh one, printed)")
    _unit_parsers(sub, "sim", "cocotb sign-off of a unit's Verilog against its golden model "
                  "(Verilator)", [u for u in UNITS if u in TESTBENCHES],
                  sim_options).set_defaults(func=cmd_sim)

    _unit_parsers(sub, "prove", "formal proof of a unit's property (SymbiYosys, Yices)",
                  [u for u in UNITS if u in PROVERS]).set_defaults(func=cmd_prove)

    def unit_synth_options(q):
        synth_options(q)
        q.add_argument("--no-pnr", action="store_true",
                       help="stop after synthesis (no place and route, no Fmax)")
        q.add_argument("--no-floorplan", action="store_true",
                       help="leave a systolic array's DSPs and queue block RAMs to nextpnr")
        q.add_argument("--no-generic", action="store_true",
                       help="skip generic synthesis (no gates, transistors or logic depth; "
                            "for units with many multipliers, whose gate-level netlist takes "
                            "ABC very long)")
        q.add_argument("--json", action="store_true",
                       help="print the result as one JSON document")
        q.add_argument("--update-baseline", action="store_true",
                       help="store the result as the unit's baseline (synth/baselines/)")
        q.add_argument("--attribute", type=positive_int, default=0, metavar="N",
                       help="also list the N register groups that the most LUT4s feed")
    _unit_parsers(sub, "synth", "yosys and nextpnr-ecp5 on a unit: area, Fmax, against its "
                  "baseline", UNITS, unit_synth_options).set_defaults(func=cmd_synth)

    p = sub.add_parser("baseline", help="synthesize every stored baseline again and compare",
                       description="Synthesize the stored baselines again and compare "
                                   "(--update stores the new results).")
    synth_options(p)
    p.add_argument("--stale", action="store_true",
                   help="only the baselines whose netlist or flow changed since they were "
                        "recorded")
    p.add_argument("--max-seconds", type=float, default=None, metavar="S",
                   help="only baselines whose tools ran at most S seconds when recorded")
    p.add_argument("--update", dest="update_baseline", action="store_true",
                   help="store the new results as the baselines (with --stale, also every "
                        "baseline's netlist digest, which make test then need not elaborate)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON document")
    p.set_defaults(func=cmd_baseline)
