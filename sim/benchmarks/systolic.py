"""Busy fraction and cycles of the systolic array on back-to-back GEMM tiles.

For each array size and each depth ``K``, a ``(grid R) x K x (grid C)`` GEMM
(``grid**2`` tiles) streams through the emitted Verilog with every input
always valid and the output always ready, so the figures are the array's
own; every word is still checked against the golden model. The measured
cycles are set against :func:`exdisc.golden.systolic.cycle_model` and the
ideal (one beat per cycle, no fill or drain).
"""

import json

from exdisc.golden.systolic import cycle_model
from exdisc.hw.systolic import SystolicParams
from exdisc.common.progress import log as default_log
from exdisc.sim.harness.runner import run_unit
from exdisc.common.tables import Table
from .common import bench_file


__all__ = ["measure", "run", "tables", "failures"]


def measure(params, ks, *, grid=4, seed=None, log=default_log):
    """One array: a row per ``K`` of measured and modelled cycles."""
    out = bench_file("systolic", params, "bench.json")
    run = run_unit("systolic", params, "exdisc.sim.testbenches.systolic_bench", seed=seed,
                   log=log, run_name="bench",
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


def run(sizes, ks, *, grid=4, seed=None, log=default_log):
    """Every array size of ``sizes`` (``(R, C)`` pairs) at every depth of ``ks``."""
    return {"grid": grid, "ks": list(ks),
            "runs": [measure(SystolicParams(rows=r, cols=c), ks, grid=grid, seed=seed, log=log)
                     for r, c in sizes]}


def tables(record):
    rows = []
    for run in record["runs"]:
        size = f"{run['params']['rows']}x{run['params']['cols']}"
        for r in run["rows"]:
            rows.append([size, r["k"], r["tiles"], r["cycles"], r["model_cycles"],
                         r["ideal_cycles"], f"{r['busy']:.4f}", f"{r['input_rate']:.4f}"])
    return [Table(["array", "K", "tiles", "cycles (RTL)", "cycles (model)", "ideal",
                   "busy end to end", "input rate"], rows,
                  title="Systolic array: back-to-back GEMM tiles (exdisc bench systolic)",
                  caption=f"{record['runs'][0]['grid'] ** 2} tiles per GEMM, inputs always "
                          "valid, output "
                          "always ready. Input rate: beats per cycle while the tiles stream "
                          "in; busy end to end also counts the fill and drain.")]


def failures(record):
    return [f"{run['params']['rows']}x{run['params']['cols']} K={r['k']}: RTL {r['cycles']} "
            f"cycles, model {r['model_cycles']}"
            for run in record["runs"] for r in run["rows"] if not r["matches_model"]]
