"""Engine cycles of one FFN-Reuse sparse step of the DiT, dense against sparse.

A step of the tiny DiT's sampling run (all tokens, the quantized FC1 mask of
the dense step before it) runs on the emitted Verilog of engines with merge
lanes ``D``: FC1 and FC2 dense, FC1 output-sparse and FC2 input-sparse under
ConMerge's schedule (:mod:`exdisc.sim.host.sparse_ffn`), and the dense step's
extra GEMM for the cached partial sum. Inputs are always valid and the
output always ready; every word is checked against
:func:`exdisc.golden.ffn_reuse.sparse_step_int` while it is measured, and
every cycle count is set against :func:`exdisc.golden.systolic.cycle_model`.
"""

import json

from exdisc.golden.systolic import cycle_model
from exdisc.hw.systolic import SystolicParams
from exdisc.common.progress import log as default_log
from exdisc.sim.harness.runner import run_unit
from exdisc.common.tables import Table
from .common import bench_file


__all__ = ["GEMMS", "measure", "run", "tables", "failures", "plot"]


#: The measured GEMMs, in table order.
GEMMS = [("fc1_dense", "FC1 dense"), ("fc1_sparse", "FC1 output-sparse"),
         ("fc2_dense", "FC2 dense"), ("fc2_sparse", "FC2 input-sparse"),
         ("partial", "dense-step extra: (h_dense * M) @ w2")]


def measure(params, *, step=3, layer=1, tokens=0, seed=None, log=default_log):
    """One engine (``params``, a :class:`SystolicParams`); ``tokens``: the
    first that many tokens only (0: all)."""
    out = bench_file("systolic", params, "ffn.json")
    run = run_unit("systolic", params, "exdisc.sim.testbenches.ffn_bench", seed=seed, log=log,
                   run_name="bench_ffn",
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


def run(sizes, merge_lanes, *, seed=None, log=default_log):
    """Every size of ``sizes`` (``(R, C)`` pairs) with every ``D`` of ``merge_lanes``."""
    record = {"arrays": [measure(SystolicParams(rows=r, cols=c, lanes=d), seed=seed, log=log)
                         for r, c in sizes for d in merge_lanes]}
    first = record["arrays"][0]
    record.update(step=first["step"], layer=first["layer"], sparsity=first["sparsity"])
    return record


def tables(record):
    rows = []
    for run in record["arrays"]:
        p = run["params"]
        for key, label in GEMMS:
            r = run["runs"][key]
            cut = f"{r['cycles_cut']:.1%}" if "cycles_cut" in r else ""
            rows.append([f"{p['rows']}x{p['cols']} D={p['lanes']}", label, r["tiles"], r["beats"],
                         r["cycles"], r["model_cycles"], cut])
    return [Table(["array", "GEMM", "tiles", "beats", "cycles", "model", "cycles cut"], rows,
                  title="Sparse FFN-Reuse step on the engine (exdisc bench ffn)",
                  caption=f"DiT step {record['step']}, layer {record['layer']}, "
                          f"{record['arrays'][0]['tokens']} tokens, FC1 mask sparsity "
                          f"{record['sparsity']:.1%}; cycles measured on the Verilog at full "
                          "rate, every word checked.")]


def failures(record):
    return [f"{run['params']['rows']}x{run['params']['cols']} D={run['params']['lanes']} {k}: "
            f"RTL {r['cycles']} cycles, model {r['model_cycles']}"
            for run in record["arrays"] for k, r in run["runs"].items()
            if r["cycles"] != r["model_cycles"]]


def plot(record, path):
    """Cycles of each GEMM, dense against sparse, per engine."""
    from .plots import grouped_bars
    groups = [f"{a['params']['rows']}x{a['params']['cols']} D={a['params']['lanes']}"
              for a in record["arrays"]]
    series = {label: [a["runs"][key]["cycles"] for a in record["arrays"]]
              for key, label in GEMMS[:4]}
    return grouped_bars(path, groups, series, ylabel="cycles", xlabel="engine (R x C, merge lanes D)",
                        title=f"FFN-Reuse sparse step (DiT step {record['step']}, layer "
                              f"{record['layer']}, FC1 sparsity {record['sparsity']:.0%})")
