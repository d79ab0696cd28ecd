"""``exdisc workload``: the tiny DiT sampled densely and under each algorithm."""

import json
import sys
import time
from pathlib import Path

from .report import format_table

#: Where the latest results are kept in the repository.
RESULTS = Path(__file__).resolve().parent.parent / "sim" / "benchmarks"


def sparsity_of(r):
    """The algorithm's own sparsity figure: (what, value)."""
    for key, what in (("fc1_sparsity", "FC1"), ("attention_sparsity", "attention"),
                      ("mask_sparsity", "attention"), ("reuse_ratio", "tokens reused")):
        if key in r:
            return what, r[key]
    return "-", None


def _rows(report):
    rows = [["dense", "-", "-", "0.0%", "-", f"{report['dense']['accuracy']:.3f}", "0", "0",
             f"{report['dense']['seconds']:.0f}"]]
    for r in report["results"]:
        what, value = sparsity_of(r)
        rows.append([r["label"], f"{value:.1%} {what}" if value is not None else "-",
                     "-" if "recall" not in r else f"{r['recall']:.3f}",
                     f"{r['macs_skipped']:.1%}", _target(r), f"{r['accuracy']:.3f}",
                     f"{r['latent_error']:.4f}", r["mask_bytes"], f"{r['seconds']:.0f}"])
    return rows


HEADERS = ["run", "sparsity", "top-k recall", "MACs skipped", "in its GEMMs", "class acc",
           "latent err", "mask B/seq", "s"]


def markdown_table(report):
    c = report["config"]
    lines = [f"Workload: {c['samples']} samples, {c['steps']} DDIM steps, guidance "
             f"{c['guidance']}, seed {c['seed']}", "",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in _rows(report)]
    return "\n".join(lines)


def table(report):
    return format_table(HEADERS, _rows(report))


def _target(r):
    if "ffn_macs_skipped" in r:
        return f"{r['ffn_macs_skipped']:.1%} FFN"
    if "attention_macs_skipped" in r:
        return f"{r['attention_macs_skipped']:.1%} QK/PV"
    return "-"


def write_grids(images, directory):
    """One PNG per run (dense on the left, the run on the right) and an overview."""
    from golden.png import side_by_side, tile, write_png
    directory.mkdir(parents=True, exist_ok=True)
    columns = 10
    dense = tile(images["dense"], columns)
    paths = []
    for label, imgs in images.items():
        name = "".join(c if c.isalnum() else "_" for c in label).strip("_")
        if label == "dense":
            continue
        path = directory / f"{name}.png"
        write_png(path, side_by_side([dense, tile(imgs, columns)]))
        paths.append(path)
    overview = side_by_side([tile(imgs, columns) for imgs in images.values()])
    write_png(directory / "overview.png", overview)
    return [directory / "overview.png"] + paths


def cmd_workload(args):
    from golden import workload
    suite = workload.sweep_suite() if args.sweep else workload.default_suite()
    out = sys.stderr if args.json else sys.stdout
    state = {"label": None, "t0": time.time()}

    def progress(label, step, steps):
        if label != state["label"]:
            if state["label"] is not None:
                print(f" {time.time() - state['t0']:.0f} s", file=out, flush=True)
            state.update(label=label, t0=time.time())
            print(f"{label:>28}: ", end="", file=out, flush=True)
        print("." if (step + 1) % 5 else f"{step + 1}", end="", file=out, flush=True)

    print(f"sampling {args.per_class * 10} digits, {args.steps} DDIM steps, guidance "
          f"{args.guidance}, seed {args.seed}: dense + {len(suite)} runs", file=out, flush=True)
    report, images = workload.run(suite, per_class=args.per_class, steps=args.steps,
                                  guidance=args.guidance, seed=args.seed, progress=progress)
    print(f" {time.time() - state['t0']:.0f} s", file=out, flush=True)
    grids = write_grids(images, Path(args.output))
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        print(table(report))
        print(f"classifier held-out accuracy on real digits: {report['classifier_test_accuracy']:.3f}")
        print(f"sample grids: {grids[0]} (rows: dense, then each run in the order above)")
    if not args.no_save:
        name = "workload_sweep" if args.sweep else "workload"
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{name}.json"
        path.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        print(f"results: {path}", file=out)
    return 0


def add_parser(sub):
    from golden.workload import DEFAULTS
    p = sub.add_parser("workload", help="sample the tiny DiT densely and with each algorithm")
    p.add_argument("--per-class", type=int, default=DEFAULTS["per_class"],
                   help=f"samples per digit class (default: {DEFAULTS['per_class']})")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"],
                   help=f"DDIM steps (default: {DEFAULTS['steps']})")
    p.add_argument("--guidance", type=float, default=DEFAULTS["guidance"],
                   help=f"classifier-free guidance scale (default: {DEFAULTS['guidance']})")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"],
                   help=f"noise seed (default: {DEFAULTS['seed']})")
    p.add_argument("--sweep", action="store_true",
                   help="run the settings sweep (several settings per algorithm, with controls)")
    p.add_argument("-o", "--output", default="build/workload", help="directory for the PNG grids")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument("--no-save", action="store_true", help="do not update sim/benchmarks/")
    p.set_defaults(func=cmd_workload)
