"""CTR's decision unit: its integer decisions against the float CTR's on the
DiT's sampling runs, and its cycles per step on the RTL.

For each label and seed, a whole float CTR run of the tiny DiT
(:func:`exdisc.golden.trace.ctr_steps`) is replayed through the integer
decision (:func:`exdisc.golden.ctr_select.compare`), its history following
the float run's decisions: how many token decisions differ, and whether each
is a quantization tie. The unit's cycles per step are measured in the
Amaranth simulator and compared with :attr:`CtrSelectParams.decision_cycles`.
"""

import random

from exdisc.common.progress import bar
from exdisc.common.tables import Table
from exdisc.golden import trace
from exdisc.golden.ctr import CachedTokenReuse
from exdisc.golden.ctr_select import IntegerDecisionCTR, compare
from exdisc.hw.ctr_select import CtrSelectParams, CtrSelector
from exdisc.sim.harness.pysim import valid_cycles
from exdisc.sim.stimulus.ctr_select import FRAC_BITS, decision_steps, random_changes
from .workload import sample

__all__ = ["run", "tables", "failures"]


def cycles(p, seed=0):
    """One step sent back to back, the output always ready: ``(cycles from the
    last beat to the first fresh bit, cycles of the whole step)``."""
    beats = decision_steps(p, random_changes(p, random.Random(seed), 1))[0][0]
    seen = valid_cycles(CtrSelector(p), beats, p.decision_cycles + 2 * p.tokens)
    return seen[0], p.tokens + seen[-1]


def quality(p, *, per_class, steps, seed):
    """Sampling runs with the float decision and with the integer one (each
    free-running, its own history): their latent errors and class accuracy
    against the dense run, and the share of token decisions that differ."""
    runs = [("ctr", CachedTokenReuse(keep_masks=True)),
            ("ctr, integer decision", IntegerDecisionCTR(
                frac_bits=FRAC_BITS, dz_width=p.dz_width, hist_frac=p.hist_frac,
                keep_masks=True))]
    report, _ = sample(runs, per_class=per_class, steps=steps, guidance=3.0, seed=seed,
                       what="CTR, float and integer decisions")
    fresh = [[m for (_, _, kind), m in sorted(ex.masks.items()) if kind == "fresh"]
             for _, ex in runs]
    differ = sum(int((a != b).sum()) for a, b in zip(*fresh))
    total = sum(a.size for a in fresh[0])
    return {"samples": report["config"]["samples"], "steps": steps, "seed": seed,
            "dense_accuracy": report["dense"]["accuracy"],
            "runs": [{"label": r["label"], "latent_error": r["latent_error"],
                      "accuracy": r["accuracy"]} for r in report["results"]],
            "decisions_differ": differ / total}


def run(params=None, *, labels=range(10), seeds=(0, 1), steps=25, seed=0, per_class=2):
    p = params or CtrSelectParams()
    runs = []
    with bar(f"CTR runs: {len(labels)} labels x {len(seeds)} seeds, {steps} steps",
             len(labels) * len(seeds)) as advance:
        for s in seeds:
            for label in labels:
                result = compare(trace.ctr_steps(steps=steps, label=label, seed=s), FRAC_BITS,
                                 p.dz_width, p.hist_frac, p.decay_shift, p.weight_shift)
                runs.append({"seed": s, "label": label, **result})
                advance()
    decision, step = cycles(p, seed)
    return {"params": p.as_dict(), "frac_bits": FRAC_BITS, "steps": steps, "runs": runs,
            "quality": quality(p, per_class=per_class, steps=steps, seed=seeds[0]),
            "tokens": sum(r["tokens"] for r in runs), "differ": sum(r["differ"] for r in runs),
            "ties": sum(r["ties"] for r in runs),
            "worst_gap": max(r["worst_gap"] for r in runs),
            "cycles": {"decision": decision, "decision_model": p.decision_cycles,
                       "step": step, "step_model": p.step_cycles, "passes": p.passes}}


def tables(record):
    p, c = record["params"], record["cycles"]
    agree = [[f"{len(record['runs'])} runs", record["tokens"], record["differ"], record["ties"],
              f"{record['differ'] / record['tokens']:.3%}", f"{record['worst_gap']:.4f}"]]
    return [
        Table(["CTR runs", "token decisions", "differ", "quantization ties", "share",
               "widest gap"], agree,
              title="CTR's integer decision against the float one (exdisc bench ctr)",
              caption=f"Whole {record['steps']}-step runs of the tiny DiT, one per label and "
                      f"seed; the integer history follows the float run's decisions. A tie: "
                      f"a differing token whose float score is within the integers' error of "
                      f"the boundary; widest gap: the largest distance of a differing token's "
                      f"float score from the boundary, in score units (the history's)."),
        Table(["decision", "latent error", "class accuracy"],
              [[r["label"], f"{r['latent_error']:.4f}", f"{r['accuracy']:.3f}"]
               for r in record["quality"]["runs"]],
              title="CTR's sampling run with the float and the integer decision",
              caption=f"{record['quality']['samples']} samples, {record['quality']['steps']} "
                      f"steps, seed {record['quality']['seed']}, each decision free-running on "
                      f"its own history; dense class accuracy "
                      f"{record['quality']['dense_accuracy']:.3f}; "
                      f"{record['quality']['decisions_differ']:.3%} of token decisions differ "
                      f"between the two runs."),
        Table(["T", "values", "radix bits", "passes", "decision cycles", "model", "step cycles",
               "model"],
              [[p["tokens"], p["values"], p["radix_bits"], c["passes"], c["decision"],
                c["decision_model"], c["step"], c["step_model"]]],
              title="CTR's decision unit: cycles per step (Amaranth simulator)",
              caption="Decision: from a step's last beat to its first fresh bit; step: its "
                      "first beat in to its last bit out, inputs back to back, output ready."),
    ]


def failures(record):
    c = record["cycles"]
    out = []
    if (c["decision"], c["step"]) != (c["decision_model"], c["step_model"]):
        out.append(f"cycles {c['decision']}/{c['step']} differ from the model's "
                   f"{c['decision_model']}/{c['step_model']}")
    if record["differ"] != record["ties"]:
        out.append(f"{record['differ'] - record['ties']} integer decisions differ from the float "
                   f"ones beyond a quantization tie")
    return out
