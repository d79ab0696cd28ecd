"""Bit-exact model of :class:`hw.systolic.SystolicArray` and its cycle count.

Arithmetic: operands are signed ``width``-bit integers; each product is
exact; the accumulator is a signed ``acc_width``-bit register that wraps
(two's complement) on overflow, never saturates. Because wrapping addition
is associative modulo ``2**acc_width``, the result of a tile is the exact
integer ``A @ B`` wrapped once at the end.
"""

import numpy as np


__all__ = ["wrap", "tile_result", "cycle_model", "operand_range"]


def operand_range(width):
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def wrap(x, bits):
    """Two's-complement wrap of integers to ``bits`` bits (object or int64 arrays)."""
    x = np.asarray(x, dtype=object)
    mod = 1 << bits
    half = 1 << (bits - 1)
    return np.vectorize(lambda v: ((int(v) + half) % mod) - half, otypes=[object])(x)


def _check_operands(m, width, name):
    lo, hi = operand_range(width)
    m = np.asarray(m)
    if m.size and (m.min() < lo or m.max() > hi):
        raise ValueError(f"{name} has values outside the signed {width}-bit range [{lo}, {hi}]")


def tile_result(a, b, width=8, acc_width=32):
    """Result of one tile: ``wrap(A @ B)`` with A ``[R, K]`` and B ``[K, C]``.

    Returns an int64 array ``[R, C]`` (values fit ``acc_width <= 64``).
    """
    a = np.asarray(a, dtype=object)
    b = np.asarray(b, dtype=object)
    _check_operands(a, width, "A")
    _check_operands(b, width, "B")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: A is {a.shape}, B is {b.shape}")
    return wrap(a.dot(b), acc_width).astype(np.int64)



def cycle_model(rows, cols, ks, *, mul_stages=1):
    """Cycle of each tile's last-beat handshake and of its first result row,
    for tiles of ``ks`` beats streamed back to back into an array that is
    never stalled on its output (the consumer always ready, inputs always
    valid).

    The array takes one beat per cycle and admits a tile's last beat only
    ``max(R, C)`` or more cycles after the previous one (see
    :class:`hw.systolic.SystolicArray`). Returns a dict with ``last_beats``,
    ``first_rows``, ``total`` (cycles from the first beat to the last result
    row, inclusive) and ``busy`` (beats / total).
    """
    spacing = max(rows, cols)
    drain_delay = 3 + mul_stages + cols
    queue_latency = 3          # hw.queue.StreamQueue: write, read latch, output register
    t = -1
    prev_last = None
    last_beats = []
    for k in ks:
        if k < 1:
            raise ValueError(f"tile depth K must be at least 1, not {k!r}")
        t += k
        if prev_last is not None and t - prev_last < spacing:
            t = prev_last + spacing
        last_beats.append(t)
        prev_last = t
    first_rows = [t + drain_delay + queue_latency for t in last_beats]
    total = first_rows[-1] + rows if ks else 0
    beats = sum(ks)
    return {"last_beats": last_beats, "first_rows": first_rows, "total": total,
            "busy": beats / total if total else 0.0, "beats": beats}
