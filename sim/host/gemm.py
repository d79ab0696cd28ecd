"""Tiled GEMM on the systolic array: the host side of later datapaths.

:func:`plan` cuts ``A [M, K] @ B [K, N]`` into engine tiles of ``R`` rows and
``C`` columns with the whole ``K`` streamed (edges padded with zeros);
:func:`run_gemm` streams them through the RTL in cocotb, reassembles the
product and counts cycles.
"""

import numpy as np

import cocotb

from exdisc.golden.systolic import tile_result
from exdisc.sim.harness.streams import StreamDriver, StreamMonitor, cycle_budget, within
from exdisc.sim.stimulus.systolic_tiles import Tile, tile_payloads, tile_ports


__all__ = ["plan", "assemble", "stream_tiles", "run_gemm", "GemmRun"]


def plan(a, b, rows, cols):
    """Tiles and their ``(row block, column block)`` positions, row-major."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    M, K = a.shape
    K2, N = b.shape
    if K != K2:
        raise ValueError(f"inner dimensions differ: A is {a.shape}, B is {b.shape}")
    if K < 1:
        raise ValueError("K must be at least 1")
    tiles, where = [], []
    for i in range(0, M, rows):
        for j in range(0, N, cols):
            ta = np.zeros((rows, K), dtype=np.int64)
            tb = np.zeros((K, cols), dtype=np.int64)
            ta[:min(rows, M - i)] = a[i:i + rows]
            tb[:, :min(cols, N - j)] = b[:, j:j + cols]
            tiles.append(Tile(ta, tb))
            where.append((i, j))
    return tiles, where


def assemble(rows_out, where, shape, rows, cols):
    """Product matrix from result rows in tile order."""
    M, N = shape
    out = np.zeros((M, N), dtype=np.int64)
    for t, (i, j) in enumerate(where):
        block = np.array([rows_out[t * rows + r]["row"] for r in range(rows)], dtype=np.int64)
        h, w = min(rows, M - i), min(cols, N - j)
        out[i:i + h, j:j + w] = block[:h, :w]
    return out


class GemmRun:
    """Result and cycle counts of one GEMM on the RTL.

    Members
    -------
    result : ndarray
        The product, ``[M, N]``.
    beats : int
        Beats sent (tiles x K).
    first_beat, last_beat, last_row : int
        Cycles of the first and last input transfer and of the last result row.
    """

    def __init__(self, result, beats, a_cycles, o_cycles):
        self.result = result
        self.beats = beats
        self.first_beat = a_cycles[0]
        self.last_beat = a_cycles[-1]
        self.last_row = o_cycles[-1]

    @property
    def cycles(self):
        """From the first beat to the last result row, inclusive."""
        return self.last_row - self.first_beat + 1

    @property
    def busy(self):
        """Fraction of those cycles in which the PEs took a beat."""
        return self.beats / self.cycles

    @property
    def input_rate(self):
        """Beats per cycle while the tiles streamed in."""
        return self.beats / (self.last_beat - self.first_beat + 1)


async def stream_tiles(dut, params, tiles, rng, *, valid_prob=1.0, ready_prob=1.0, aux=None):
    """Send ``tiles`` on ``a`` and ``b`` and collect their result rows on
    ``o`` (and with merge lanes their selects on ``sel``); returns ``(rows,
    input transfer cycles, output transfer cycles)``. With ``aux`` (one
    payload per result row), the design is an :class:`exdisc.hw.ffn_engine.FFNEngine`:
    ``aux`` goes to its output path and ``o`` carries its rows and masks."""
    items = tile_payloads(tiles, params)
    ports = dict(tile_ports(params))
    if aux is not None:
        items["aux"], ports["aux"] = aux, params.aux_layout
    drivers = {name: StreamDriver(dut, name, layout, rng, valid_prob=valid_prob)
               for name, layout in ports.items()}
    out_layout = params.o_layout if aux is None else params.out_layout
    mon = StreamMonitor(dut, "o", out_layout, rng, ready_prob=ready_prob)
    rows = params.rows * len(tiles)

    async def transfer():
        sends = [cocotb.start_soon(drv.send(items[name])) for name, drv in drivers.items()]
        received = await mon.receive(rows)
        for send in sends:
            await send
        return received

    # a tile shorter than the array's spacing waits for it: count the longer
    spacing = max(params.tile_spacing, params.first_spacing)
    beats = sum(max(t.k, spacing) for t in tiles)
    budget = cycle_budget(beats, rows, valid_prob=valid_prob, ready_prob=ready_prob,
                          latency=params.latency)
    rows_out = await within(budget, transfer(), f"{len(tiles)} tiles ({beats} beats)")
    await mon.expect_quiet(4 * max(params.rows, params.cols))
    return rows_out, drivers["a"].cycles, mon.cycles


async def run_gemm(dut, params, a, b, rng, *, valid_prob=1.0, ready_prob=1.0, check=True):
    """Stream ``a @ b`` through the array; returns a :class:`GemmRun`. With
    ``check``, every word is compared with :func:`exdisc.golden.systolic.tile_result`."""
    tiles, where = plan(a, b, params.rows, params.cols)
    rows_out, a_cycles, o_cycles = await stream_tiles(dut, params, tiles, rng,
                                                      valid_prob=valid_prob, ready_prob=ready_prob)
    result = assemble(rows_out, where, (np.shape(a)[0], np.shape(b)[1]), params.rows, params.cols)
    if check:
        want = tile_result(a, b, params.width, params.acc_width)
        bad = np.argwhere(result != want)
        assert bad.size == 0, (f"{len(bad)} wrong words, first at {tuple(bad[0])}: "
                               f"RTL {result[tuple(bad[0])]} != golden {want[tuple(bad[0])]}")
    return GemmRun(result, sum(t.k for t in tiles), a_cycles, o_cycles)
