"""Stimulus and golden expectations of CTR's decision unit
(:class:`exdisc.hw.ctr_select.CtrSelector`): random steps and the steps of
a recorded CTR run, with the fresh bits :mod:`exdisc.golden.ctr_select`
gives them. The Amaranth-simulator tests and the cocotb sign-off both use these.
"""

import numpy as np

from exdisc.golden.ctr import patches
from exdisc.golden.ctr_select import IntegerCTR, quantize_change

__all__ = ["decision_steps", "random_changes", "trace_changes", "FRAC_BITS"]

#: Fraction bits of the recorded run's latent differences (16-bit values: the
#: run's largest difference, about 3, fits with room).
FRAC_BITS = 12


def random_changes(p, rng, count):
    """``count`` steps of ``(dz [T, values], tokens reused, restart)``.

    Mostly small differences and counts near ``T / 2``, where the histories
    decide as much as the differences; now and then full-range, all-zero and
    extreme differences and the counts 0, 1, ``T - 1`` and ``T``. A restart
    on the first step and now and then.
    """
    lo, hi = -(1 << (p.dz_width - 1)), (1 << (p.dz_width - 1)) - 1
    out = []
    for n in range(count):
        kind = rng.choices(("small", "uniform", "zero", "extreme"), (6, 2, 1, 1))[0]
        span = {"small": (-2, 2), "uniform": (lo, hi)}.get(kind)
        if kind == "zero":
            dz = np.zeros((p.tokens, p.values), dtype=np.int64)
        elif kind == "extreme":
            dz = np.array([[rng.choice((lo, hi, 0)) for _ in range(p.values)]
                           for _ in range(p.tokens)])
        else:
            dz = np.array([[rng.randint(*span) for _ in range(p.values)]
                           for _ in range(p.tokens)])
        if rng.random() < 0.25:
            reuse = rng.choice((0, 1, p.tokens - 1, p.tokens))
        else:
            reuse = rng.randint(p.tokens // 4, (3 * p.tokens) // 4)
        out.append((dz, reuse, n == 0 or rng.random() < 0.05))
    return out


def trace_changes(p, steps):
    """The steps of a recorded CTR run (:func:`exdisc.golden.trace.ctr_steps`)
    as ``(dz, tokens reused, restart)``, the differences quantized with
    :data:`FRAC_BITS` fraction bits."""
    out = []
    for n, (dz, patch, count, _, _) in enumerate(steps):
        if dz is None:
            dzq = np.zeros((p.tokens, p.values), dtype=np.int64)
        else:
            dzq = quantize_change(patches(dz[None], patch)[0], FRAC_BITS, p.dz_width)
        out.append((dzq, count, n == 0))
    return out


def decision_steps(p, changes):
    """``(input beats, expected outputs)`` per step of ``changes``."""
    model = IntegerCTR(p.tokens, p.hist_frac, p.decay_shift, p.weight_shift)
    out = []
    for dz, reuse, restart in changes:
        fresh = model.step(dz, min(reuse, p.tokens), restart)
        beats = [{"dz": [int(v) for v in row], "count": int(reuse) if t == 0 else 0,
                  "restart": int(restart) if t == 0 else 0} for t, row in enumerate(dz)]
        want = [{"fresh": int(f), "last": int(t == p.tokens - 1)} for t, f in enumerate(fresh)]
        out.append((beats, want))
    return out
