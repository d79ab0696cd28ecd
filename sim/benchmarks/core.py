"""The core: cycle estimates of a DiT block's program, and the DiT sampled
with every block run by the golden core model.

:func:`cycles` compiles one block of the DiT (a recorded block input) and
estimates its schedule on the core (:mod:`exdisc.golden.core_cycles`: the
four queues under their tokens, each descriptor's cost from the units'
measured behaviour; an estimate until the RTL core exists). :func:`quality` samples the tiny DiT densely in float and with every block of
every step compiled to a descriptor program and run by the golden core model
(:class:`exdisc.golden.core_dit.IntegerCore`: int8 GEMMs, the integer
non-linear operations, an int32 residual stream), from the same labels and
noise: class accuracy, latent error and the share of samples whose
classified digit changes. The RTL core's cycle counts will join this record
when the RTL core exists.
"""

import functools

from exdisc.golden import core_compile, core_cycles, trace
from exdisc.golden.core_dit import IntegerCore
from exdisc.common.tables import Table
from .workload import paired

__all__ = ["TARGETS", "cycles", "quality", "tables", "failures"]

#: The issue's targets: the integer datapath's quality, the engine's share of a block.
TARGETS = {"digits_changed": 0.02, "engine_busy": 0.9}


def cycles(lanes=(4, 8, 16, 32), layer=0, step=3):
    """The estimated schedule of one block's program (one sequence) on a
    16 x 16 core, for non-linear units of each number of ``lanes``."""
    x, c = trace.block_input(step=step, layer=layer)
    comp = core_compile.compile_block(trace.model(), layer, x[:1], c[:1])
    rows = []
    for n in lanes:
        est = core_cycles.estimate(comp.program, core_cycles.Timing(lanes=n))
        est.pop("schedule")             # per descriptor: too long for the record
        rows.append(dict(est, lanes=n))
    return {"layer": layer, "step": step, "descriptors": len(comp.program), "rows": rows}


def _runs(theta):
    return [("integer core", IntegerCore(theta=theta))]


def quality(*, per_class=20, steps=25, seed=0, theta=1e-3, jobs=1):
    """The integer core against the float run, paired sample by sample
    (batches of ten digits, :func:`.workload.paired`)."""
    got = paired(functools.partial(_runs, theta), per_class=per_class, steps=steps, seed=seed,
                 jobs=jobs, what="every block on the golden core model")
    r = got["runs"][0]
    core = {k: sum(b["core"][k] for b in r["batches"]) for k in r["batches"][0]["core"]}
    return {"samples": len(got["labels"]), "steps": steps, "seed": seed, "theta": theta,
            "float_accuracy": got["float_accuracy"], "accuracy": r["accuracy"],
            "latent_error": r["latent_error"], "digits_changed": r["digits_changed"],
            "core": core, "calibration": "per block and step, on each batch of ten digits"}


def tables(record):
    out = []
    if "cycles" in record:
        r = record["cycles"]
        out.append(Table(
            ["non-linear lanes", "cycles", "engine busy", "GEMM", "softmax", "other vector",
             "load", "store", "GEMM waits"],
            [[x["lanes"], x["total"], f"{x['engine_busy']:.3f}", x["by_op"]["GEMM"],
              x["by_op"]["SOFTMAX"], x["busy"]["vector"] - x["by_op"]["SOFTMAX"],
              x["by_op"]["LOAD"], x["by_op"]["STORE"], x["token_waits"].get("gemm", 0)]
             for x in r["rows"]],
            title="One dense DiT block on a 16 x 16 core: estimated cycles (exdisc bench core)",
            caption=f"{r['descriptors']} descriptors; an event schedule of the four queues under "
                    f"their tokens with each descriptor's cost from the units (golden/"
                    f"core_cycles.py), not the RTL, which does not exist yet; engine busy: the "
                    f"engine's beats over the block's cycles (target "
                    f"{TARGETS['engine_busy']})."))
    if "quality" in record:
        q = record["quality"]
        out.append(Table(
            ["run", "class acc", "latent err", "digits changed"],
            [["float", f"{q['float_accuracy']:.3f}", "", ""],
             ["every block on the golden core model", f"{q['accuracy']:.3f}",
              f"{q['latent_error']:.4f}", f"{q['digits_changed']:.1%}"]],
            title="The integer datapath on the DiT (exdisc bench core)",
            caption=f"{q['samples']} samples, {q['steps']} steps, paired with the float run; "
                    f"int8 GEMMs, integer non-linear operations, int32 residual stream; scales "
                    f"{q['calibration']}; digits changed: samples whose classified digit "
                    f"differs from the float run's (target at most "
                    f"{TARGETS['digits_changed']:.0%})."))
    return out


def failures(record):
    """Nothing is checked here: the targets are reported (the golden core
    model is checked word by word in the tests)."""
    return []
