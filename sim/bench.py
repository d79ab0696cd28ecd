"""Benchmarks: run the RTL, measure, compare with the golden cycle model,
and keep the latest results in ``sim/benchmarks/<name>.json``."""

import datetime
import json
import pathlib

from golden.systolic import cycle_model
from hw.units import get_unit
from .runner import BUILD_ROOT, run_unit


__all__ = ["RESULTS_DIR", "bench_systolic", "bench_ffn", "save_results"]


RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "benchmarks"


def save_results(name, record):
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    record = dict(record, date=datetime.date.today().isoformat())
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def bench_systolic(params, ks, *, grid=4, seed=None, log=print):
    """Busy fraction and cycles of back-to-back GEMM tiles at each K.

    Each K runs a ``(grid R) x K x (grid C)`` GEMM (``grid**2`` tiles)
    through the emitted Verilog with no stalls from outside, and reports the
    measured cycles next to the golden cycle model and the ideal (one beat
    per cycle, no fill or drain).
    """
    bench_dir = BUILD_ROOT / get_unit("systolic").module_name(params) / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    out = bench_dir / "bench.json"
    run = run_unit("systolic", params, "sim.bench_systolic", seed=seed, log=log,
                   run_name="bench",
                   env={"EXDISC_BENCH_KS": ",".join(map(str, ks)),
                        "EXDISC_BENCH_GRID": str(grid), "EXDISC_BENCH_OUT": str(out)})
    measured = json.loads(out.read_text())
    rows = []
    for m in measured["rows"]:
        model = cycle_model(params.rows, params.cols, [m["k"]] * m["tiles"],
                            mul_stages=params.mul_stages)
        rows.append({**m, "model_cycles": model["total"], "model_busy": model["busy"],
                     "ideal_cycles": m["beats"], "matches_model": m["cycles"] == model["total"]})
    return {"unit": "systolic", "params": params.as_dict(), "seed": run.seed, "grid": grid,
            "rows": rows}


def bench_eager_quality(*, per_class=1, steps=25, seed=0, top_k=32, log=print):
    """Recall of the exact top-k keys and attention sparsity of eager prediction
    on the tiny DiT's sampling run, for one and two leading ones and both selections."""
    from golden import workload
    from golden.eager import EagerPrediction
    # FACT (one leading one, truncated), the spec's two-step truncation, and the two
    # roundings of golden.lod.keep_leading_ones ("signed" is the predictor's default)
    points = [(1, "truncate"), (2, "truncate"), (2, "half_up"), (2, "signed")]
    suite = [(f"k1={k} k2={k} {rounding} {sel}",
              EagerPrediction(k1=k, k2=k, select=sel, top_k=top_k, rounding=rounding))
             for sel in ("top_k", "max_relative") for k, rounding in points]
    report, _ = workload.run(suite, per_class=per_class, steps=steps, seed=seed,
                             progress=lambda label, s, n: s == 0 and log(f"[eager] {label}"))
    rows = []
    for r in report["results"]:
        rows.append({"label": r["label"], "k": r["params"]["k1"], "select": r["params"]["select"],
                     "rounding": r["params"]["rounding"],
                     "recall": r["recall"], "kept_recall": r["kept_recall"],
                     "attention_sparsity": r["attention_sparsity"],
                     "attention_macs_skipped": r["attention_macs_skipped"],
                     "accuracy": r["accuracy"], "latent_error": r["latent_error"]})
    return {"top_k": top_k, "samples": report["config"]["samples"], "steps": steps,
            "seed": seed, "dense_accuracy": report["dense"]["accuracy"], "rows": rows}


def bench_ffn(params, *, step=3, layer=1, tokens=0, seed=None, log=print):
    """Engine cycles of one FFN-Reuse sparse step of the DiT (all tokens): FC1
    and FC2 dense, output-sparse FC1, input-sparse FC2, and the cached partial
    sum (an extra input-sparse GEMM of the dense step), measured on the
    emitted Verilog at full rate and set against the golden cycle model.
    ``tokens``: the first that many tokens only (0: all)."""
    bench_dir = BUILD_ROOT / get_unit("systolic").module_name(params) / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    out = bench_dir / "ffn.json"
    run = run_unit("systolic", params, "sim.bench_ffn", seed=seed, log=log, run_name="bench_ffn",
                   env={"EXDISC_BENCH_STEP": str(step), "EXDISC_BENCH_LAYER": str(layer),
                        "EXDISC_BENCH_TOKENS": str(tokens), "EXDISC_BENCH_OUT": str(out)})
    measured = json.loads(out.read_text())
    for r in measured["runs"].values():
        model = cycle_model(params.rows, params.cols, r.pop("ks"), mul_stages=params.mul_stages,
                            lanes=params.lanes)
        r["model_cycles"] = model["total"]
    runs = measured["runs"]
    for gemm in ("fc1", "fc2"):
        runs[f"{gemm}_sparse"]["cycles_cut"] = (1 - runs[f"{gemm}_sparse"]["cycles"]
                                                / runs[f"{gemm}_dense"]["cycles"])
    return {"unit": "systolic", "params": params.as_dict(), **measured, "seed": run.seed}
