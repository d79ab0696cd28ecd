"""Tiles for the systolic array: payloads to send and rows to expect.

Shared by the Amaranth-simulator tests, the cocotb testbench, the tiled
GEMM driver, the sparse FFN driver and the benchmark, so that all of them
feed the array the same way and check it against
:func:`exdisc.golden.systolic.tile_result` (dense) or
:func:`exdisc.golden.systolic.merged_tile_result` (merge lanes).
"""

import numpy as np

from exdisc.golden.systolic import IDLE, merged_tile_result, operand_range, tile_result


__all__ = ["Tile", "random_tile", "random_merged_tile", "extreme_tiles", "tile_payloads",
           "expected_rows", "tile_ports"]


class Tile:
    """One tile: A ``[R, K]`` and B ``[K, C]`` (dense) or ``[K, C, D]`` (merge
    lanes) as int64 arrays, with the selects of a merged tile.

    Members
    -------
    tile_sel : ndarray or None
        ``[C, R]`` lane of every PE for the whole tile, or ``IDLE``.
    row_sel : ndarray or None
        ``[K, R]`` lane of every row at every beat, or ``IDLE``.
    """

    def __init__(self, a, b, tile_sel=None, row_sel=None):
        self.a = np.asarray(a, dtype=np.int64)
        self.b = np.asarray(b, dtype=np.int64)
        if self.a.ndim != 2 or self.b.ndim not in (2, 3) or self.a.shape[1] != self.b.shape[0]:
            raise ValueError(f"tile shapes differ: A {self.a.shape}, B {self.b.shape}")
        R, K, C = self.a.shape[0], self.a.shape[1], self.b.shape[1]
        self.tile_sel = (np.zeros((C, R), np.int64) if tile_sel is None
                         else np.asarray(tile_sel, dtype=np.int64))
        self.row_sel = (np.zeros((K, R), np.int64) if row_sel is None
                        else np.asarray(row_sel, dtype=np.int64))
        if self.b.ndim == 2 and (tile_sel is not None or row_sel is not None):
            raise ValueError("selects need B with lanes, [K, C, D]")

    @property
    def k(self):
        return self.a.shape[1]

    def lanes_b(self, lanes):
        """B as ``[K, C, lanes]`` (a dense tile's B in lane 0)."""
        if self.b.ndim == 3:
            if self.b.shape[2] != lanes:
                raise ValueError(f"tile has {self.b.shape[2]} lanes, the array {lanes}")
            return self.b
        out = np.zeros(self.b.shape + (lanes,), np.int64)
        out[:, :, 0] = self.b
        return out

    def result(self, params):
        """The golden result ``[R, C]`` on an array with ``params``."""
        if not params.merged:
            if self.b.ndim != 2:
                raise ValueError("a tile with merge lanes needs an array with lanes > 1")
            return tile_result(self.a, self.b, params.width, params.acc_width)
        return merged_tile_result(self.a, self.lanes_b(params.lanes), self.tile_sel,
                                  self.row_sel, params.width, params.acc_width)


def random_tile(rng, params, k):
    lo, hi = operand_range(params.width)
    return Tile(rng.integers(lo, hi + 1, (params.rows, k)),
                rng.integers(lo, hi + 1, (k, params.cols)))


def random_merged_tile(rng, params, k, *, idle=0.2, row_sel=True):
    """Random operands in every lane and random selects, ``idle`` of them IDLE.
    Without ``row_sel`` the row selects are all lane 0 (output-sparse style);
    otherwise each row select is random and the tile select is a random lane
    of the lanes whose bits the row select leaves clear."""
    lo, hi = operand_range(params.width)
    R, C, D = params.rows, params.cols, params.lanes

    def sel(shape):
        s = rng.integers(0, D, shape)
        return np.where(rng.random(shape) < idle, IDLE, s)

    rows = sel((k, R)) if row_sel else np.zeros((k, R), np.int64)
    return Tile(rng.integers(lo, hi + 1, (R, k)), rng.integers(lo, hi + 1, (k, C, D)),
                tile_sel=sel((C, R)), row_sel=rows)


def extreme_tiles(params, k):
    """Operands at the ends of their range: every combination of min/max
    signs, which maximises the products and the accumulator's wrap."""
    lo, hi = operand_range(params.width)
    R, C = params.rows, params.cols
    out = []
    for va in (lo, hi):
        for vb in (lo, hi):
            out.append(Tile(np.full((R, k), va), np.full((k, C), vb)))
    checker = np.indices((R, k)).sum(axis=0) % 2
    out.append(Tile(np.where(checker, lo, hi), np.where(np.indices((k, C)).sum(axis=0) % 2, hi, lo)))
    return out


def tile_ports(params):
    """The array's input streams and their layouts, in driving order."""
    ports = {"a": params.a_layout, "b": params.b_layout}
    if params.merged:
        ports["sel"] = params.sel_layout
    return ports


def _select(lane):
    return {"lane": 0, "on": 0} if lane == IDLE else {"lane": int(lane), "on": 1}


def tile_payloads(tiles, params):
    """Payloads per input stream (see :func:`tile_ports`) for a sequence of tiles."""
    out = {name: [] for name in tile_ports(params)}
    for t in tiles:
        if params.merged:
            b = t.lanes_b(params.lanes)
            out["sel"].append([[_select(t.tile_sel[c, r]) for r in range(params.rows)]
                               for c in range(params.cols)])
        for k in range(t.k):
            a = {"col": [int(v) for v in t.a[:, k]], "last": int(k == t.k - 1)}
            if params.merged:
                a["sel"] = [_select(v) for v in t.row_sel[k]]
                out["b"].append([[int(v) for v in b[k, c]] for c in range(params.cols)])
            else:
                out["b"].append([int(v) for v in t.b[k, :]])
            out["a"].append(a)
    return out


def expected_rows(tiles, params):
    """Result rows the array must produce, as unpacked payloads."""
    out = []
    for t in tiles:
        res = t.result(params)
        for r in range(params.rows):
            out.append({"row": [int(v) for v in res[r]], "last": int(r == params.rows - 1)})
    return out
