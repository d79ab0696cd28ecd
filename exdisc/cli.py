"""``exdisc``: the command-line front end of the generator.

Every failure the user can cause (unknown unit, bad parameter, missing tool,
failed tool) ends in one line on stderr and exit status 2; the full detail
is in the log file the line names.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import time

from hw.emit import emit_rtlil, emit_verilog, write_if_changed
from hw.platform import get_target
from hw.presets import PRESETS, get_preset
from hw.units import AREA_FLOORS, UNITS, get_unit
from .report import SYNTH_HEADERS, format_table, synth_row


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return value


def _add_param_options(parser, params_cls):
    group = parser.add_argument_group("parameters")
    for name, default, info in params_cls.fields():
        flag = "--" + (info.cli or name).replace("_", "-")
        if isinstance(default, bool):
            group.add_argument(flag, dest=f"p_{name}", action=argparse.BooleanOptionalAction,
                               default=default, help=f"{info.help} (default: {default})")
        else:
            group.add_argument(flag, dest=f"p_{name}", type=type(default), default=default,
                               metavar=type(default).__name__.upper(),
                               help=f"{info.help} (default: {default})")


def _params_from_args(unit, args):
    values = {name: getattr(args, f"p_{name}") for name, _, _ in unit.params.fields()}
    return unit.params(**values)


def _unit_subparsers(parser, dest, help_suffix, add_options=None):
    sub = parser.add_subparsers(dest=dest, metavar="UNIT", required=True, parser_class=_Parser)
    for name, unit in UNITS.items():
        p = sub.add_parser(name, help=f"{unit.summary}{help_suffix}")
        _add_param_options(p, unit.params)
        if add_options:
            add_options(p)
    return sub


# --- commands -------------------------------------------------------------

def cmd_list(args):
    print("units:")
    for name, unit in UNITS.items():
        print(f"  {name:10s} {unit.summary}")
    print("presets:")
    for name, points in PRESETS.items():
        print(f"  {name:10s} " + ", ".join(f"{u}({p.slug()})" for u, p in points))
    return 0


def cmd_generate(args):
    unit = get_unit(args.unit)
    params = _params_from_args(unit, args)
    out = pathlib.Path(args.output)
    module = unit.module_name(params)
    platform = get_target(args.target)
    suffix = "" if platform is None else f"_{platform.name}"
    written = []
    for fmt in args.format.split(","):
        if fmt == "verilog":
            path = out / f"{module}{suffix}.v"
            text = emit_verilog(unit.component(params), module, platform)
        elif fmt == "rtlil":
            path = out / f"{module}{suffix}.il"
            text = emit_rtlil(unit.component(params), module, platform)
        else:
            raise ValueError(f"parameter 'format' must list verilog and/or rtlil, not {fmt!r}")
        changed = write_if_changed(path, text)
        written.append(path)
        print(f"{'wrote' if changed else 'unchanged'} {path} ({len(text.splitlines())} lines)")
    meta = out / f"{module}.json"
    write_if_changed(meta, json.dumps({"unit": unit.name, "module": module,
                                       "params": params.as_dict()}, indent=2, sort_keys=True) + "\n")
    print(f"parameters in {meta}")
    return 0


def _synth_one(unit_name, params, args, log=print):
    from synth.baselines import (BASELINE_SPEED, compare, load_baseline, not_compared,
                                 save_baseline)
    from synth.flow import DEVICE, synthesize
    speed = getattr(args, "speed", None)
    if speed is None:
        speed = DEVICE["speed"]
    result = synthesize(unit_name, params, pnr=not args.no_pnr, freq_mhz=args.freq,
                        seed=args.pnr_seed, speed=speed,
                        floorplan=not getattr(args, "no_floorplan", False), log=log)
    verdict = ""
    if args.update_baseline:
        path = save_baseline(result)
        verdict = f"baseline written: {path}"
    else:
        base = load_baseline(unit_name, params)
        if base is None:
            verdict = "no stored baseline"
        elif args.no_pnr:
            verdict = "baseline not checked (no P&R)"
        else:
            problems = compare(result, base)
            verdict = ("REGRESSION: " + "; ".join(problems)) if problems else "within baseline"
            skipped = not_compared(base)
            if skipped:
                verdict += (f" ({', '.join(skipped)} not compared: baseline from generic "
                            f"model {base.get('generic_model', 1)})")
            if "fmax_mhz" in not_compared(base, speed):
                verdict += f" (Fmax not compared: baseline timed at speed {BASELINE_SPEED})"
    return result, verdict


def cmd_synth(args):
    unit = get_unit(args.unit)
    params = _params_from_args(unit, args)
    result, verdict = _synth_one(unit.name, params, args)
    if args.json:
        print(result.to_json())
    else:
        print(format_table(SYNTH_HEADERS, [synth_row(result)]))
        print(f"P&R: {result.device} speed {result.speed}, {result.wrapper}"
              + (f", {result.floorplan} cells floorplanned" if result.floorplan else ""))
        print(verdict)
    if getattr(args, "attribute", 0):
        from synth.attribution import lut_attribution
        from synth.flow import SYNTH_ROOT
        counts = lut_attribution(SYNTH_ROOT / result.module / "wrapped.json")
        rows = [[f"{n:.0f}", group] for group, n in counts.most_common(args.attribute)]
        # With --json the table goes to stderr, so that stdout stays JSON.
        print(format_table(["LUT4", "feeding (digits as #)"], rows),
              file=sys.stderr if args.json else sys.stdout)
    return 1 if verdict.startswith("REGRESSION") else 0


def cmd_baseline(args):
    from synth.baselines import stored_baselines
    rows, failed = [], 0
    for unit_name, params in stored_baselines(args.max_seconds):
        args.no_pnr = False
        result, verdict = _synth_one(unit_name, params, args)
        rows.append(synth_row(result) + [verdict])
        failed += verdict.startswith("REGRESSION")
    print(format_table(SYNTH_HEADERS + ["baseline"], rows))
    return 1 if failed else 0


def cmd_prove(args):
    from synth.formal import PROVERS
    unit = get_unit(args.unit)
    params = _params_from_args(unit, args)
    if unit.name not in PROVERS:
        raise ValueError(f"unit {unit.name!r} has no formal property")
    result = PROVERS[unit.name](params)
    print(f"{result.name}: {'PASS' if result.passed else 'FAIL'} in {result.seconds:.1f} s "
          f"({result.directory})")
    return 0 if result.passed else 1


def cmd_sim(args):
    from sim.signoff import signoff
    unit = get_unit(args.unit)
    params = _params_from_args(unit, args)
    run = signoff(unit.name, params, seed=args.seed)
    print(f"{run.tests} cocotb test(s) passed on {unit.module_name(params)} "
          f"(seed {run.seed}); log: {run.run_dir / 'sim.log'}")
    return 0


MAC_LABEL = "int8 MAC dot product"
MAC_FLOOR_LABEL = "int8 MAC dot product, multipliers removed (floor)"
LOG_LABEL = "log k2 signed, encoded, one tree"
LOG_FLOOR_LABEL = f"{LOG_LABEL}, lane products removed (floor)"
EAGER_AREA_POINTS = [  # (label, unit, params): the predictor variants and the MAC reference
    ("log k2 truncate, int operands, pos/neg", "logdot", {"k": 2, "rounding": "truncate"}),
    ("log k2 signed, int operands, pos/neg", "logdot", {"k": 2, "rounding": "signed"}),
    ("log k2 truncate, encoded, pos/neg", "logdot",
     {"k": 2, "encoded": True, "rounding": "truncate"}),
    ("log k2 truncate, encoded, one tree", "logdot",
     {"k": 2, "encoded": True, "split": False, "rounding": "truncate"}),
    (LOG_LABEL, "logdot", {"k": 2, "encoded": True, "split": False, "rounding": "signed"}),
    ("log k1 truncate (FACT), encoded, one tree", "logdot",
     {"k": 1, "encoded": True, "split": False, "rounding": "truncate"}),
    # the default above without its lane products, and the MAC without its multipliers
    # (hw.units.AREA_FLOORS): what is left is what no lane product can save
    (LOG_FLOOR_LABEL, "logdot_floor",
     {"k": 2, "encoded": True, "split": False, "rounding": "signed"}),
    (MAC_FLOOR_LABEL, "dot_floor", {}),
    (MAC_LABEL, "dot", {}),
]


def bench_eager(args):
    """Recall/sparsity on the DiT (golden) and predictor area against a MAC dot product."""
    from sim.bench import bench_eager_quality, save_results
    from synth.flow import synthesize
    record = {}
    if not args.no_quality:
        record["quality"] = bench_eager_quality(seed=args.seed or 0, log=print)
    area = []
    for label, unit_name, extra in EAGER_AREA_POINTS:
        unit = AREA_FLOORS.get(unit_name) or get_unit(unit_name)
        params = unit.params(lanes=args.lanes, width=8, max_beats=max(1, 64 // args.lanes), **extra)
        r = synthesize(unit, params, pnr=False, log=print)
        area.append({"label": label, "module": r.module, "lut4": r.lut4, "ff": r.ff,
                     "ccu2c": r.ccu2c, "mult18": r.mult18, "gates": r.gates,
                     "transistors": r.transistors})
    by = {a["label"]: a for a in area}
    ref = by[MAC_LABEL]
    for a in area:
        a["gates_ratio"] = a["gates"] / ref["gates"]
        a["transistors_ratio"] = a["transistors"] / ref["transistors"]
    record["area"] = {"lanes": args.lanes, "rows": area,
                      "lane_products": lane_products(by, args.lanes)}
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=True))
    else:
        if "quality" in record:
            q = record["quality"]
            print(format_table(
                ["run", "top-k recall", "kept recall", "attention sparsity", "QK/PV skipped",
                 "class acc", "latent err"],
                [[r["label"], f"{r['recall']:.3f}", f"{r['kept_recall']:.3f}",
                  f"{r['attention_sparsity']:.1%}", f"{r['attention_macs_skipped']:.1%}",
                  f"{r['accuracy']:.3f}", f"{r['latent_error']:.4f}"] for r in q["rows"]]))
            print(f"(top-{q['top_k']}, {q['samples']} samples, {q['steps']} steps; "
                  f"dense class accuracy {q['dense_accuracy']:.3f})")
        print(format_table(["unit", "LUT4", "FF", "CCU2C", "MULT18", "gates", "transistors",
                            "gates / MAC", "transistors / MAC"],
                           [[a["label"], a["lut4"], a["ff"], a["ccu2c"], a["mult18"], a["gates"],
                             a["transistors"], f"{a['gates_ratio']:.2f}",
                             f"{a['transistors_ratio']:.2f}"] for a in area]))
        print(lane_products_line(record["area"]["lane_products"]))
    if not args.no_save:
        print(f"results: {save_results('eager', record)}")
    return 0


def lane_products(by, lanes):
    """Transistors of the predictor's ``L`` lane products and of the MAC's ``L``
    multipliers: each unit less its floor (:data:`hw.units.AREA_FLOORS`)."""
    log = by[LOG_LABEL]["transistors"] - by[LOG_FLOOR_LABEL]["transistors"]
    mac = by[MAC_LABEL]["transistors"] - by[MAC_FLOOR_LABEL]["transistors"]
    return {"log": log, "mac": mac, "per_lane_log": log / lanes, "per_lane_mac": mac / lanes,
            "ratio": log / mac, "floor_ratio": by[LOG_FLOOR_LABEL]["transistors_ratio"]}


def lane_products_line(lp):
    return (f"lane products: {lp['log']} transistors ({lp['per_lane_log']:.0f} a lane), "
            f"{lp['ratio']:.2f} of the MAC's multipliers ({lp['mac']}, {lp['per_lane_mac']:.0f} "
            f"a lane); without them the predictor is still {lp['floor_ratio']:.2f} of the MAC")


ROUTER_TARGET = 0.95


def router_table(record):
    """Rows of the router benchmark: one per trace, rate and p99 latency per (hash, B)."""
    configs = sorted({(r["hash"], r["banks"]) for r in record["runs"]})
    by = {(r["trace"], r["hash"], r["banks"]): r for r in record["runs"]}
    headers = ["trace"] + [f"{h} B={b}" for h, b in configs]
    rows = []
    for trace in record["traces"]:
        rows.append([trace] + [f"{by[trace, h, b]['rate']:.3f} ({by[trace, h, b]['latency_p99']:.0f})"
                               for h, b in configs])
    return headers, rows, configs


def bench_router_cmd(args):
    """Requests per lane per cycle of the router on real and synthetic traces."""
    from sim.bench import RESULTS_DIR
    from sim.bench_router import WORD_CHOICES, bench_router
    from sim.plot import bar_chart
    if args.lanes < 1:
        raise ValueError(f"parameter 'lanes' must be at least 1, not {args.lanes!r}")
    if args.per_lane < 1:
        raise ValueError(f"parameter 'per_lane' must be at least 1, not {args.per_lane!r}")
    if args.word_bits not in WORD_CHOICES:
        raise ValueError(f"parameter 'word_bits' must be one of {WORD_CHOICES}, "
                         f"not {args.word_bits!r}")
    record = bench_router(args.lanes, per_lane=args.per_lane, seed=args.seed or 0,
                          word_bits=args.word_bits,
                          log=lambda s: print(s, flush=True))
    headers, rows, configs = router_table(record)
    by = {(r["trace"], r["hash"], r["banks"]): r["rate"] for r in record["runs"]}
    name = f"router_p{args.lanes}" + ("" if args.word_bits == 32 else f"_w{args.word_bits}")
    plot = RESULTS_DIR / f"{name}.png"
    if not args.no_save:
        bar_chart(plot, [[by[t, h, b] for h, b in configs] for t in record["traces"]],
                  marks=(ROUTER_TARGET,))
    return _finish_bench(args, name, record, headers, rows,
                         f"requests per lane per cycle (p99 latency in cycles); P = {args.lanes}, "
                         f"{args.word_bits}-bit words, {args.per_lane} requests per lane, "
                         f"full rate",
                         f"{plot} (groups: {', '.join(record['traces'])}; bars: "
                         f"{', '.join(f'{h} B={b}' for h, b in configs)}, dark to light; "
                         f"dashed line {ROUTER_TARGET})")


def _finish_bench(args, name, record, headers, rows, caption, plot_note):
    """Print a benchmark's table (or JSON) and save its record as ``name``."""
    from sim.bench import save_results
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=True))
    else:
        print(format_table(headers, rows))
        print(caption)
        if not args.no_save and plot_note:
            print(f"plot: {plot_note}")
    if not args.no_save:
        print(f"results: {save_results(name, record)}")
    return 0


CONMERGE_SCHEDULES = ["dense", "condensed", "merged_d2", "merged_d4", "merged_d8", "row_bound",
                      "bound"]


def conmerge_table(record):
    rows = []
    for gemm, unit in (("fc1", "passes"), ("fc2", "beats")):
        for name in CONMERGE_SCHEDULES:
            r = record["summary"][gemm][name]
            rows.append([gemm.upper(), name, r[unit], f"{r['utilisation']:.3f}",
                         f"{r['cycles_cut']:.1%}", f"{r['of_bound']:.2f}",
                         f"{r['of_row_bound']:.2f}"])
    return ["GEMM", "schedule", "passes / beats", "utilisation", "cycles cut", "bound / this",
            "row bound / this"], rows


def bench_conmerge_cmd(args):
    """Passes and utilisation of ConMerge's schedules on the DiT's FFN-Reuse masks."""
    from sim.bench import RESULTS_DIR
    from sim.bench_conmerge import bench_conmerge
    from sim.plot import bar_chart
    record = bench_conmerge(rows=16, cols=16, seed=args.seed or 0)
    headers, rows = conmerge_table(record)
    plot = RESULTS_DIR / "conmerge.png"
    if not args.no_save:
        bar_chart(plot, [[m["fc1"][k]["utilisation"] for k in CONMERGE_SCHEDULES]
                         for m in record["per_mask"]])
    return _finish_bench(args, "conmerge", record, headers, rows,
                         f"{record['masks']} FFN-Reuse masks (every layer, every dense step; "
                         f"element sparsity {record['summary']['sparsity']:.1%}), R = C = 16",
                         f"{plot} (FC1 utilisation per mask in step, layer order; bars: "
                         f"{', '.join(CONMERGE_SCHEDULES)}, dark to light)")


def _sizes(text):
    """``RxC,RxC`` as a list of (R, C)."""
    out = []
    for item in text.split(","):
        try:
            rows, cols = (int(x) for x in item.split("x"))
        except ValueError:
            raise ValueError(f"parameter 'sizes' must list RxC sizes such as 16x16, "
                             f"not {text!r}") from None
        out.append((rows, cols))
    return out


def _int_list(name, text):
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"parameter {name!r} must be a comma-separated list of integers, "
                         f"not {text!r}") from None


FFN_RUNS = [("fc1_dense", "FC1 dense"), ("fc1_sparse", "FC1 output-sparse"),
            ("fc2_dense", "FC2 dense"), ("fc2_sparse", "FC2 input-sparse"),
            ("partial", "dense-step extra: (h_dense * M) @ w2")]


def ffn_table(record):
    rows = []
    for run in record["arrays"]:
        p = run["params"]
        for key, label in FFN_RUNS:
            r = run["runs"][key]
            cut = f"{r['cycles_cut']:.1%}" if "cycles_cut" in r else ""
            rows.append([f"{p['rows']}x{p['cols']} D={p['lanes']}", label, r["tiles"], r["beats"],
                         r["cycles"], r["model_cycles"], cut])
    return ["array", "GEMM", "tiles", "beats", "cycles", "model", "cycles cut"], rows


def bench_ffn_cmd(args):
    """Engine cycles of a sparse FFN-Reuse step, dense against sparse, per D."""
    from hw.systolic import SystolicParams
    from sim.bench import bench_ffn
    record = {"arrays": []}
    for rows, cols in _sizes(args.sizes or "16x16"):
        for lanes in _int_list("merge_lanes", args.merge_lanes):
            params = SystolicParams(rows=rows, cols=cols, lanes=lanes)
            record["arrays"].append(bench_ffn(params, seed=args.seed,
                                              log=lambda s: print(s, flush=True)))
    first = record["arrays"][0]
    record.update(step=first["step"], layer=first["layer"], sparsity=first["sparsity"])
    headers, rows = ffn_table(record)
    status = _finish_bench(args, "ffn", record, headers, rows,
                           f"DiT FFN-Reuse sparse step {first['step']}, layer {first['layer']}, "
                           f"{first['tokens']} tokens, FC1 mask sparsity {first['sparsity']:.1%}; "
                           f"cycles measured on the Verilog at full rate", None)
    mismatched = [k for run in record["arrays"] for k, r in run["runs"].items()
                  if r["cycles"] != r["model_cycles"]]
    return 1 if mismatched else status


def cmd_bench(args):
    from sim.bench import bench_systolic, save_results
    if args.bench == "eager":
        return bench_eager(args)
    if args.bench == "router":
        return bench_router_cmd(args)
    if args.bench == "conmerge":
        return bench_conmerge_cmd(args)
    if args.bench == "ffn":
        return bench_ffn_cmd(args)
    if args.bench != "systolic":
        raise ValueError(f"unknown benchmark {args.bench!r}; "
                         f"known: systolic, ffn, eager, router, conmerge")
    from hw.systolic import SystolicParams
    ks = [int(k) for k in args.ks.split(",")]
    for k in ks:
        if k < 1:
            raise ValueError(f"parameter 'ks' must list depths of at least 1, not {k!r}")
    record = {"runs": []}
    for rows, cols in _sizes(args.sizes or "4x4,8x8,16x16"):
        params = SystolicParams(rows=rows, cols=cols)
        record["runs"].append(bench_systolic(params, ks, grid=args.grid, seed=args.seed,
                                             log=lambda s: print(s, flush=True)))
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=True))
    else:
        headers = ["array", "K", "tiles", "beats", "cycles", "model", "ideal",
                   "busy", "model busy", "input rate"]
        rows = []
        for run in record["runs"]:
            size = f"{run['params']['rows']}x{run['params']['cols']}"
            for r in run["rows"]:
                rows.append([size, r["k"], r["tiles"], r["beats"], r["cycles"], r["model_cycles"],
                             r["ideal_cycles"], f"{r['busy']:.4f}", f"{r['model_busy']:.4f}",
                             f"{r['input_rate']:.4f}"])
        print(format_table(headers, rows))
    if not args.no_save:
        print(f"results: {save_results('systolic', record)}")
    mismatched = [r for run in record["runs"] for r in run["rows"] if not r["matches_model"]]
    return 1 if mismatched else 0


def cmd_report(args):
    """Markdown tables of the stored baselines and benchmark results (what
    the README's results section is made from)."""
    from synth.baselines import BASELINE_DIR
    from sim.bench import RESULTS_DIR
    print("| module | LUT4 | FF | CCU2C | MULT18 | BRAM | gates | transistors | depth | Fmax MHz | yosys s | nextpnr s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in sorted(BASELINE_DIR.glob("*.json")):
        r = json.loads(path.read_text())
        m, sec = r["metrics"], r.get("seconds", {})
        print(f"| {r['module']} | {m['lut4']} | {m['ff']} | {m['ccu2c']} | {m['mult18']} | "
              f"{m['bram']} | {m['gates']} | {m['transistors']} | {m['logic_depth']} | "
              f"{m['fmax_mhz']:.1f} | {sec.get('yosys', 0):.0f} | {sec.get('nextpnr', 0):.0f} |")
    bench = RESULTS_DIR / "systolic.json"
    if bench.exists():
        rec = json.loads(bench.read_text())
        print()
        print("| array | K | tiles | cycles (RTL) | cycles (model) | ideal | busy end to end | input rate |")
        print("|---|---|---|---|---|---|---|---|")
        for run in rec["runs"]:
            size = f"{run['params']['rows']}x{run['params']['cols']}"
            for r in run["rows"]:
                print(f"| {size} | {r['k']} | {r['tiles']} | {r['cycles']} | {r['model_cycles']} | "
                      f"{r['ideal_cycles']} | {r['busy']:.4f} | {r['input_rate']:.4f} |")
    from .workload import markdown_table
    for name in ("workload", "workload_sweep"):
        path = RESULTS_DIR / f"{name}.json"
        if path.exists():
            print()
            print(markdown_table(json.loads(path.read_text())))
    path = RESULTS_DIR / "eager.json"
    if path.exists():
        rec = json.loads(path.read_text())
        if "quality" in rec:
            print()
            print("| eager run | top-k recall | kept recall | attention sparsity | QK/PV skipped | class acc |")
            print("|---|---|---|---|---|---|")
            for r in rec["quality"]["rows"]:
                print(f"| {r['label']} | {r['recall']:.3f} | {r['kept_recall']:.3f} | "
                      f"{r['attention_sparsity']:.1%} | {r['attention_macs_skipped']:.1%} | "
                      f"{r['accuracy']:.3f} |")
        print()
        print(f"| unit (L = {rec['area']['lanes']}, int8) | LUT4 | FF | MULT18 | gates | transistors "
              "| gates / MAC | transistors / MAC |")
        print("|---|---|---|---|---|---|---|---|")
        for a in rec["area"]["rows"]:
            print(f"| {a['label']} | {a['lut4']} | {a['ff']} | {a['mult18']} | {a['gates']} | "
                  f"{a['transistors']} | {a['gates_ratio']:.2f} | {a['transistors_ratio']:.2f} |")
        if "lane_products" in rec["area"]:
            print()
            print(lane_products_line(rec["area"]["lane_products"]) + ".")
    for path in sorted(RESULTS_DIR.glob("router_p*.json")):
        print()
        headers, rows, _ = router_table(json.loads(path.read_text()))
        print(_markdown(headers, rows))
    path = RESULTS_DIR / "conmerge.json"
    if path.exists():
        print()
        print(_markdown(*conmerge_table(json.loads(path.read_text()))))
    path = RESULTS_DIR / "ffn.json"
    if path.exists():
        print()
        print(_markdown(*ffn_table(json.loads(path.read_text()))))
    return 0


def _markdown(headers, rows):
    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def cmd_flow(args):
    from sim.signoff import TESTBENCHES, signoff
    from synth.formal import PROVERS
    points = get_preset(args.preset)
    out = pathlib.Path(args.output) / args.preset
    steps = ["generate", "simulate", "prove", "synthesize"]
    summary = []
    t_start = time.monotonic()
    for n, (unit_name, params) in enumerate(points, 1):
        unit = get_unit(unit_name)
        module = unit.module_name(params)
        row = {"unit": unit_name, "module": module, "params": params.as_dict()}
        say = lambda step, text: print(f"[{n}/{len(points)} {module}] {step}: {text}", flush=True)

        path = out / f"{module}.v"
        write_if_changed(path, emit_verilog(unit.component(params), module))
        say("generate", f"{path}")
        row["verilog"] = str(path)

        if unit_name in TESTBENCHES:
            t = time.monotonic()
            run = signoff(unit_name, params, seed=args.seed, log=lambda s: say("simulate", s))
            row["sim"] = {"tests": run.tests, "failed": run.failed, "seed": run.seed,
                          "seconds": round(time.monotonic() - t, 1)}
            say("simulate", f"{run.tests} cocotb test(s) passed against the golden model")
        if unit_name in PROVERS:
            proof = PROVERS[unit_name](params, log=lambda s: say("prove", s))
            row["formal"] = {"passed": proof.passed, "seconds": round(proof.seconds, 1)}
            say("prove", "PASS" if proof.passed else "FAIL")
            if not proof.passed:
                raise RuntimeError(f"formal proof of {module} failed; see {proof.directory}")
        if not args.no_synth:
            args.update_baseline = False
            result, verdict = _synth_one(unit_name, params, args,
                                         log=lambda s: say("synthesize", s))
            row["synth"] = dataclasses.asdict(result)
            row["baseline"] = verdict
            say("synthesize", f"{result.lut4} LUT4, {result.ff} FF, depth {result.logic_depth}, "
                              f"Fmax {result.fmax_mhz} MHz; {verdict}")
        summary.append(row)

    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print()
    print(f"flow '{args.preset}' ({', '.join(steps)}) done in {time.monotonic() - t_start:.0f} s")
    headers = ["module", "sim", "formal", "LUT4", "FF", "depth", "Fmax MHz", "baseline"]
    rows = []
    for r in summary:
        s = r.get("synth", {})
        rows.append([r["module"],
                     f"{r['sim']['tests']} passed" if "sim" in r else "-",
                     ("PASS" if r["formal"]["passed"] else "FAIL") if "formal" in r else "-",
                     s.get("lut4", "-"), s.get("ff", "-"), s.get("logic_depth", "-"),
                     s.get("fmax_mhz", "-"), r.get("baseline", "-")])
    print(format_table(headers, rows))
    print(f"summary: {out / 'summary.json'}")
    return 1 if any(r.get("baseline", "").startswith("REGRESSION") for r in summary) else 0


# --- parser ---------------------------------------------------------------

def _synth_options(p):
    p.add_argument("--no-pnr", action="store_true", help="skip nextpnr (no Fmax)")
    p.add_argument("--freq", type=float, default=200.0, help="P&R target in MHz (default: 200)")
    p.add_argument("--pnr-seed", type=int, default=1, help="nextpnr placer seed (default: 1)")
    p.add_argument("--speed", type=int, default=None,
                   help="speed grade nextpnr times: 6 (default, the slowest; baselines), 7 or 8")
    p.add_argument("--no-floorplan", action="store_true",
                   help="leave a systolic array's DSPs and queue block RAMs to nextpnr "
                        "(default: fixed sites, synth.floorplan)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--update-baseline", action="store_true",
                   help="store this result as the unit's baseline")
    p.add_argument("--attribute", type=_positive_int, default=0, metavar="N",
                   help="also list the N register groups that the most LUT4s feed")


def make_parser():
    parser = _Parser(prog="exdisc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)

    p = sub.add_parser("list", help="list units and presets")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("generate", help="write Verilog/RTLIL of a unit")
    _unit_subparsers(p, "unit", "", lambda q: (
        q.add_argument("-o", "--output", default="build/generated", help="output directory"),
        q.add_argument("--format", default="verilog,rtlil", help="verilog, rtlil or both"),
        q.add_argument("--target", default="generic",
                       help="generic (portable RTL, default) or ecp5 (with ECP5 primitives)"),
    ))
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("sim", help="cocotb sign-off of a unit's Verilog (Verilator)")
    _unit_subparsers(p, "unit", "", lambda q: q.add_argument(
        "--seed", type=int, default=None, help="random seed (default: EXDISC_SEED or fresh)"))
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("prove", help="formal proof of a unit's property (SymbiYosys)")
    _unit_subparsers(p, "unit", "")
    p.set_defaults(func=cmd_prove)

    p = sub.add_parser("synth", help="yosys + nextpnr-ecp5 on a unit, compared with its baseline")
    _unit_subparsers(p, "unit", "", _synth_options)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("baseline", help="check (or --update) every stored synthesis baseline")
    p.add_argument("--update", dest="update_baseline", action="store_true",
                   help="rewrite the stored baselines with the new results")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="only baselines whose tools ran at most this long when recorded")
    p.add_argument("--freq", type=float, default=200.0, help=argparse.SUPPRESS)
    p.add_argument("--pnr-seed", type=int, default=1, help="nextpnr placer seed (default: 1)")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("bench", help="performance benchmarks on the RTL (results in sim/benchmarks/)")
    p.add_argument("bench", metavar="NAME",
                   help="benchmark: systolic, ffn, eager, router, conmerge")
    p.add_argument("--sizes", default=None,
                   help="array sizes RxC (default: systolic 4x4,8x8,16x16; ffn 16x16)")
    p.add_argument("--merge-lanes", default="1,2,4",
                   help="ffn: merge lanes D of the arrays (default: 1,2,4)")
    p.add_argument("--ks", default="8,16,32,64,128", help="tile depths K (default: 8,16,32,64,128)")
    p.add_argument("--grid", type=int, default=4, help="tiles per GEMM = grid^2 (default: 4)")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--no-save", action="store_true", help="do not update sim/benchmarks/")
    p.add_argument("--lanes", type=int, default=16,
                   help="eager: lanes L of the area comparison; router: request lanes P")
    p.add_argument("--per-lane", type=int, default=400,
                   help="router: requests per lane of each trace (default: 400)")
    p.add_argument("--word-bits", type=int, default=32,
                   help="router: bits per word the gathers are cut into (default: 32)")
    p.add_argument("--no-quality", action="store_true", help="eager: area only, skip the DiT run")
    p.set_defaults(func=cmd_bench)

    from .workload import add_parser as add_workload
    add_workload(sub)

    p = sub.add_parser("report", help="markdown tables of the stored baselines and benchmarks")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("flow", help="generate, simulate, prove and synthesize a preset")
    p.add_argument("--preset", default="default", help="preset name (see 'exdisc list')")
    p.add_argument("-o", "--output", default="build/flow", help="output directory")
    p.add_argument("--no-synth", action="store_true", help="skip yosys and nextpnr")
    p.add_argument("--seed", type=int, default=None, help="simulation seed")
    p.add_argument("--freq", type=float, default=200.0, help="P&R target in MHz")
    p.add_argument("--pnr-seed", type=int, default=1, help="nextpnr placer seed (default: 1)")
    p.set_defaults(func=cmd_flow, no_pnr=False)
    return parser


def main(argv=None):
    from sim.verilator import MissingTool as SimMissingTool
    from synth.tools import MissingTool, ToolFailed
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UsageError as e:
        print(f"{e} (see 'exdisc --help')", file=sys.stderr)
        return 2
    except (ValueError, TypeError, MissingTool, SimMissingTool, ToolFailed, AssertionError,
            RuntimeError) as e:
        if os.environ.get("EXDISC_DEBUG"):
            raise
        print(f"exdisc: error: {e} (EXDISC_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("exdisc: interrupted", file=sys.stderr)
        return 130
