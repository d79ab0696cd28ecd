"""The core: the DiT sampled with every block run by the golden core model.

:func:`quality` samples the tiny DiT densely in float and with every block of
every step compiled to a descriptor program and run by the golden core model
(:class:`exdisc.golden.core_dit.IntegerCore`: int8 GEMMs, the integer
non-linear operations, an int32 residual stream), from the same labels and
noise: class accuracy, latent error and the share of samples whose
classified digit changes. The RTL core's cycle counts will join this record
when the RTL core exists.
"""

import numpy as np

from exdisc.golden import classifier
from exdisc.golden.core_dit import IntegerCore
from exdisc.common.tables import Table
from .workload import sample

__all__ = ["TARGETS", "quality", "tables", "failures"]

#: The issue's target for the integer datapath's quality.
TARGETS = {"digits_changed": 0.02}


def quality(*, per_class=20, steps=25, seed=0, theta=1e-3):
    """The integer core against the float run, paired sample by sample."""
    report, images = sample([("integer core", IntegerCore(theta=theta))], per_class=per_class,
                            steps=steps, guidance=3.0, seed=seed,
                            what="every block on the golden core model")
    clf = classifier.train()
    r = report["results"][0]
    changed = clf.predict_images(images["integer core"]) != clf.predict_images(images["dense"])
    return {"samples": report["config"]["samples"], "steps": steps, "seed": seed, "theta": theta,
            "float_accuracy": report["dense"]["accuracy"], "accuracy": r["accuracy"],
            "latent_error": r["latent_error"], "digits_changed": float(np.mean(changed)),
            "core": r["core"], "calibration": "per block and step, on the sampled batch"}


def tables(record):
    out = []
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
