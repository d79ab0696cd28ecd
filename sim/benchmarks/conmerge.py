"""Benchmark of ConMerge on the real FFN-Reuse masks of every layer: how many
passes (FC1, output-sparse) and beats (FC2, input-sparse) the dense
schedule, condense only and first-fit merging need, against the bound.

The schedules are the golden ones (:func:`exdisc.golden.conmerge.schedule`), which
the RTL matches entry for entry (``tests/test_conmerge*.py``); cycles of the
engine scale with them: an FC1 pass streams the tile's ``K = d`` beats, an
FC2 beat is one reduction step.
"""

import numpy as np

from exdisc.golden.conmerge import (bound_passes, passes_condensed, passes_dense,
                                    row_bound_passes, schedule)
from exdisc.common.tables import Table


__all__ = ["SCHEDULES", "ffn_masks", "fc1_figures", "fc2_figures", "run", "tables", "failures",
           "plot"]

#: The schedules of the tables and the plot, in order.
SCHEDULES = ["dense", "condensed", "merged_d2", "merged_d4", "merged_d8", "row_bound", "bound"]


def ffn_masks(label=3, steps=25, seed=0, sparsity=0.9):
    """``{(step, layer): mask [T, 4d]}`` of FFN-Reuse's dense steps (first sequence)."""
    from exdisc.golden.diffusion import sample
    from exdisc.golden.ffn_reuse import FFNReuse
    from exdisc.golden.trace import model
    ex = FFNReuse(sparsity=sparsity, keep_masks=True)
    sample(model(), [label], ex, steps=steps, seed=seed)
    return {(s, l): m[0] for (s, l, kind), m in sorted(ex.masks.items()) if kind == "ffn"}


def _tiles(mask, rows):
    out = []
    for t in range(0, mask.shape[0], rows):
        tile = np.zeros((rows, mask.shape[1]), bool)
        part = mask[t:t + rows]
        tile[:len(part)] = part
        out.append(tile)
    return out


def fc1_figures(mask, rows, cols, lanes):
    """Passes per schedule over the row tiles of one FC1 mask (one pass: C outputs
    of R tokens over the whole reduction)."""
    tiles = _tiles(mask, rows)
    out = {"dense": sum(passes_dense(t, cols) for t in tiles),
           "condensed": sum(passes_condensed(t, cols) for t in tiles),
           "bound": sum(bound_passes(t, rows, cols) for t in tiles),
           "row_bound": sum(row_bound_passes(t, rows, cols) for t in tiles)}
    for d in lanes:
        out[f"merged_d{d}"] = sum(len(schedule(t, cols, d)) for t in tiles)
    return out


def fc2_figures(mask, rows, cols, lanes):
    """Reduction beats per schedule over the row tiles of one FC2 input mask: a
    beat is one reduction step of R rows; condense skips steps no row needs,
    merging shares a beat among steps with disjoint rows (ConMerge's schedule
    with its ``C`` slots per pass, as :mod:`exdisc.sim.host.sparse_ffn` runs it). Bounds:
    ``ceil(bits / R)``, and the row with the most set bits (one MAC per row
    and beat)."""
    tiles = _tiles(mask, rows)
    n = mask.shape[1]
    out = {"dense": len(tiles) * n,
           "condensed": sum(int(t.any(axis=0).sum()) for t in tiles),
           "bound": sum(-(-int(t.sum()) // rows) for t in tiles),
           "row_bound": sum(max(-(-int(t.sum()) // rows), int(t.sum(axis=1).max()))
                            for t in tiles)}
    for d in lanes:
        out[f"merged_d{d}"] = sum(sum(len(p) for p in schedule(t, cols, d)) for t in tiles)
    return out


def run(rows=16, cols=16, lanes=(2, 4, 8), **trace):
    """Per (step, layer) and in total: passes / beats and utilisation of each
    schedule for FC1 and FC2, the element sparsity, and the targets' ratios.
    ``trace`` (label, steps, seed, sparsity) goes to :func:`ffn_masks`."""
    masks = ffn_masks(**trace)
    per = []
    totals = {"fc1": {}, "fc2": {}, "set_bits": 0, "elements": 0}
    for (step, layer), mask in masks.items():
        bits = int(mask.sum())
        f1 = fc1_figures(mask, rows, cols, lanes)
        f2 = fc2_figures(mask, rows, cols, lanes)
        per.append({"step": step, "layer": layer, "set_bits": bits, "sparsity": 1 - mask.mean(),
                    "fc1": {k: {"passes": v, "utilisation": bits / (rows * cols * v) if v else 1.0}
                            for k, v in f1.items()},
                    "fc2": {k: {"beats": v, "utilisation": bits / (rows * v) if v else 1.0}
                            for k, v in f2.items()}})
        totals["set_bits"] += bits
        totals["elements"] += mask.size
        for k, v in f1.items():
            totals["fc1"][k] = totals["fc1"].get(k, 0) + v
        for k, v in f2.items():
            totals["fc2"][k] = totals["fc2"].get(k, 0) + v
    bits = totals["set_bits"]
    sparsity = 1 - bits / totals["elements"]
    summary = {"sparsity": sparsity, "fc1": {}, "fc2": {}}
    for k, v in totals["fc1"].items():
        summary["fc1"][k] = {"passes": v, "utilisation": bits / (rows * cols * v),
                             "cycles_cut": 1 - v / totals["fc1"]["dense"],
                             "of_bound": totals["fc1"]["bound"] / v,
                             "of_row_bound": totals["fc1"]["row_bound"] / v}
    for k, v in totals["fc2"].items():
        summary["fc2"][k] = {"beats": v, "utilisation": bits / (rows * v),
                             "cycles_cut": 1 - v / totals["fc2"]["dense"],
                             "of_bound": totals["fc2"]["bound"] / v,
                             "of_row_bound": totals["fc2"]["row_bound"] / v}
    return {"rows": rows, "cols": cols, "lanes": list(lanes), "masks": len(masks),
            "run": {"label": 3, "steps": 25, "seed": 0, "sparsity": 0.9, **trace},
            "summary": summary, "per_mask": per}


def tables(record):
    rows = []
    for gemm, unit in (("fc1", "passes"), ("fc2", "beats")):
        for name in SCHEDULES:
            r = record["summary"][gemm][name]
            rows.append([gemm.upper(), name, r[unit], f"{r['utilisation']:.3f}",
                         f"{r['cycles_cut']:.1%}", f"{r['of_bound']:.2f}",
                         f"{r['of_row_bound']:.2f}"])
    return [Table(["GEMM", "schedule", "passes / beats", "utilisation", "cycles cut",
                   "bound / this", "row bound / this"], rows,
                  title="ConMerge on the DiT's FFN-Reuse masks (exdisc bench conmerge)",
                  caption=f"{record['masks']} masks (every layer, every dense step; element "
                          f"sparsity {record['summary']['sparsity']:.1%}), R = "
                          f"{record['rows']}, C = {record['cols']}. FC1 counts passes, FC2 "
                          "reduction beats; bound: ceil(set bits / (R C)) (FC2: / R); row "
                          "bound: no schedule gives a row more than C PEs per pass.")]


def failures(record):
    return []       # the schedules are the golden ones; nothing to compare here


def plot(record, path):
    """Utilisation of each schedule over all masks, FC1 and FC2."""
    from .plots import grouped_bars
    summary = record["summary"]
    series = {gemm.upper(): [summary[gemm][name]["utilisation"] for name in SCHEDULES]
              for gemm in ("fc1", "fc2")}
    labels = [name.replace("merged_d", "merged, D = ").replace("_", " ") for name in SCHEDULES]
    return grouped_bars(path, labels, series, ylim=(0, 1), xlabel="schedule",
                        ylabel="utilisation (set bits / PE slots)",
                        title=f"ConMerge on {record['masks']} FFN-Reuse masks of the DiT "
                              f"(R = {record['rows']}, C = {record['cols']}, "
                              f"{summary['sparsity']:.0%} sparse)")
