"""Recall and attention sparsity of eager prediction on the tiny DiT.

The DiT's sampling run is repeated with :class:`exdisc.golden.eager.EagerPrediction`
for one and two leading ones (FACT's truncation, the spec's two-step
truncation, and both roundings), each with top-k and max-relative selection.
Per run: the recall of the exact top-k keys by the predicted top-k and by
the kept set, the attention sparsity, and the quality of the generated
digits. The area side of the comparison (the predictor against a MAC dot
product) is :mod:`exdisc.synth.area`.
"""

from exdisc.golden.eager import EagerPrediction
from exdisc.common.tables import Table
from .workload import sample


__all__ = ["POINTS", "quality", "tables", "failures"]


#: (k, rounding) of the runs: FACT, the spec's two-step truncation, and the
#: two roundings of :func:`exdisc.golden.lod.keep_leading_ones` ("signed" is
#: the predictor's default).
POINTS = [(1, "truncate"), (2, "truncate"), (2, "half_up"), (2, "signed")]


def quality(*, per_class=1, steps=25, seed=0, top_k=32):
    """The record: one row per (selection, k, rounding)."""
    runs = [(f"k1={k} k2={k} {rounding} {sel}",
             EagerPrediction(k1=k, k2=k, select=sel, top_k=top_k, rounding=rounding))
            for sel in ("top_k", "max_relative") for k, rounding in POINTS]
    report, _ = sample(runs, per_class=per_class, steps=steps, guidance=3.0, seed=seed,
                       what="eager prediction")
    rows = [{"label": r["label"], "k": r["params"]["k1"], "select": r["params"]["select"],
             "rounding": r["params"]["rounding"], "recall": r["recall"],
             "kept_recall": r["kept_recall"], "attention_sparsity": r["attention_sparsity"],
             "attention_macs_skipped": r["attention_macs_skipped"], "accuracy": r["accuracy"],
             "latent_error": r["latent_error"]} for r in report["results"]]
    return {"top_k": top_k, "samples": report["config"]["samples"], "steps": steps,
            "seed": seed, "dense_accuracy": report["dense"]["accuracy"], "rows": rows}


def tables(record):
    rows = [[r["label"], f"{r['recall']:.3f}", f"{r['kept_recall']:.3f}",
             f"{r['attention_sparsity']:.1%}", f"{r['attention_macs_skipped']:.1%}",
             f"{r['accuracy']:.3f}", f"{r['latent_error']:.4f}"] for r in record["rows"]]
    return [Table(["eager run", "top-k recall", "kept recall", "attention sparsity",
                   "QK/PV skipped", "class acc", "latent err"], rows,
                  title="Eager prediction on the DiT (exdisc bench eager)",
                  caption=f"Recall of the exact top-{record['top_k']} keys by the predicted "
                          f"top-{record['top_k']} and by the kept set; {record['samples']} "
                          f"samples, {record['steps']} steps; dense class accuracy "
                          f"{record['dense_accuracy']:.3f}.")]


def failures(record):
    return []
