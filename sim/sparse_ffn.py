"""Output-sparse and input-sparse GEMM tiles of an FFN-Reuse sparse step: the
host side that turns a mask into engine tiles with ConMerge's schedule.

The mask is cut into row tiles of ``R`` tokens (the last one padded with
tokens that need nothing), and each row tile is scheduled by
:func:`golden.conmerge.schedule` with the array's ``C`` and ``D``
(``D = 1``: condense only):

* **FC1, output-sparse** (:func:`fc1_tiles`): one engine tile per pass,
  streaming the tokens' ``x`` over the whole ``d``. Physical column ``c``
  carries the ``w1`` columns of slot ``c``'s logical columns in its lanes,
  and the slot's conflict vector is the tile select: PE ``(r, c)`` computes
  ``x[r] . w1[:, column]`` for the column its row needs, or idles. The results
  scatter back to ``(token, column)``.
* **FC2, input-sparse** (:func:`fc2_tiles`): a slot is now one *beat*: the
  reduction steps (columns of ``h``) it merges have disjoint rows, so the
  beat's row select gives each row the lane of the step it needs, ``a[r]``
  is that row's ``h`` element (0 if the row idles) and ``b[c]`` carries the
  merged steps' ``w2`` rows. Steps that no row needs are never sent. One
  engine tile per ``C`` output columns.

With ``D = 1`` there are no selects: FC1's PEs also compute the unmasked
positions of a column (not scattered) and FC2's idle rows get ``a = 0``.

The dense step caches FC2's partial sum over the reused elements,
``P = (h_dense * ~M) @ w2``. Computed directly that is an input-sparse GEMM
of density ``1 - s``, nearly a dense one; the dense step computes the dense
FC2 anyway, so it gets ``P = h_dense @ w2 - (h_dense * M) @ w2`` from one more
input-sparse GEMM of density ``s`` (**[choice]**, exact in wrapping integer
arithmetic; the tests compare ``P`` word by word).
"""

import numpy as np

from golden.conmerge import IDLE, schedule
from golden.systolic import wrap
from .gemm import plan
from .tiles import Tile


__all__ = ["SparsePlan", "fc1_tiles", "fc2_tiles", "dense_tiles", "cached_partial",
           "sparse_fc2"]


class SparsePlan:
    """Engine tiles of one sparse GEMM and how to put their results back.

    Members
    -------
    tiles : list of :class:`sim.tiles.Tile`
    beats : int
        Beats of all tiles (the engine's busy cycles).
    dense_beats : int
        Beats of the dense GEMM of the same shape on the same array.
    """

    def __init__(self, tiles, places, shape, rows, cols, dense_beats):
        self.tiles, self._places, self.shape = tiles, places, shape
        self.rows, self.cols, self.dense_beats = rows, cols, dense_beats

    @property
    def beats(self):
        return sum(t.k for t in self.tiles)

    def assemble(self, rows_out):
        """The result ``[T, N]`` from the engine's result rows (payloads, in
        tile order); positions no tile computes are 0."""
        out = np.zeros(self.shape, dtype=np.int64)
        for n, place in enumerate(self._places):
            block = np.array([rows_out[n * self.rows + r]["row"] for r in range(self.rows)],
                             dtype=np.int64)
            place(out, block)
        return out


def _row_tiles(mask, rows):
    T = mask.shape[0]
    for i in range(0, T, rows):
        tile = np.zeros((rows, mask.shape[1]), dtype=bool)
        tile[:min(rows, T - i)] = mask[i:i + rows]
        yield i, tile


def _padded(m, rows, i):
    out = np.zeros((rows,) + m.shape[1:], dtype=np.int64)
    out[:min(rows, m.shape[0] - i)] = m[i:i + rows]
    return out


def _operands(a, w, mask):
    return np.asarray(a, np.int64), np.asarray(w, np.int64), np.asarray(mask, dtype=bool)


def fc1_tiles(x, w1, mask, params):
    """Output-sparse ``(x @ w1) * mask`` on an array with ``params``."""
    x, w1, mask = _operands(x, w1, mask)
    R, C, D = params.rows, params.cols, params.lanes
    (T, F), d = mask.shape, x.shape[1]
    tiles, places = [], []
    for i, mtile in _row_tiles(mask, R):
        a = _padded(x, R, i)
        for slots in schedule(mtile, C, D):
            b = np.zeros((d, C, D), np.int64)
            sel = np.full((C, R), IDLE, np.int64)
            for c, slot in enumerate(slots):
                for lane, col in enumerate(slot.columns):
                    b[:, c, lane] = w1[:, col]
                sel[c] = slot.conflict
            tiles.append(Tile(a, b, tile_sel=sel) if params.merged else Tile(a, b[:, :, 0]))
            places.append(_fc1_place(i, slots, T))
    dense = -(-T // R) * -(-F // C) * d
    return SparsePlan(tiles, places, (T, F), R, C, dense)


def _fc1_place(i, slots, T):
    def place(out, block):
        for c, slot in enumerate(slots):
            for r, lane in enumerate(slot.conflict):
                if lane != IDLE and i + r < T:
                    out[i + r, slot.columns[lane]] = block[r, c]
    return place


def fc2_tiles(h, w2, mask, params):
    """Input-sparse ``(h * mask) @ w2`` on an array with ``params``."""
    h, w2, mask = _operands(h, w2, mask)
    R, C, D = params.rows, params.cols, params.lanes
    (T, F), N = mask.shape, w2.shape[1]
    tiles, places = [], []
    for i, mtile in _row_tiles(mask, R):
        hrows = _padded(h, R, i)
        slots = [s for p in schedule(mtile, C, D) for s in p]
        K = max(1, len(slots))           # a token tile that needs nothing still gets a beat
        a = np.zeros((R, K), np.int64)
        row_sel = np.full((K, R), IDLE, np.int64)
        wrows = np.zeros((K, D, N), np.int64)
        for k, slot in enumerate(slots):
            for lane, col in enumerate(slot.columns):
                wrows[k, lane] = w2[col]
            for r, lane in enumerate(slot.conflict):
                if lane != IDLE:
                    a[r, k] = hrows[r, slot.columns[lane]]
                    row_sel[k, r] = lane
        for j in range(0, N, C):
            b = np.zeros((K, C, D), np.int64)
            b[:, :min(C, N - j)] = wrows[:, :, j:j + C].transpose(0, 2, 1)
            tiles.append(Tile(a, b, row_sel=row_sel) if params.merged else Tile(a, b[:, :, 0]))
            places.append(_fc2_place(i, j, T, N, R, C))
    dense = -(-T // R) * -(-N // C) * F
    return SparsePlan(tiles, places, (T, N), R, C, dense)


def _fc2_place(i, j, T, N, R, C):
    def place(out, block):
        h, w = min(R, T - i), min(C, N - j)
        out[i:i + h, j:j + w] = block[:h, :w]
    return place


def dense_tiles(a, b, params):
    """The dense GEMM ``a @ b`` as a :class:`SparsePlan` (every tile full)."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    tiles, where = plan(a, b, params.rows, params.cols)
    T, N = a.shape[0], b.shape[1]
    places = [_fc2_place(i, j, T, N, params.rows, params.cols) for i, j in where]
    if params.merged:
        tiles = [Tile(t.a, t.lanes_b(params.lanes)) for t in tiles]
    beats = sum(t.k for t in tiles)
    return SparsePlan(tiles, places, (T, N), params.rows, params.cols, beats)


def cached_partial(dense, masked, acc_width):
    """The dense step's cached partial ``P = h_dense @ w2 - (h_dense * M) @ w2``
    from the two engine results, wrapped like the accumulators."""
    return wrap(np.asarray(dense) - np.asarray(masked), acc_width).astype(np.int64)


def sparse_fc2(partial, sparse, acc_width):
    """The sparse step's FC2 ``P + (h * M) @ w2``: the output path's add."""
    return wrap(np.asarray(partial) + np.asarray(sparse), acc_width).astype(np.int64)
