"""Stimulus and expected schedules for :class:`exdisc.hw.conmerge.ConMerge`, from
:func:`exdisc.golden.conmerge.schedule`, in one comparable form for both simulators."""

import numpy as np

from exdisc.golden.conmerge import IDLE, schedule


__all__ = ["tile_beats", "expected_passes", "rtl_pass", "random_tiles", "trace_tiles",
           "conmerge_jobs"]


def tile_beats(tile):
    """Input beats of one row tile ``[R, N]``: column ``j`` with index ``j``."""
    tile = np.asarray(tile, dtype=bool)
    n = tile.shape[1]
    return [{"occ": int(sum(1 << r for r in np.flatnonzero(tile[:, j]))), "index": j,
             "last": int(j == n - 1)} for j in range(n)]


def expected_passes(tile, p):
    """The golden schedule as ``(slots, last)`` records; a tile without a set
    bit is one record with no slot."""
    passes = schedule(tile, p.cols, p.lanes)
    if not passes:
        return [((), 1)]
    return [(tuple((tuple(s.columns), tuple(s.conflict)) for s in ps), int(n == len(passes) - 1))
            for n, ps in enumerate(passes)]


def rtl_pass(value, p):
    """An unpacked output payload in the form of :func:`expected_passes`."""
    slots = []
    for s in value["slots"]:
        if s["used"] == 0:
            continue
        conflict = tuple(s["lane"][r] if (s["active"] >> r) & 1 else IDLE for r in range(p.rows))
        slots.append((tuple(s["columns"][:s["used"]]), conflict))
    return (tuple(slots), value["last"])


def random_tiles(p, rng, count, columns=None):
    """Random tiles of random density (2 % to 60 %), plus the degenerate ones:
    all zero, all one, a single column, a single set row, one column wide."""
    n = columns or min(4 * p.cols + 3, 1 << p.index_bits)
    tiles = [np.zeros((p.rows, n), bool), np.ones((p.rows, n), bool)]
    one_col = np.zeros((p.rows, n), bool)
    one_col[:, rng.randrange(n)] = True
    one_row = np.zeros((p.rows, n), bool)
    one_row[rng.randrange(p.rows), ::2] = True
    tiles += [one_col, one_row, np.ones((p.rows, 1), bool), np.zeros((p.rows, 1), bool)]
    nrng = np.random.default_rng(rng.getrandbits(32))
    for _ in range(count):
        tiles.append(nrng.random((p.rows, n)) < rng.choice([0.02, 0.05, 0.1, 0.2, 0.4, 0.6]))
    return tiles


def trace_tiles(p, mask):
    """Row tiles of ``R`` tokens of a real mask ``[T, N]`` (the last zero-padded)."""
    mask = np.asarray(mask, dtype=bool)
    out = []
    for t in range(0, mask.shape[0], p.rows):
        tile = np.zeros((p.rows, mask.shape[1]), bool)
        part = mask[t:t + p.rows]
        tile[:len(part)] = part
        out.append(tile)
    return out


def conmerge_jobs(p, tiles):
    """``(beats, expected passes)`` of each tile."""
    return [(tile_beats(t), expected_passes(t, p)) for t in tiles]
