"""Symmetric int8 quantization of the operands the RTL sees.

``quantize(x)`` returns ``q`` in ``[-127, 127]`` (-128 is never produced, so the
magnitude of every operand fits 7 bits and negation cannot overflow) and the
scale ``s = max|x| / 127`` with ``x ~ s * q``. One scale per tensor, or per
slice along ``axis`` (one per sample, for example), by round half to even.
"""

import numpy as np

QMAX = 127


def quantize(x, axis=None):
    """``(q int8 ndarray, scale float64 ndarray)``; ``scale`` broadcasts against ``x``.

    ``axis`` lists the axes that share one scale (``None``: the whole tensor).
    """
    x = np.asarray(x, dtype=np.float64)
    amax = np.max(np.abs(x), axis=axis, keepdims=True)
    scale = np.where(amax > 0, amax / QMAX, 1.0)
    q = np.clip(np.rint(x / scale), -QMAX, QMAX).astype(np.int8)
    return q, scale


def smoothing(h, w):
    """SmoothQuant's per-channel factors (``alpha = 1/2``) for the input ``h``
    of the GEMM with weights ``w [in, out]``: ``h / s`` and ``s * w`` have
    their ranges balanced per input channel."""
    hmax = np.max(np.abs(h), axis=tuple(range(h.ndim - 1)))
    wmax = np.max(np.abs(w), axis=1)
    s = np.sqrt(np.maximum(hmax, 1e-8) / np.maximum(wmax, 1e-8))
    return np.clip(s, 1e-4, 1e4)


def dequantize(q, scale):
    return q.astype(np.float64) * scale


def tensor_scale(x):
    """The symmetric int8 scale of a whole tensor, ``max|x| / 127`` (1 for zeros)."""
    top = float(np.max(np.abs(x))) if np.size(x) else 0.0
    return top / QMAX if top > 0 else 1.0


def to_int32(x, unit=1.0):
    """Float values as int32 accumulators worth ``unit`` each: rounded to
    nearest, saturated to ``[-(2**31 - 1), 2**31 - 1]``, as int64."""
    lim = (1 << 31) - 1
    return np.clip(np.rint(np.asarray(x, np.float64) / unit), -lim, lim).astype(np.int64)
