"""The workload: the tiny DiT sampled densely and under each algorithm, scored.

:func:`run` samples the same labels and noise densely and with every
executor of a suite, and reports for each: the work skipped (per GEMM and in
total), the algorithm's own figures (sparsity, reuse ratio, recall), the
class accuracy of the generated digits by an independent classifier, the
relative error of the final latent against the dense run, and the mask
storage.
"""

import time

import numpy as np

from . import classifier
from .ctr import CachedTokenReuse
from .diffusion import sample
from .dit import DiT
from .eager import EagerPrediction
from .execution import OPS, Dense
from .ffn_reuse import FFNReuse
from .softmax_threshold import PROFILE_THETAS, AttentionProfile, SoftmaxThreshold

#: Defaults of a workload run (``exdisc workload``).
DEFAULTS = {"per_class": 2, "steps": 25, "guidance": 3.0, "seed": 0}


def default_suite():
    """``(label, executor)``: each algorithm at its defaults, and its control."""
    return [
        ("ffn_reuse", FFNReuse()),
        ("ffn_reuse/random-mask", FFNReuse(control=True)),
        ("eager k2", EagerPrediction()),
        ("eager k1 (FACT)", EagerPrediction(k1=1, k2=1, rounding="truncate")),
        ("ctr", CachedTokenReuse()),
        ("ctr/random-tokens", CachedTokenReuse(control="random")),
        ("ctr/oldest-tokens", CachedTokenReuse(control="age")),
        ("st", SoftmaxThreshold()),
        ("st/no-reuse", SoftmaxThreshold(control=True)),
    ]


def sweep_suite():
    """Several settings of ST, each beside its control, and more FFN-Reuse densities (CTR's
    settings are :func:`ctr_suite`)."""
    suite = [(f"ffn_reuse s={s}", FFNReuse(sparsity=s)) for s in (0.8, 0.95)]
    suite += [("attention profile (dense)", AttentionProfile())]
    for th in PROFILE_THETAS:
        suite += [(f"st theta={th}", SoftmaxThreshold(theta=th)),
                  (f"st/no-reuse theta={th}", SoftmaxThreshold(theta=th, control=True))]
    suite += [("st R=10", SoftmaxThreshold(period=10)), ("st block=4", SoftmaxThreshold(block=4))]
    return suite


#: The reuse ratios of CTR's study.
CTR_REUSE = (0.3, 0.5, 0.7)


def ctr_suite():
    """CTR's default beside its two controls (random tokens, oldest caches)
    at three reuse ratios, and the settings it was chosen against: the
    exponential staleness of algorithms.md's first form, no staleness term,
    the change since each token's last fresh step, and the opposite
    direction."""
    suite = []
    for r in CTR_REUSE:
        suite += [(f"ctr r={r}", CachedTokenReuse(reuse=r)),
                  (f"ctr/random-tokens r={r}", CachedTokenReuse(reuse=r, control="random")),
                  (f"ctr/oldest-tokens r={r}", CachedTokenReuse(reuse=r, control="age")),
                  (f"ctr exp-staleness r={r}", CachedTokenReuse(reuse=r, staleness="exp")),
                  (f"ctr no-staleness r={r}", CachedTokenReuse(reuse=r, staleness="exp",
                                                               starve=0.0)),
                  (f"ctr since-fresh r={r}", CachedTokenReuse(reuse=r, reference="fresh")),
                  (f"ctr/most-changed r={r}", CachedTokenReuse(reuse=r, least_changed=False))]
    return suite


def latent_error(z, ref):
    return float(np.linalg.norm(z - ref) / np.linalg.norm(ref))


def _result(label, executor, images, dense_images, labels, clf, seconds):
    out = {"label": label, "algorithm": executor.name, "params": executor.describe(),
           "accuracy": clf.accuracy(images, labels), "latent_error": latent_error(images, dense_images),
           "seconds": round(seconds, 2)}
    out.update(executor.summary())
    dense = {op: executor.totals((op,)) for op in OPS}
    out["skipped_by_op"] = {op: (1.0 - done / tot if tot else 0.0) for op, (tot, done) in dense.items()}
    out["work"] = executor.per_layer_step()
    return out


def run(suite=None, per_class=DEFAULTS["per_class"], steps=DEFAULTS["steps"],
        guidance=DEFAULTS["guidance"], seed=DEFAULTS["seed"], model=None, progress=None):
    """Sample densely and with each executor of ``suite``; return ``(report, images)``.

    ``progress(label, step, steps)`` is called before every step. ``images``
    maps each label (and ``"dense"``) to the generated ``[n, 1, 32, 32]`` images.
    """
    if not isinstance(per_class, int) or isinstance(per_class, bool) or per_class < 1:
        raise ValueError(f"per_class: expected a positive integer, got {per_class!r}")
    model = model or DiT.load()
    suite = default_suite() if suite is None else suite
    labels = np.repeat(np.arange(model.cfg.num_classes), per_class)
    clf = classifier.train()

    def go(label, executor):
        if progress:
            begin = executor.begin_step

            def begin_step(step, z):
                progress(label, step, steps)
                begin(step, z)
            executor.begin_step = begin_step
        t0 = time.time()
        images, _ = sample(model, labels, executor, steps=steps, guidance=guidance, seed=seed)
        return images, time.time() - t0

    dense_exec = Dense()
    dense_images, dense_seconds = go("dense", dense_exec)
    report = {
        "config": {"per_class": per_class, "samples": len(labels), "steps": steps,
                   "guidance": guidance, "seed": seed, "model": model.cfg.as_dict()},
        "classifier_test_accuracy": clf.test_accuracy,
        "labels": labels.tolist(),
        "dense": {"accuracy": clf.accuracy(dense_images, labels), "seconds": round(dense_seconds, 2),
                  "macs": dense_exec.totals()[0]},
        "results": [],
    }
    images = {"dense": dense_images}
    for label, executor in suite:
        imgs, seconds = go(label, executor)
        images[label] = imgs
        report["results"].append(_result(label, executor, imgs, dense_images, labels, clf, seconds))
    return report, images
