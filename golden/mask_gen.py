"""FFN-Reuse's recompute mask on integer accumulators: the golden twin of
:class:`exdisc.hw.mask_gen.MaskGenerator`.

FFN-Reuse keeps an FC1 output for recomputation when ``GELU(pre) > tau``. On
the monotonic branch of GELU that is a compare of the pre-activation with
``GELU^-1(tau)``, and with ``pre = scale * acc + bias`` a compare of the
integer accumulator with a per-column integer threshold. The hardware
compares accumulators; these functions define the thresholds and the mask.
"""

import numpy as np

__all__ = ["gelu_inverse", "fc1_integer_threshold", "fc1_mask", "threshold_for_width"]


def gelu_inverse(y, lo=-0.75, hi=1e4):
    """The pre-activation ``x > lo`` with ``GELU(x) = y`` (the monotonic branch), by bisection.

    ``y`` at or below ``GELU(lo)`` returns ``-inf``: every pre-activation on
    the monotonic branch passes such a threshold.
    """
    from .dit import gelu
    y = np.asarray(y, dtype=np.float64)
    a = np.full(y.shape, lo)
    b = np.full(y.shape, hi)
    for _ in range(80):
        m = (a + b) / 2
        below = gelu(m) <= y
        a = np.where(below, m, a)
        b = np.where(below, b, m)
    return np.where(y <= gelu(np.float64(lo)), -np.inf, b)


def fc1_integer_threshold(tau, bias, scale):
    """Per-column integer threshold on the FC1 accumulator that reproduces ``GELU(pre) > tau``.

    With ``pre = scale * acc + bias``: ``GELU(pre) > tau`` on the monotonic
    branch iff ``acc > (GELU^-1(tau) - bias) / scale`` iff ``acc > floor(...)``
    for an integer ``acc``. Returns int64 (``-2**62`` where every accumulator passes).
    """
    edge = (gelu_inverse(tau) - np.asarray(bias, np.float64)) / scale
    return np.where(np.isfinite(edge), np.floor(edge), -2.0 ** 62).astype(np.int64)


def fc1_mask(acc, threshold):
    """FFN-Reuse's mask from FC1 accumulators ``[..., N]`` and per-column thresholds ``[N]``."""
    return np.asarray(acc) > np.asarray(threshold)


def threshold_for_width(threshold, acc_width):
    """The thresholds as ``acc_width + 1``-bit signed integers that give the same
    mask for every ``acc_width``-bit accumulator (those beyond its range only
    ever pass all or none, and still do)."""
    lo, hi = -(1 << acc_width), (1 << acc_width) - 1
    return np.clip(np.asarray(threshold, dtype=np.int64), lo, hi)
