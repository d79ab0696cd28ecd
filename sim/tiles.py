"""Tiles for the systolic array: beats to send and rows to expect.

Shared by the Amaranth-simulator tests, the cocotb testbench, the tiled
GEMM driver and the benchmark, so that all of them feed the array the same
way and check it against :func:`golden.systolic.tile_result`.
"""

import numpy as np

from golden.systolic import operand_range, tile_result


__all__ = ["Tile", "random_tile", "extreme_tiles", "beats", "expected_rows"]


class Tile:
    """One tile: A ``[R, K]`` and B ``[K, C]`` as int64 arrays."""

    def __init__(self, a, b):
        self.a = np.asarray(a, dtype=np.int64)
        self.b = np.asarray(b, dtype=np.int64)
        if self.a.shape[1] != self.b.shape[0]:
            raise ValueError(f"tile K differs: A {self.a.shape}, B {self.b.shape}")

    @property
    def k(self):
        return self.a.shape[1]


def random_tile(rng, params, k):
    lo, hi = operand_range(params.width)
    return Tile(rng.integers(lo, hi + 1, (params.rows, k)),
                rng.integers(lo, hi + 1, (k, params.cols)))


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


def beats(tiles):
    """(a payloads, b payloads) for a sequence of tiles."""
    a_items, b_items = [], []
    for t in tiles:
        for k in range(t.k):
            a_items.append({"col": [int(v) for v in t.a[:, k]], "last": int(k == t.k - 1)})
            b_items.append([int(v) for v in t.b[k, :]])
    return a_items, b_items


def expected_rows(tiles, params):
    """Result rows the array must produce, as unpacked payloads."""
    out = []
    for t in tiles:
        res = tile_result(t.a, t.b, params.width, params.acc_width)
        for r in range(params.rows):
            out.append({"row": [int(v) for v in res[r]], "last": int(r == params.rows - 1)})
    return out
