"""The integer non-linear unit: its sustained rate on back-to-back rows of each
operation, and what its integer operations cost the tiny DiT.

:func:`rates` runs rows of the DiT's shapes (softmax over 256 scores, GELU
over 256 FC1 accumulators, LayerNorm and requantize over 64 values, and all
of them mixed) through the unit in the Amaranth simulator with every input
always offered and the output always ready, and records input beats per
cycle and whether every output word equals the golden model's. :func:`quality`
samples the DiT with each float operation replaced by its integer model, and
with all four, paired with the float run (same labels, same noise).
"""

import functools

import numpy as np

from exdisc.common.tables import Table
from exdisc.golden import nonlinear as gnl
from exdisc.golden.nonlinear_dit import OPS, IntegerNonLinear
from exdisc.hw.nonlinear import NonLinearParams, Op
from exdisc.sim.stimulus import nonlinear as stim
from exdisc.sim.testbenches.nonlinear_pysim import first_output_latency, sustained_rate
from .workload import paired


__all__ = ["rates", "quality", "tables", "failures", "TARGETS"]

#: The issue's targets: beats per cycle, share of digits changed, share of
#: ST keep-mask rows identical to the float mask.
TARGETS = {"rate": 1.0, "digits_changed": 0.01, "mask_rows_identical": 0.99}


def _programs(p, rows, rng):
    """Rows of the DiT's shapes (cut to ``max_len``) for each operation."""
    b = stim.RowBuilder(p)
    fmt = b.fmt
    ints = lambda n, bits: [int(v) for v in rng.integers(-(1 << bits), 1 << bits, min(n, p.max_len))]
    sm = gnl.softmax_params(1e-3, fmt)
    out = {
        "softmax": [b.softmax(ints(256, 16), *sm, 1 << 15, 20, gnl.theta_fixed(1e-3))
                    for _ in range(rows)],
        "gelu": [b.gelu(ints(256, 16), *gnl.gelu_params(1e-3, 0.05, fmt)) for _ in range(rows)],
        "requant": [b.requant(ints(64, 24), 40000, 24) for _ in range(rows)],
    }
    n = min(64, p.max_len)
    loads = [b.load(Op.LOAD_GAIN, rng.integers(-30000, 30000, n)),
             b.load(Op.LOAD_BIAS, rng.integers(-(1 << 20), 1 << 20, n))]
    out["layernorm"] = loads + [b.layer_norm(ints(64, 24), 9, 20) for _ in range(rows)]
    out["mixed"] = [r for group in zip(out["softmax"], out["gelu"], out["requant"],
                                       out["layernorm"][2:]) for r in group]
    out["mixed"] = loads + out["mixed"]
    return out


def rates(p=None, rows=12, seed=0):
    """Beats per cycle of back-to-back rows of each operation, and the first
    output's latency of a lone row."""
    p = p or NonLinearParams()
    rng = np.random.default_rng(seed)
    record = {"params": p.as_dict(), "rows": []}
    for op, program in _programs(p, rows, rng).items():
        rate, ok = sustained_rate(p, program)
        lone = [r for r in program if r.out][:1]
        record["rows"].append({
            "op": op, "row_length": len(lone[0].values),
            "beats": len(stim.beats(p, program)), "rows": len(program), "rate": rate,
            "latency": first_output_latency(p, lone), "outputs_match": ok})
    return record


def _runs(theta):
    runs = [(op, IntegerNonLinear((op,), theta=theta)) for op in OPS]
    return runs + [("all four", IntegerNonLinear(OPS, theta=theta))]


def quality(*, per_class=20, steps=25, seed=0, theta=1e-3, jobs=1):
    """Each float non-linear operation of the DiT replaced by its integer
    model, and all four, against the float run: class accuracy, latent
    error, the share of samples whose classified digit changes, and ST's
    keep masks against the float masks on the same scores (batches of ten
    digits, :func:`.workload.paired`)."""
    got = paired(functools.partial(_runs, theta), per_class=per_class, steps=steps, seed=seed,
                 jobs=jobs, what="integer non-linear operations")
    rows = []
    for r in got["runs"]:
        mask = {k: sum(b["mask"][k] for b in r["batches"]) for k in r["batches"][0]["mask"]}
        rows.append({
            "replaced": r["label"], "accuracy": r["accuracy"], "latent_error": r["latent_error"],
            "digits_changed": r["digits_changed"], "mask_rows": mask["rows"],
            "mask_rows_identical": 1.0 - mask["rows_differ"] / mask["rows"] if mask["rows"]
            else None,
            "mask_elements_differ": mask["elements_differ"], "kept_int": mask["kept_int"],
            "kept_float": mask["kept_float"]})
    return {"samples": len(got["labels"]), "steps": steps, "seed": seed, "theta": theta,
            "batch": 10, "float_accuracy": got["float_accuracy"], "rows": rows}


def tables(record):
    out = []
    if "rates" in record:
        r = record["rates"]
        out.append(Table(
            ["rows", "values a row", "beats", "beats / cycle", "first output after",
             "outputs = golden"],
            [[x["op"], x["row_length"], x["beats"], f"{x['rate']:.3f}", f"{x['latency']} cycles",
              "yes" if x["outputs_match"] else "NO"] for x in r["rows"]],
            title="Integer non-linear unit: sustained rate (exdisc bench nonlinear)",
            caption=f"lanes = {r['params']['lanes']}, max_len = {r['params']['max_len']}; every "
                    f"input always offered, the output always ready; the latency is a lone "
                    f"row's, from its first beat taken to its first beat out."))
    if "quality" in record:
        q = record["quality"]
        out.append(Table(
            ["replaced by the integer model", "class acc", "latent err", "digits changed",
             "ST mask rows identical"],
            [[x["replaced"], f"{x['accuracy']:.3f}", f"{x['latent_error']:.4f}",
              f"{x['digits_changed']:.1%}",
              "" if x["mask_rows_identical"] is None else f"{x['mask_rows_identical']:.2%}"]
             for x in q["rows"]],
            title="Integer non-linear operations on the DiT (exdisc bench nonlinear)",
            caption=f"{q['samples']} samples in batches of {q.get('batch', q['samples'])} (the "
                    f"per-tensor scales are set on a batch), {q['steps']} steps, paired with "
                    f"the float run "
                    f"(class accuracy {q['float_accuracy']:.3f}); digits changed: samples whose "
                    f"classified digit differs from the float run's; ST mask: theta = "
                    f"{q['theta']}, the integer keep mask against the float mask of the same "
                    f"integer scores."))
    return out


def failures(record):
    """Outputs that differ from the golden model (the targets are reported, not checked)."""
    return [f"{x['op']}: the unit's outputs differ from the golden model"
            for x in record.get("rates", {}).get("rows", []) if not x["outputs_match"]]
