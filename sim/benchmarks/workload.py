"""The tiny DiT sampled densely and under each algorithm: work skipped and quality.

:func:`run` samples the same labels from the same noise densely and with
every executor of a suite (:mod:`exdisc.golden.workload`) and returns the
record: per run the algorithm's own figures (sparsity, reuse ratio, recall),
the multiply-accumulates skipped, the class accuracy of the generated digits
by an independent classifier, the relative error of the final latent against
the dense run, and the mask storage. With a directory it also draws, per
run, the generated digits beside the dense run's.
"""

import concurrent.futures
import pathlib

import numpy as np

from exdisc.golden import classifier, workload
from exdisc.golden.ctr import CachedTokenReuse
from exdisc.common.progress import bar, log as default_log, step as progress_step
from exdisc.common.tables import Table
from . import plots


__all__ = ["SUITES", "suite", "sample", "paired", "run", "tables", "failures"]


#: The named suites: each algorithm at its defaults beside its control, or
#: several settings of each.
SUITES = {"default": workload.default_suite, "sweep": workload.sweep_suite,
          "ctr": workload.ctr_suite}


def suite(name="default", only=None):
    """The ``(label, executor)`` pairs of suite ``name``; ``only`` (labels)
    keeps those runs, in the suite's order."""
    runs = SUITES[name]()
    if only:
        labels = [label for label, _ in runs]
        unknown = [o for o in only if o not in labels]
        if unknown:
            raise ValueError(f"the {name} suite has no run {', '.join(map(repr, unknown))}; "
                             f"its runs: {', '.join(labels)}")
        runs = [(label, ex) for label, ex in runs if label in only]
    return runs


def sample(runs, *, per_class, steps, guidance, seed, what="sampling"):
    """:func:`exdisc.golden.workload.run` with a progress bar over every step of
    every run (the dense run first). Returns ``(report, images)``."""
    total = (len(runs) + 1) * steps
    with bar(f"{what}: {per_class * 10} digits, {steps} steps, dense + {len(runs)} runs",
             total) as advance:
        return workload.run(runs, per_class=per_class, steps=steps, guidance=guidance,
                            seed=seed, progress=lambda label, s, n: advance())


def _batch(make_runs, per_class, steps, guidance, seed):
    report, images = workload.run(make_runs(), per_class=per_class, steps=steps,
                                  guidance=guidance, seed=seed)
    return report, images


def paired(make_runs, *, per_class, steps, seed, guidance=3.0, jobs=1, what="sampling"):
    """Sample ``per_class`` digits of each class densely and with each run of
    ``make_runs()`` in batches of one digit per class, batch ``i`` from noise
    seed ``seed + i``, on ``jobs`` processes.

    Each batch is a paired comparison of its own (the runs start from the
    batch's noise and labels), so the batches together are one paired
    comparison; a batch of ten keeps the arrays of a 200-sample run in the
    cache, and the batches spread over processes. What an executor
    calibrates on its batch (the integer models' per-tensor scales) it
    calibrates on ten digits, whatever ``per_class`` is.

    Returns ``{"labels", "images": {label: [N, 1, 32, 32]}, "digits": {label:
    classified digit}, "float_accuracy", "runs": [{"label", "accuracy",
    "latent_error", "digits_changed", "batches": [the batch's result]}]}``.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs: expected a positive integer, got {jobs!r}")
    args = [(make_runs, 1, steps, guidance, seed + i) for i in range(per_class)]
    with bar(f"{what}: {per_class * 10} digits in {per_class} batches, {steps} steps, "
             f"{jobs} process{'es' if jobs > 1 else ''}", per_class) as advance:
        if jobs == 1:
            done = []
            for a in args:
                done.append(_batch(*a))
                advance()
        else:
            with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
                futures = [pool.submit(_batch, *a) for a in args]
                for _ in concurrent.futures.as_completed(futures):
                    advance()
                done = [f.result() for f in futures]
    reports = [r for r, _ in done]
    labels = np.concatenate([r["labels"] for r in reports])
    images = {k: np.concatenate([im[k] for _, im in done]) for k in done[0][1]}
    clf = classifier.train()
    digits = {k: clf.predict_images(v) for k, v in images.items()}
    runs = []
    for i, r in enumerate(reports[0]["results"]):
        k = r["label"]
        runs.append({"label": k, "accuracy": float(np.mean(digits[k] == labels)),
                     "latent_error": workload.latent_error(images[k], images["dense"]),
                     "digits_changed": float(np.mean(digits[k] != digits["dense"])),
                     "batches": [rep["results"][i] for rep in reports]})
    return {"labels": labels, "images": images, "digits": digits,
            "float_accuracy": float(np.mean(digits["dense"] == labels)), "runs": runs}


def run(runs, *, per_class=workload.DEFAULTS["per_class"], steps=workload.DEFAULTS["steps"],
        guidance=workload.DEFAULTS["guidance"], seed=workload.DEFAULTS["seed"], grids=None,
        log=default_log):
    """Sample with ``runs`` (``(label, executor)`` pairs); returns the record.
    ``grids``: a directory for one PNG per run (its digits beside the dense
    run's), listed in the record as ``grids``."""
    report, images = sample(runs, per_class=per_class, steps=steps, guidance=guidance, seed=seed)
    if grids is not None:
        report["grids"] = [str(p) for p in write_grids(report, images, pathlib.Path(grids), log)]
    return report


def write_grids(report, images, directory, log=default_log):
    """One PNG per run: the dense run's digits on the left, the run's on the right."""
    if not plots.available():
        log("[workload] matplotlib is not installed (pip install exdisc[plot]): no sample grids")
        return []
    directory.mkdir(parents=True, exist_ok=True)
    labels = [int(c) for c in report["labels"]]
    dense = images["dense"]
    paths = []
    with progress_step(f"drawing {len(report['results'])} sample grids"):
        for r in report["results"]:
            name = "".join(c if c.isalnum() else "_" for c in r["label"]).strip("_")
            paths.append(plots.image_pairs(
                directory / f"{name}.png", dense, images[r["label"]], labels=labels,
                title=f"{r['label']}: class accuracy {r['accuracy']:.2f} "
                      f"(dense {report['dense']['accuracy']:.2f}), latent error "
                      f"{r['latent_error']:.3f}",
                reference_title="dense", run_title=r["label"]))
    return paths


def sparsity_of(r):
    """The algorithm's own sparsity figure: (what, value)."""
    for key, what in (("fc1_sparsity", "FC1"), ("attention_sparsity", "attention"),
                      ("mask_sparsity", "attention"), ("reuse_ratio", "tokens reused")):
        if key in r:
            return what, r[key]
    return "-", None


def _target(r):
    if "ffn_macs_skipped" in r:
        return f"{r['ffn_macs_skipped']:.1%} FFN"
    if "attention_macs_skipped" in r:
        return f"{r['attention_macs_skipped']:.1%} QK/PV"
    return "-"


def tables(record):
    c = record["config"]
    rows = [["dense", "-", "-", "0.0%", "-", f"{record['dense']['accuracy']:.3f}", "0", "0",
             f"{record['dense']['seconds']:.0f}"]]
    for r in record["results"]:
        what, value = sparsity_of(r)
        rows.append([r["label"], f"{value:.1%} {what}" if value is not None else "-",
                     "-" if "recall" not in r else f"{r['recall']:.3f}",
                     f"{r['macs_skipped']:.1%}", _target(r), f"{r['accuracy']:.3f}",
                     f"{r['latent_error']:.4f}", r["mask_bytes"], f"{r['seconds']:.0f}"])
    out = [Table(["run", "sparsity", "top-k recall", "MACs skipped", "in its GEMMs",
                   "class acc", "latent err", "mask B/seq", "s"], rows,
                  title=f"Workload: {c['samples']} samples, {c['steps']} DDIM steps, guidance "
                        f"{c['guidance']}, seed {c['seed']} (exdisc workload)",
                  caption=f"Class accuracy by an independent classifier (held-out accuracy on "
                          f"real digits {record['classifier_test_accuracy']:.3f}); latent error "
                          "|z - z_dense| / |z_dense| of the final images; 'in its GEMMs': the "
                          "skipped fraction of the GEMMs the algorithm targets.")]
    for r in record["results"]:
        if "attention_profile" in r:
            out += attention_profile_tables(r["attention_profile"])
    ctr = ctr_against_controls(record)
    if ctr:
        out.append(Table(["reuse", "ctr", "random tokens", "oldest tokens", "ctr beats both"],
                         ctr, title=f"CTR against its controls: latent error, seed {c['seed']}",
                         caption="The default CTR (its parameters as now defined) against a "
                                 "random choice of the same number of tokens and against "
                                 "recomputing the tokens whose caches are oldest."))
    return out


def attention_profile_tables(prof):
    """Per layer and head of the dense run: the attention rows' entropy
    relative to a uniform row's, and what each ST threshold keeps and drops;
    per threshold, the keys a row tile of queries keeps together."""
    rows = []
    for layer, heads in enumerate(prof["entropy"]):
        for head, ent in enumerate(heads):
            rows.append([f"{layer}.{head}", f"{ent:.3f}"] + [
                f"{kept[layer][head]:.1%} / {dropped[layer][head]:.1%}"
                for kept, dropped in zip(prof["kept"], prof["dropped"])])
    flat = sum(e > 0.95 for heads in prof["entropy"] for e in heads)
    mean = lambda a: float(np.mean(a))
    union = [[f"{t:g}", f"{mean(kept):.1%}"] + [f"{mean(tile[n]):.1%}" for tile in prof["union"]]
             for n, (t, kept) in enumerate(zip(prof["thetas"], prof["kept"]))]
    tiles = Table(["theta", "kept by a query"] + [f"kept by one of {r} queries"
                                                  for r in prof["tiles"]], union,
                  title="ST's kept keys, one query against a row tile of queries",
                  caption="Mean over layers, heads, steps and queries: the share of keys a "
                          "query's mask keeps, and the share some query of its row tile keeps "
                          "(what a dense tile of those queries computes over their keys' "
                          "union).")
    return [Table(["layer.head", "entropy"] + [f"theta {t:g}: kept / dropped"
                                              for t in prof["thetas"]], rows,
                 title="Attention of the dense run against ST's thresholds",
                 caption=f"Entropy of each attention row over that of a uniform row (1: "
                         f"uniform), mean over steps, samples and queries; {flat} of {len(rows)} "
                         f"heads above 0.95. Kept: the share of entries ST's mask keeps; "
                         f"dropped: the probability mass outside it."), tiles]


def ctr_against_controls(record):
    """Per reuse ratio of a record that holds CTR's controls: the latent
    error of the default and of each control, and whether the default beats
    both. ``[]`` if the record has no such ratio."""
    by = {}
    for r in record["results"]:
        if r["algorithm"] in ("ctr", "ctr_random", "ctr_age") and \
                (r["algorithm"] != "ctr" or r["params"] == _ctr_default(r["params"]["reuse"])):
            by.setdefault(r["params"]["reuse"], {})[r["algorithm"]] = r["latent_error"]
    rows = []
    for reuse, errs in sorted(by.items()):
        if len(errs) == 3:
            ctr, rnd, age = errs["ctr"], errs["ctr_random"], errs["ctr_age"]
            rows.append([f"{reuse:.1f}", f"{ctr:.4f}", f"{rnd:.4f}", f"{age:.4f}",
                         "yes" if ctr < min(rnd, age) else "no"])
    return rows


def _ctr_default(reuse):
    return CachedTokenReuse(reuse=reuse).describe()


def failures(record):
    return []       # quality figures are results, not checks
