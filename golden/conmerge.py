"""ConMerge: condense and merge the columns of a row tile's FFN-Reuse mask.

EXION's facts: a mask column with no set bit in the tile is dropped
(*condensed*, its weights never fetched), and sparse columns whose row
occupancies are disjoint share one physical array column (*merged*), each
PE choosing its operand lane by a *conflict vector*. This project's policy
(``hardware.md``) is first fit over a stream of columns, one per cycle:

* a column goes to the first slot of the open pass whose occupancy does not
  overlap it and which has fewer than ``D`` lanes (an empty slot always
  qualifies);
* if no slot qualifies, the open pass is emitted and a new one opened with
  the column in slot 0;
* at the end of the tile the open pass is emitted if it holds any column.

A pass is ``C`` slots; a slot is one physical column and lists its logical
columns in lane order; its conflict vector gives, per row, the lane that row's
PE computes, or :data:`IDLE`. ``D = 1`` is condense only.

:func:`schedule` is the reference the RTL (:mod:`exdisc.hw.conmerge`) matches entry
for entry; :func:`utilisation` and :func:`compare_schedules` give the
benchmark's figures.
"""

import numpy as np


__all__ = ["IDLE", "Slot", "schedule", "passes_dense", "passes_condensed", "bound_passes",
           "row_bound_passes",
           "utilisation", "compare_schedules", "check_schedule"]

#: Conflict-vector entry of a row whose PE idles.
IDLE = -1


class Slot:
    """One physical column of a pass: logical columns in lane order and the
    conflict vector (lane per row or :data:`IDLE`)."""

    __slots__ = ("columns", "conflict")

    def __init__(self, rows):
        self.columns = []
        self.conflict = [IDLE] * rows

    def fits(self, occ, lanes):
        return len(self.columns) < lanes and not any(
            o and c != IDLE for o, c in zip(occ, self.conflict))

    def add(self, column, occ):
        lane = len(self.columns)
        self.columns.append(column)
        self.conflict = [lane if o else c for o, c in zip(occ, self.conflict)]

    def as_tuple(self):
        return tuple(self.columns), tuple(self.conflict)

    def __repr__(self):
        return f"Slot({self.columns}, {self.conflict})"


def _check(mask, cols, lanes):
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask: expected a 2-D [rows, columns] array, got shape {mask.shape}")
    for name, v in (("cols", cols), ("lanes", lanes)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    return mask


def schedule(mask, cols, lanes):
    """Passes of the first-fit schedule of ``mask [R, N]`` (column ``j`` is
    logical column ``j``) on ``cols`` physical columns with ``lanes`` merge
    lanes. Returns a list of passes, each a list of at most ``cols`` :class:`Slot`."""
    mask = _check(mask, cols, lanes)
    rows = mask.shape[0]
    passes, open_pass = [], []
    for j in range(mask.shape[1]):
        occ = mask[:, j].tolist()
        if not any(occ):
            continue
        slot = next((s for s in open_pass if s.fits(occ, lanes)), None)
        if slot is None and len(open_pass) < cols:
            slot = Slot(rows)
            open_pass.append(slot)
        if slot is None:
            passes.append(open_pass)
            slot = Slot(rows)
            open_pass = [slot]
        slot.add(j, occ)
    if open_pass:
        passes.append(open_pass)
    return passes


def passes_dense(mask, cols):
    return -(-np.asarray(mask).shape[1] // cols)


def passes_condensed(mask, cols):
    return -(-int(np.asarray(mask, dtype=bool).any(axis=0).sum()) // cols)


def bound_passes(mask, rows, cols):
    """``ceil(set bits / (R C))``: no schedule of R x C passes does better."""
    return -(-int(np.asarray(mask, dtype=bool).sum()) // (rows * cols))


def row_bound_passes(mask, rows, cols):
    """A tighter lower bound than :func:`bound_passes`: a pass gives each row
    only ``C`` PEs, so the row with the most set bits alone needs
    ``ceil(max_r n_r / C)`` passes. When a tile's rows are uneven this is
    what no schedule can beat."""
    mask = np.asarray(mask, dtype=bool)
    widest = int(mask.sum(axis=1).max()) if mask.size else 0
    return max(bound_passes(mask, rows, cols), -(-widest // cols))


def utilisation(set_bits, rows, cols, passes):
    return set_bits / (rows * cols * passes) if passes else 1.0


def compare_schedules(mask, rows, cols, lanes=(2, 4)):
    """Passes and utilisation of dense, condense-only, merged (each ``D`` in
    ``lanes``) and the bound, for a mask ``[T, N]`` cut into row tiles of
    ``rows`` tokens (the last tile zero-padded). One pass is one tile's beat
    sequence over ``C`` physical columns, so cycles scale with passes."""
    mask = np.asarray(mask, dtype=bool)
    tiles = [mask[i:i + rows] for i in range(0, mask.shape[0], rows)]
    set_bits = int(mask.sum())
    out = {"set_bits": set_bits, "elements": mask.size,
           "sparsity": 1 - set_bits / mask.size if mask.size else 0.0}
    counts = {"dense": sum(passes_dense(t, cols) for t in tiles),
              "condensed": sum(passes_condensed(t, cols) for t in tiles),
              "bound": sum(bound_passes(t, rows, cols) for t in tiles),
              "row_bound": sum(row_bound_passes(t, rows, cols) for t in tiles)}
    for d in lanes:
        counts[f"merged_d{d}"] = sum(len(schedule(t, cols, d)) for t in tiles)
    for name, passes in counts.items():
        out[name] = {"passes": passes, "utilisation": utilisation(set_bits, rows, cols, passes)}
    return out


def check_schedule(mask, passes, cols, lanes):
    """Raise ``AssertionError`` unless ``passes`` computes exactly the set bits of
    ``mask``: every set bit once, in its own column's lane, nothing else."""
    mask = np.asarray(mask, dtype=bool)
    covered = np.zeros_like(mask)
    for p in passes:
        assert len(p) <= cols, f"pass of {len(p)} slots > {cols}"
        for slot in p:
            assert 1 <= len(slot.columns) <= lanes
            for r, lane in enumerate(slot.conflict):
                if lane != IDLE:
                    j = slot.columns[lane]
                    assert mask[r, j] and not covered[r, j], (r, j)
                    covered[r, j] = True
    assert np.array_equal(covered, mask), "schedule misses set bits"
