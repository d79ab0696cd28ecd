"""Bit-exact model of :class:`exdisc.hw.systolic.SystolicArray` and its cycle count.

Arithmetic: operands are signed ``width``-bit integers; each product is
exact; the accumulator is a signed ``acc_width``-bit register that wraps
(two's complement) on overflow, never saturates. Because wrapping addition
is associative modulo ``2**acc_width``, the result of a tile is the exact
integer ``A @ B`` wrapped once at the end.
"""

import numpy as np


__all__ = ["wrap", "tile_result", "merged_tile_result", "IDLE", "cycle_model", "operand_range"]

#: A select that makes its PE idle (multiply by 0); the same value as
#: :data:`exdisc.golden.conmerge.IDLE`.
IDLE = -1


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


def merged_tile_result(a, b, tile_sel, row_sel, width=8, acc_width=32):
    """Result of one tile on an array with merge lanes.

    ``a [R, K]``; ``b [K, C, D]`` (``D`` lanes per column); ``tile_sel [C, R]``
    (per PE, constant over the tile) and ``row_sel [K, R]`` (per row and
    beat): a lane in ``0 .. D-1`` or :data:`IDLE`. PE ``(r, c)`` at beat ``k``
    multiplies ``a[r, k]`` by ``b[k, c, tile_sel[c, r] | row_sel[k, r]]`` if
    neither select is :data:`IDLE`, else by 0 (the lanes combine by bitwise
    OR, as in :class:`exdisc.hw.systolic.SystolicArray`). The sum wraps to
    ``acc_width`` bits once, like :func:`tile_result`.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    tile_sel = np.asarray(tile_sel, dtype=np.int64)
    row_sel = np.asarray(row_sel, dtype=np.int64)
    _check_operands(a, width, "A")
    _check_operands(b, width, "B")
    R, K = a.shape
    if b.ndim != 3 or b.shape[0] != K:
        raise ValueError(f"B must be [K, C, D] with K = {K}, got shape {b.shape}")
    C, D = b.shape[1], b.shape[2]
    if tile_sel.shape != (C, R) or row_sel.shape != (K, R):
        raise ValueError(f"selects must be tile_sel [C, R] = {(C, R)} and row_sel [K, R] = "
                         f"{(K, R)}, got {tile_sel.shape} and {row_sel.shape}")
    for name, sel in (("tile_sel", tile_sel), ("row_sel", row_sel)):
        if sel.size and (sel.min() < IDLE or sel.max() >= D):
            raise ValueError(f"{name} has lanes outside [{IDLE}, {D - 1}]")
    on = (tile_sel.T[None, :, :] != IDLE) & (row_sel[:, :, None] != IDLE)       # [K, R, C]
    lane = np.where(on, tile_sel.T[None, :, :] | row_sel[:, :, None], 0)
    k_idx, c_idx = np.arange(K)[:, None, None], np.arange(C)[None, None, :]
    operand = np.where(on, b[k_idx, c_idx, lane], 0)                            # [K, R, C]
    total = np.einsum("rk,krc->rc", a.astype(object), operand.astype(object))
    return wrap(total, acc_width).astype(np.int64)


def cycle_model(rows, cols, ks, *, mul_stages=1, lanes=1, after=None, ready=None):
    """Cycle of each tile's last-beat handshake and of its first result row,
    for tiles of ``ks`` beats streamed back to back into an array that is
    never stalled on its output (the consumer always ready, inputs always
    valid).

    The array takes one beat per cycle and admits a tile's last beat only
    ``max(R, C)`` or more cycles after the previous one, and with merge lanes
    (``lanes > 1``) a tile's first beat only ``R + C - 1`` or more cycles
    after the previous first beat (see :class:`exdisc.hw.systolic.SystolicArray`);
    with merge lanes results come two cycles later (an input stage and the
    select stage). ``after`` (``{i: [(j, d), ...]}``, each ``j < i``) holds
    tile ``i``'s first beat until ``d`` cycles after each tile ``j``'s (a
    feed that waits for something the engine set off); ``ready(i,
    first_beats)``, if given, is the earliest cycle of tile ``i``'s first
    beat, from the first beats so far. Returns a dict with ``first_beats``,
    ``last_beats``, ``first_rows``, ``total`` (cycles from the first beat to
    the last result row, inclusive) and ``busy`` (beats / total).
    """
    spacing = max(rows, cols)
    merged = lanes > 1
    first_spacing = rows + cols - 1 if merged else 1
    drain_delay = 3 + mul_stages + 2 * int(merged) + cols
    queue_latency = 7          # hw.queue.StreamQueue.params.latency
    t = 0                      # cycle of the next beat
    prev_first = prev_last = None
    first_beats, last_beats = [], []
    after = after or {}
    for i, k in enumerate(ks):
        if k < 1:
            raise ValueError(f"tile depth K must be at least 1, not {k!r}")
        if prev_first is not None:
            t = max(t, prev_first + first_spacing)
        for j, delay in after.get(i, ()):
            t = max(t, first_beats[j] + delay)
        if ready is not None:
            t = max(t, ready(i, first_beats))
        if k == 1 and prev_last is not None:       # the first beat is also the last
            t = max(t, prev_last + spacing)
        prev_first = t
        first_beats.append(t)
        t += k - 1
        if prev_last is not None:
            t = max(t, prev_last + spacing)
        last_beats.append(t)
        prev_last = t
        t += 1
    first_rows = [t + drain_delay + queue_latency for t in last_beats]
    total = first_rows[-1] + rows if ks else 0
    beats = sum(ks)
    return {"first_beats": first_beats, "last_beats": last_beats, "first_rows": first_rows,
            "total": total,
            "busy": beats / total if total else 0.0, "beats": beats}
