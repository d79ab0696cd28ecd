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


def dequantize(q, scale):
    return q.astype(np.float64) * scale
