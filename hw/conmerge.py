"""ConMerge: mask columns of a row tile in, the condensed and merged slot schedule out."""

import dataclasses

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .params import Params, check_int, param, resolve_params


__all__ = ["ConMergeParams", "ConMerge"]


@dataclasses.dataclass(frozen=True)
class ConMergeParams(Params):
    """Parameters of :class:`ConMerge`.

    Members
    -------
    rows : int
        Rows ``R`` of the array: bits per mask column (1 to 64).
    cols : int
        Physical columns ``C``: slots per pass (1 to 64).
    lanes : int
        Merge lanes ``D``: logical columns one slot can hold (1 to 16; 1 is
        condense only).
    index_bits : int
        Bits of a logical column index (1 to 16).
    """
    rows: int = param(16, "rows R (bits per mask column)")
    cols: int = param(16, "physical columns C (slots per pass)")
    lanes: int = param(4, "merge lanes D per slot (1: condense only)")
    index_bits: int = param(10, "bits of a column index")

    def __post_init__(self):
        check_int("rows", self.rows, min=1, max=64)
        check_int("cols", self.cols, min=1, max=64)
        check_int("lanes", self.lanes, min=1, max=16)
        check_int("index_bits", self.index_bits, min=1, max=16)

    @property
    def lane_bits(self):
        return max(1, ceil_log2(self.lanes))

    @property
    def in_layout(self):
        return data.StructLayout({"occ": self.rows, "index": self.index_bits, "last": 1})

    @property
    def slot_layout(self):
        return data.StructLayout({
            "used": range(self.lanes + 1),
            "columns": data.ArrayLayout(self.index_bits, self.lanes),
            "active": self.rows,
            "lane": data.ArrayLayout(self.lane_bits, self.rows),
        })

    @property
    def out_layout(self):
        return data.StructLayout({"slots": data.ArrayLayout(self.slot_layout, self.cols),
                                  "last": 1})

    @property
    def latency(self):
        """Cycles from the handshake of the column that closes a pass to the pass's ``valid``."""
        return 1


class ConMerge(wiring.Component):
    """First-fit condense and merge of mask columns into passes of ``C`` slots.

    Columns of one row tile arrive in index order, one per cycle, each with
    its ``R`` occupancy bits; ``last`` marks the tile's final column. An
    empty column is dropped (condensed). Any other column joins the first
    slot of the open pass that has a free lane and no row in common with it
    (an empty slot always qualifies); when no slot qualifies, the open pass
    leaves and a new one starts with the column in slot 0. After a tile's
    last column the open pass leaves with ``last`` set; a tile without any
    set bit gives one pass with no slot used. The schedule equals
    :func:`exdisc.golden.conmerge.schedule` entry for entry.

    A slot's ``used`` counts its lanes; ``columns[l]`` is lane ``l``'s logical
    column; row ``r``'s PE computes lane ``lane[r]`` when ``active[r]`` is set
    and idles otherwise (the conflict vector). ``columns[l]`` for ``l >=
    used`` and ``lane[r]`` of an inactive row are undefined.

    Throughput one column per cycle, without a stall while the output keeps
    up: when a tile's last column opens a new pass, two passes leave at once,
    and the second (one slot) waits in a tail register while the next tile's
    columns come in. Latency :attr:`ConMergeParams.latency` (1): the pass is
    registered.

    Members
    -------
    i : In(stream.Signature(in_layout))
        Mask columns.
    o : Out(stream.Signature(out_layout))
        Passes.
    """

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(ConMergeParams, params, kwargs)
        super().__init__({
            "i": In(stream.Signature(params.in_layout)),
            "o": Out(stream.Signature(params.out_layout)),
        })

    @staticmethod
    def _first_fit(fits):
        """One-hot of the first slot that fits (a method so that tests can break it)."""
        seen = Const(0, 1)
        bits = []
        for s in range(len(fits)):
            bits.append(fits[s] & ~seen)
            seen = seen | fits[s]
        return bits

    def elaborate(self, platform):
        m = Module()
        p = self.params
        R, C, D = p.rows, p.cols, p.lanes
        cur = [Signal(p.slot_layout, name=f"slot{s}") for s in range(C)]
        # A tile's final pass of one slot, waiting for the output. Only such a
        # pass can be left over: it comes from a last column that opened a new
        # pass (two passes leave at once), and while it waits the open pass is
        # empty, so the next column can only close a one-slot pass too.
        tail = Signal(p.slot_layout)
        tail_valid = Signal()
        col = self.i.payload
        out_free = ~self.o.valid | self.o.ready

        m.d.comb += self.i.ready.eq(out_free)
        take = self.i.valid & self.i.ready
        empty = col.occ == 0

        # Which slot the column joins: the first that fits, else none.
        fits = Signal(C)
        m.d.comb += fits.eq(Cat(*[(s.used != D) & ((s.active & col.occ) == 0) for s in cur]))
        first = Signal(C)
        m.d.comb += first.eq(Cat(*self._first_fit(fits)))
        none = ~fits.any()

        def joined(slot, fresh):
            """The slot after the column joins it (``fresh``: as lane 0 of an empty slot)."""
            new = Signal(p.slot_layout)
            lane = Const(0, range(D + 1)) if fresh else slot.used
            m.d.comb += new.eq(0 if fresh else slot)
            m.d.comb += [
                new.used.eq(lane + 1),
                new.active.eq((0 if fresh else slot.active) | col.occ),
            ]
            for l in range(D):
                with m.If(lane == l):
                    m.d.comb += new.columns[l].eq(col.index)
            for r in range(R):
                with m.If(col.occ[r]):
                    m.d.comb += new.lane[r].eq(lane)
            return new

        joins = [Signal(p.slot_layout, name=f"join{s}") for s in range(C)]
        m.d.comb += [j.eq(joined(c, False)) for j, c in zip(joins, cur)]
        alone = joined(cur[0], True)
        zero = Const(0, p.slot_layout.size)

        # The output register loads whenever it is free and only its valid
        # waits for the first fit: a load enable from the first fit would
        # reach every bit of the pass, a net across the whole unit.
        closes = take & ~tail_valid & Mux(empty, col.last, none | col.last)
        with m.If(out_free):
            m.d.sync += [
                self.o.valid.eq(tail_valid | closes),
                self.o.payload.last.eq(tail_valid | (col.last & (empty | ~none))),
            ]
            for s in range(C):
                # a tile's last column that fits is in the pass it closes
                closing = Mux(first[s] & col.last & ~empty, joins[s], cur[s])
                m.d.sync += self.o.payload.slots[s].eq(Mux(tail_valid, tail if s == 0 else zero,
                                                           closing))

        # A slot that leaves the open pass only has its used count and rows
        # cleared: lanes past ``used`` and rows not ``active`` mean nothing.
        def clear(slot):
            return [slot.used.eq(0), slot.active.eq(0)]

        placed = take & ~empty & ~col.last
        with m.If(take & col.last):
            m.d.sync += [a for slot in cur for a in clear(slot)]
        with m.Elif(placed & none):
            m.d.sync += cur[0].eq(alone)
            m.d.sync += [a for slot in cur[1:] for a in clear(slot)]
        with m.Elif(placed):
            for s in range(C):
                with m.If(first[s]):
                    m.d.sync += cur[s].eq(joins[s])

        # While the tail waits the open pass is empty: a column fits slot 0 (or
        # is dropped) and closes a pass only as a tile's last, a pass of one
        # slot that takes the tail's place.
        with m.If(tail_valid):
            with m.If(out_free):
                m.d.sync += [tail_valid.eq(take & col.last), tail.eq(Mux(empty, 0, alone))]
        with m.Elif(take & ~empty & none & col.last):
            m.d.sync += [tail.eq(alone), tail_valid.eq(1)]
        return m
