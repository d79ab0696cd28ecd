"""Output-sparse and input-sparse GEMM tiles of an FFN-Reuse sparse step: the
host side that turns a mask into engine tiles with ConMerge's schedule.

The mask is cut into row tiles of ``R`` tokens (the last one padded with
tokens that need nothing), and each row tile is scheduled by
:func:`exdisc.golden.conmerge.schedule` with the array's ``C`` and ``D``
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

from exdisc.golden.conmerge import IDLE, schedule
from exdisc.golden.ffn_reuse import output_rows, sparse_step_int
from exdisc.golden.mask_gen import fc1_mask, threshold_for_width
from exdisc.golden.systolic import wrap
from exdisc.sim.host.gemm import plan
from exdisc.sim.stimulus.systolic_tiles import Tile


__all__ = ["SparsePlan", "fc1_tiles", "fc2_tiles", "dense_tiles", "cached_partial",
           "sparse_fc2", "aux_beats", "random_aux_beats", "expected_output",
           "ffn_reuse_steps"]


class SparsePlan:
    """Engine tiles of one sparse GEMM and how to put their results back.

    Members
    -------
    tiles : list of :class:`exdisc.sim.stimulus.systolic_tiles.Tile`
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

    def assemble(self, rows_out, key="row"):
        """The result ``[T, N]`` from the engine's result rows (payloads, in
        tile order); positions no tile computes are 0. ``key="mask"``
        assembles the output path's mask bits instead."""
        out = np.zeros(self.shape, dtype=np.int64)
        for n, (block_at, out_at) in enumerate(self._places):
            block = np.array([_words(rows_out[n * self.rows + r][key], self.cols)
                              for r in range(self.rows)], dtype=np.int64)
            out[out_at] = block[block_at]
        return out

    def gather(self, matrix):
        """Per tile, the ``R x C`` block of ``matrix [T, N]`` at the positions
        that tile computes (0 elsewhere): what the output path needs beside
        each result row (cached partials, thresholds)."""
        matrix = np.broadcast_to(np.asarray(matrix, dtype=np.int64), self.shape)
        blocks = []
        for block_at, out_at in self._places:
            block = np.zeros((self.rows, self.cols), dtype=np.int64)
            block[block_at] = matrix[out_at]
            blocks.append(block)
        return blocks


def _words(value, cols):
    return value if isinstance(value, list) else [(value >> c) & 1 for c in range(cols)]


def aux_beats(plan, params, *, partial=0, threshold=None, add=False, negate=False):
    """The output path's beats (:class:`exdisc.hw.ffn_engine.FFNEngine` ``aux``), one
    per result row of ``plan``: the blocks of ``partial [T, N]`` and of the
    per-column ``threshold [N]`` (None: the lowest, every bit set) that each
    tile computes, and the flags."""
    lowest = -(1 << params.acc_width)
    thr = threshold_for_width(lowest if threshold is None else threshold, params.acc_width)
    beats = []
    for part, th in zip(plan.gather(partial), plan.gather(thr)):
        beats += [{"partial": [int(v) for v in part[r]], "threshold": [int(v) for v in th[r]],
                   "add": int(add), "negate": int(negate)} for r in range(params.rows)]
    return beats


def random_aux_beats(rng, tiles, params):
    """Random output-path beats for ``tiles`` (numpy ``rng``): random flags,
    partials over the whole range with a tenth at its ends, thresholds within
    2 of the row's golden accumulators (equal ones included) with a tenth at
    the ends of the threshold range."""
    W = params.acc_width
    lo, hi = -(1 << (W - 1)), (1 << (W - 1)) - 1
    beats = []
    for tile in tiles:
        res = np.asarray(tile.result(params), dtype=np.int64)
        part = rng.integers(lo, hi, res.shape, endpoint=True)
        ends = rng.random(res.shape) < 0.1
        part[ends] = rng.choice([lo, hi, 0, -1], ends.sum())
        thr = res + rng.integers(-2, 3, res.shape)
        ends = rng.random(res.shape) < 0.1
        thr[ends] = rng.choice([-(1 << W), (1 << W) - 1, lo, hi], ends.sum())
        for r in range(params.rows):
            beats.append({"partial": [int(v) for v in part[r]],
                          "threshold": [int(v) for v in thr[r]],
                          "add": int(rng.integers(2)), "negate": int(rng.integers(2))})
    return beats


def expected_output(tiles, params, beats):
    """The rows :class:`exdisc.hw.ffn_engine.FFNEngine` must produce for ``tiles`` and
    ``beats``: golden tile results through :func:`exdisc.golden.ffn_reuse.output_rows`."""
    out = []
    for n, tile in enumerate(tiles):
        res = tile.result(params)
        for r in range(params.rows):
            b = beats[n * params.rows + r]
            row, mask = output_rows(res[r], b["partial"], b["threshold"], b["add"], b["negate"],
                                    params.acc_width)
            out.append({"row": [int(v) for v in row],
                        "mask": int(sum(1 << int(c) for c in np.flatnonzero(mask))),
                        "last": int(r == params.rows - 1)})
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
    """(block index, result index) pairs of an output-sparse tile."""
    at = [(r, c, i + r, slot.columns[lane]) for c, slot in enumerate(slots)
          for r, lane in enumerate(slot.conflict) if lane != IDLE and i + r < T]
    return _index(at)


def _index(at):
    """``[(block row, block col, row, col), ...]`` as two numpy index pairs."""
    br, bc, tr, tc = np.array(at, dtype=np.int64).reshape(-1, 4).T
    return (br, bc), (tr, tc)


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
    """(block index, result index) pairs of the tile at rows ``i`` and columns ``j``."""
    return _index([(r, c, i + r, j + c)
                   for r in range(min(R, T - i)) for c in range(min(C, N - j))])


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
    from the two engine results: the output path's ``add`` and ``negate``."""
    return output_rows(masked, dense, add=True, negate=True, acc_width=acc_width)[0]


def sparse_fc2(partial, sparse, acc_width):
    """The sparse step's FC2 ``P + (h * M) @ w2``: the output path's ``add``."""
    return output_rows(sparse, partial, add=True, acc_width=acc_width)[0]


async def ffn_reuse_steps(run, params, ops):
    """A dense FFN-Reuse step and the sparse step after it on
    :class:`exdisc.hw.ffn_engine.FFNEngine`, every add and the mask in RTL.

    ``run(plan, beats, name)`` (a coroutine) streams a plan's tiles with
    their output-path beats through the engine and returns its output rows
    (it compares them word by word with :func:`expected_output` itself). ``ops``
    holds ``x_dense``, ``x``, ``w1``, ``w2``, ``h_dense``, ``h``, the
    per-column FC1 ``threshold`` and the ``mask`` the sparse step uses. The
    dense step writes the mask from its FC1 (``threshold``), computes its FC2
    and caches ``P = dense - masked``; the sparse step computes FC1 where
    ``mask`` and ``P + S``. Returns ``{name: (rtl, golden)}`` for ``mask``,
    ``fc1``, ``partial`` and ``fc2`` (golden: :func:`exdisc.golden.mask_gen.fc1_mask`
    and :func:`exdisc.golden.ffn_reuse.sparse_step_int`).
    """
    p = params
    mask = np.asarray(ops["mask"], dtype=bool)
    want = sparse_step_int(ops["x"], ops["w1"], ops["w2"], ops["h_dense"], ops["h"], mask,
                           p.acc_width)
    acc_dense = wrap(np.asarray(ops["x_dense"], np.int64) @ np.asarray(ops["w1"], np.int64),
                     p.acc_width)
    want["mask"] = fc1_mask(acc_dense, threshold_for_width(ops["threshold"], p.acc_width))

    async def step(name, plan, key="row", **aux):
        rows = await run(plan, aux_beats(plan, p, **aux), name) if plan.tiles else []
        return plan.assemble(rows, key)

    got = {"mask": (await step("dense FC1 mask", dense_tiles(ops["x_dense"], ops["w1"], p),
                               key="mask", threshold=ops["threshold"])).astype(bool)}
    dense = await step("dense FC2", dense_tiles(ops["h_dense"], ops["w2"], p))
    got["partial"] = await step("P = dense - masked FC2",
                                fc2_tiles(ops["h_dense"], ops["w2"], mask, p),
                                partial=dense, add=True, negate=True)
    got["fc1"] = await step("sparse FC1", fc1_tiles(ops["x"], ops["w1"], mask, p))
    got["fc2"] = await step("sparse FC2 = P + S", fc2_tiles(ops["h"], ops["w2"], mask, p),
                            partial=got["partial"], add=True)
    return {name: (got[name], want[name]) for name in ("mask", "fc1", "partial", "fc2")}
