"""The core's GEMM unit: a descriptor's tiles through the systolic engine."""

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..fifo import StreamFIFO
from ..systolic import SystolicArray, SystolicParams
from . import condense
from .buffer import READ_LATENCY, ReadPort, WritePort, request_layout
from .isa import DESCRIPTOR_BITS, Buffer, Init, Op, layout
from .walk import lane_enables


__all__ = ["GemmUnit"]


class GemmUnit(wiring.Component):
    """Runs ``GEMM`` descriptors on an ``R x C`` output-stationary engine.

    ``C = init + A @ B`` is cut into ``R x C`` output tiles, row-major; for
    each tile the unit reads ``k`` columns of ``A`` (vectors down ``ACT``'s
    columns) and ``k`` rows of ``B`` (along ``WGT``'s rows, or down its
    columns when ``b_t``), one pair a cycle, into the engine. Each result row
    leaving the engine is added to its initial value (zero, the bias row, or
    ``C``'s row, read from ``ACC``) and written to ``ACC``; rows and columns
    past ``m`` and ``n`` are not written.

    On ExionCore (``p.exion``) it runs ``GEMM_OS`` and ``GEMM_IS`` too,
    under their mask in ``MASK``:

    * A scan (:func:`.condense.scan`) reads a row tile's mask a column a
      cycle and lists the columns some row of the tile keeps, each with the
      rows that keep it; double-buffered, the next row tile's scan starts
      when the engine takes this one's first beat. Each half of the list
      is kept with its region for the descriptors that follow: a row tile
      whose region a half lists is not scanned again (FC2 after FC1).
    * ``GEMM_IS`` takes only the listed reduction steps in every output tile
      of the row tile (one step of zeros if none), feeding the engine zero
      for each input a row does not keep; condensed, step ``s`` reads
      ``A``'s column ``s``.
    * ``GEMM_OS`` condensed computes the listed columns in passes of ``C``:
      a fetch (:func:`.condense.fetch`) gathers each pass's weight columns
      from ``WGT`` into a pass store of four passes, as soon as the scan
      has listed them, the engine reads a pass's rows from it, and pass
      ``q``'s results go to ``C``'s columns
      ``qC`` on, a vector a row, the tiles' places handed to the write-back
      through a small FIFO. Not condensed, it runs dense tiles and writes
      only the outputs its mask names (a row of the mask read beside the
      row's initial value).
    * ``init = SUBTRACT`` writes ``C`` less the product.

    :func:`exdisc.golden.core_cycles.estimate` gives the cycles.

    The unit's read and write ports must come first in their buffers'
    priorities (they are never refused). One descriptor at a time; ``done``
    pulses when its last row is written.

    Throughput: one beat of ``k`` per cycle while the engine takes them (it
    holds a tile's last beat until ``max(R, C)`` cycles have passed since the
    last one, so tiles with ``k < max(R, C)`` wait). A descriptor's cycles
    are about ``tiles * max(k, max(R, C))`` and the engine's drain
    (:attr:`~exdisc.hw.systolic.SystolicParams.latency`) plus
    ``READ_LATENCY`` twice.

    Members
    -------
    cmd : In(stream.Signature(DESCRIPTOR_BITS))
    done : Out(1)
    r_act, r_wgt, r_acc : Out(ReadPort)
    w_acc : Out(WritePort)
    r_mask : Out(ReadPort)
        ExionCore only.
    mask_written : In(StructLayout)
        ExionCore only: ``MASK``'s write of the cycle
        (:attr:`.BankedBuffer.written`), which may drop a kept list.
    """

    #: Beats read ahead of the engine.
    QUEUE_DEPTH = READ_LATENCY + 4
    #: Condensed tiles between the feed and the write-back: more than the
    #: engine holds (its pipeline and output queue) at one beat a tile.
    WB_TILES = 16

    def __init__(self, p, shapes):
        self.p = p
        mask_written = request_layout(*shapes[Buffer.MASK][:2])
        self.engine_params = SystolicParams(rows=p.array_rows, cols=p.array_cols, width=8,
                                            acc_width=32)
        super().__init__({
            "cmd": In(stream.Signature(DESCRIPTOR_BITS)), "done": Out(1),
            "r_act": Out(ReadPort(*shapes[Buffer.ACT])),
            "r_wgt": Out(ReadPort(*shapes[Buffer.WGT])),
            "r_acc": Out(ReadPort(*shapes[Buffer.ACC])),
            "w_acc": Out(WritePort(*shapes[Buffer.ACC])),
            **({"r_mask": Out(ReadPort(*shapes[Buffer.MASK])),
                "mask_written": In(mask_written)} if p.exion else {})})
        self._shapes = shapes

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = engine = SystolicArray(self.engine_params)
        word = Signal(DESCRIPTOR_BITS)
        d = data.View(layout(Op.GEMM), word)
        busy, feeding = Signal(), Signal()
        m.d.comb += self.cmd.ready.eq(~busy)
        m.d.sync += self.done.eq(0)
        start = self.cmd.valid & self.cmd.ready
        with m.If(start):
            m.d.sync += [word.eq(self.cmd.payload), busy.eq(1), feeding.eq(1)]
        masks = self._masks(m, word) if self.p.exion else None
        self._feed(m, engine, d, start, feeding, masks)
        self._write_back(m, engine, d, start, busy, masks)
        return m

    def _masks(self, m, word):
        """ExionCore's sparse GEMMs: ``MASK``'s read port shared by the two
        mask reads (a descriptor is one or the other) and ``(is_os, is_is,
        sparse fields, read port of the inputs' mask, of the outputs')``."""
        s = data.View(layout(Op.GEMM_OS), word)
        is_os, is_is = word[:4] == Op.GEMM_OS.value, word[:4] == Op.GEMM_IS.value
        ports = {name: ReadPort(*self._shapes[Buffer.MASK]).create(path=(f"mask_{name}",))
                 for name in ("in", "out")}
        r = self.r_mask
        scans = is_is | (is_os & s.condensed)
        for name in ("valid", "row", "col", "vertical"):
            m.d.comb += getattr(r, name).eq(Mux(scans, getattr(ports["in"], name),
                                                getattr(ports["out"], name)))
        for port in ports.values():
            m.d.comb += [port.rdata.eq(r.rdata), port.rvalid.eq(r.rvalid), port.ready.eq(r.ready)]
        return is_os, is_is, s, ports["in"], ports["out"]

    def _tiles(self, m, d, start, name, last_col=None):
        """Counters over the tiles: the tile's first row ``mo`` and column
        ``no``; ``step`` moves to the next tile; ``last_col``: the row tile's
        last (by default, whether the tile reaches ``n``; else a signal the
        caller drives); ``final``: the last tile."""
        p = self.p
        mo, no = Signal(10, name=f"{name}_mo"), Signal(10, name=f"{name}_no")
        if last_col is None:
            last_col = no + p.array_cols >= d.n
        final = last_col & (mo + p.array_rows >= d.m)
        step = Signal(name=f"{name}_step")
        with m.If(step):
            with m.If(last_col):
                m.d.sync += [no.eq(0), mo.eq(mo + p.array_rows)]
            with m.Else():
                m.d.sync += no.eq(no + p.array_cols)
        with m.If(start):
            m.d.sync += [mo.eq(0), no.eq(0)]
        return mo, no, step, last_col, final

    def _feed(self, m, engine, d, start, feeding, masks):
        p = self.p
        sparse = masks is not None
        kk = Signal(9)
        issued, last = Signal(), Signal()
        beat = data.StructLayout({"a": data.ArrayLayout(8, p.array_rows),
                                  "b": data.ArrayLayout(8, p.array_cols), "last": 1,
                                  **({"first": 1, "row_first": 1} if sparse else {})})
        m.submodules.beats = q = StreamFIFO(width=beat.size, depth=self.QUEUE_DEPTH,
                                            storage="memory")
        held = Signal(range(self.QUEUE_DEPTH + 1))
        want = feeding & (held < self.QUEUE_DEPTH)
        a_k = b_k = kk
        wgt = self.r_wgt
        if sparse:
            sp = self._sparse_steps(m, d, start, masks, kk, issued, last)
            want = want & sp.ready
            a_k, b_k, wgt = sp.a_k, sp.b_k, sp.wgt
            mo, no, step, last_col, final = sp.tiles
            m.d.comb += last.eq(sp.last)
        else:
            mo, no, step, last_col, final = self._tiles(m, d, start, "feed")
            m.d.comb += last.eq(kk == d.k - 1)
        m.d.comb += [
            self.r_act.valid.eq(want), self.r_act.vertical.eq(1),
            self.r_act.row.eq(d.a_row + mo), self.r_act.col.eq(d.a_col + a_k),
            wgt.valid.eq(want), wgt.vertical.eq(d.b_t),
            wgt.row.eq(Mux(d.b_t, d.b_row + no, d.b_row + b_k)),
            wgt.col.eq(Mux(d.b_t, d.b_col + b_k, d.b_col + no)),
        ]
        m.d.comb += issued.eq(want & self.r_act.ready & wgt.ready)
        with m.If(issued):
            m.d.sync += kk.eq(Mux(last, 0, kk + 1))
            m.d.comb += step.eq(last)
            with m.If(last & final):
                m.d.sync += feeding.eq(0)
        with m.If(start):
            m.d.sync += kk.eq(0)
        # the beat's flags (and a sparse step's kept rows) travel beside the reads
        tags = [Signal(READ_LATENCY, name=f"tag_{name}") for name in ("last", "first", "row")]
        m.d.sync += tags[0].eq(Cat(issued & last, tags[0][:-1]))
        entry = Signal(beat)
        m.d.comb += [entry.last.eq(tags[0][-1]), q.w.valid.eq(self.r_act.rvalid),
                     q.w.payload.eq(entry)]
        for r in range(p.array_rows):
            m.d.comb += entry.a[r].eq(self.r_act.rdata[r])
        for c in range(p.array_cols):
            m.d.comb += entry.b[c].eq(wgt.rdata[c])
        if sparse:
            first = Signal(init=1)          # the next beat is a tile's first
            with m.If(issued):
                m.d.sync += first.eq(last)
            with m.If(start):
                m.d.sync += first.eq(1)
            m.d.sync += [tags[1].eq(Cat(issued & first, tags[1][:-1])),
                         tags[2].eq(Cat(issued & first & (no == 0), tags[2][:-1]))]
            m.d.comb += [entry.first.eq(tags[1][-1]), entry.row_first.eq(tags[2][-1])]
            kept = [Signal(p.array_rows, name=f"kept{i}") for i in range(READ_LATENCY)]
            m.d.sync += kept[0].eq(sp.rows)
            m.d.sync += [b.eq(a) for a, b in zip(kept, kept[1:])]
            for r in range(p.array_rows):
                with m.If(~kept[-1][r]):
                    m.d.comb += entry.a[r].eq(0)
            with m.If(sp.os_c):
                for c in range(p.array_cols):
                    m.d.comb += entry.b[c].eq(sp.b[c])
        m.d.sync += held.eq(held + issued - (q.r.valid & q.r.ready))
        out = data.View(beat, q.r.payload)
        m.d.comb += [
            engine.a.valid.eq(q.r.valid), engine.b.valid.eq(q.r.valid),
            engine.a.payload.col.eq(out.a), engine.a.payload.last.eq(out.last),
            engine.b.payload.eq(out.b), q.r.ready.eq(engine.a.ready),
        ]
        if sparse:
            took = q.r.valid & q.r.ready
            m.d.comb += [sp.go_tile.eq(took & out.first), sp.go_row.eq(took & out.row_first)]

    def _sparse_steps(self, m, d, start, masks, kk, issued, last):
        """ExionCore's steps: the mask's scan into lists of kept columns
        (:func:`.condense.scan`) for ``GEMM_IS`` and a condensed ``GEMM_OS``;
        ``GEMM_IS``'s walk over its row tile's list; a condensed
        ``GEMM_OS``'s passes from the pass store (:func:`.condense.fetch`,
        which then holds the ``WGT`` port). Returns what the feed needs:
        ``ready``, ``last``, ``a_k`` and ``b_k`` (the step's columns of ``A``
        and ``B``), ``rows`` (the rows the step keeps), ``wgt`` (the feed's
        ``WGT`` port), ``b`` (a condensed pass's ``B`` row, aligned with the
        reads), ``tiles`` (as :meth:`_tiles`), ``go_tile`` and ``go_row``
        (to drive: the engine took a tile's, a row tile's first beat), and
        ``os_c``; and it pushes each condensed tile's write-back to
        ``self._wb_tiles``."""
        p = self.p
        R, C, nb, n = p.array_rows, p.array_cols, p.banks, condense.depth(p)
        is_os, is_is, s, mr, _ = masks
        os_c = Signal()
        m.d.comb += os_c.eq(is_os & s.condensed)
        go_tile, go_row = Signal(), Signal()
        head = data.View(layout(Op.GEMM_OS), self.cmd.payload)
        op = self.cmd.payload[:4]
        on = (op == Op.GEMM_IS.value) | ((op == Op.GEMM_OS.value) & head.condensed)
        lst = condense.scan(m, self.p, d, start, on, Mux(os_c, d.n, d.k), mr, s, go_row,
                            self.mask_written)

        # a condensed GEMM_OS: the fetch holds WGT; passes come from the store
        ports = {name: ReadPort(*self._shapes[Buffer.WGT]).create(path=(f"wgt_{name}",))
                 for name in ("feed", "fetch")}
        for name in ("valid", "row", "col", "vertical"):
            m.d.comb += getattr(self.r_wgt, name).eq(Mux(os_c, getattr(ports["fetch"], name),
                                                         getattr(ports["feed"], name)))
        for port in ports.values():
            m.d.comb += [port.rdata.eq(self.r_wgt.rdata), port.rvalid.eq(self.r_wgt.rvalid)]
        m.d.comb += [ports["feed"].ready.eq(Mux(os_c, 1, self.r_wgt.ready)),
                     ports["fetch"].ready.eq(self.r_wgt.ready)]
        f = condense.fetch(m, p, d, start, lst, ports["fetch"], go_tile)
        fed, eh = Signal(12), Signal(ceil_log2(condense.STORE_PASSES))

        # the feed's row tile: its list's half and entries; a condensed
        # GEMM_OS's tile is a pass, which ends its row tile as the fetch
        # found (the list may not be complete when the pass begins)
        fh, frow = Signal(), Signal(12)
        cnt = Mux(fh, lst.count[1], lst.count[0])
        pass_end = Signal()
        tiles = self._tiles(m, d, start, "feed", pass_end)
        mo, no, step, last_col, final = tiles
        m.d.comb += pass_end.eq(Mux(os_c, f.end[eh], no + C >= d.n))
        row_done = issued & last & last_col
        next_fh = Signal()
        m.d.comb += next_fh.eq(Mux(start, 0, fh ^ row_done))
        m.d.sync += [fh.eq(next_fh), frow.eq(Mux(start, 0, frow + row_done))]
        with m.If(lst.lookup):
            m.d.sync += fh.eq(lst.first)

        # GEMM_IS: the walk over the list, read a cycle ahead
        idx = Signal(range(n))
        empty = cnt == 0
        is_last = empty | (idx + 1 == cnt)
        next_idx = Signal.like(idx)
        m.d.comb += next_idx.eq(Mux(start, 0, Mux(issued & is_is, Mux(is_last, 0, idx + 1), idx)))
        m.d.sync += idx.eq(next_idx)
        entry_k = Mux(empty, 0, lst.rd.data.k)

        m.d.comb += lst.rd.addr.eq(Mux(os_c, f.addr, Cat(next_idx, next_fh)))
        tile_end = issued & last
        m.d.sync += [fed.eq(Mux(start, 0, fed + (tile_end & os_c))),
                     eh.eq(Mux(start, 0, eh + (tile_end & os_c)))]
        for store in f.stores:
            m.d.comb += store.addr.eq(Cat(kk[:ceil_log2(n)], eh))
        # the store's data a cycle after the read, rotated, then in step with ACT's
        rot = Signal(ceil_log2(nb) if nb > 1 else 1)
        m.d.sync += rot.eq(kk)
        row = Signal(data.ArrayLayout(8, C))
        for c in range(C):
            m.d.comb += row[c].eq(Array(st.data for st in f.stores)[(rot + c)[:len(rot)]]
                                  if nb > 1 else f.stores[0].data)
        b = row
        for i in range(READ_LATENCY - 1):
            b_next = Signal.like(row, name=f"pass_b{i}")
            m.d.sync += b_next.eq(b)
            b = b_next

        # each condensed tile's write-back: where it goes, and its slots
        used = f.used[eh]
        info = data.StructLayout({"mo": 10, "no": 10, "used": range(C + 1), "final": 1})
        m.submodules.wb_tiles = wb = StreamFIFO(width=info.size, depth=self.WB_TILES,
                                                storage="memory")
        push = Signal(info)
        m.d.comb += [push.mo.eq(mo), push.no.eq(no), push.used.eq(used),
                     push.final.eq(final), wb.w.payload.eq(push),
                     wb.w.valid.eq(tile_end & os_c)]
        self._wb_tiles, self._wb_info = wb, info

        rows = Mux(is_is, Mux(empty, 0, lst.rd.data.rows), (1 << R) - 1)
        return SimpleNamespace(
            ready=Mux(is_is, lst.committed != frow, Mux(os_c, (f.fetched != fed) & wb.w.ready, 1)),
            last=Mux(is_is, is_last, Mux(os_c & (used == 0), 1, kk == d.k - 1)),
            a_k=Mux(is_is, Mux(s.condensed, idx, entry_k), kk), b_k=Mux(is_is, entry_k, kk),
            rows=rows, wgt=ports["feed"], b=b, tiles=tiles, go_tile=go_tile, go_row=go_row,
            os_c=os_c)

    def _write_back(self, m, engine, d, start, busy, masks):
        """Each result row plus its initial value into ``ACC``."""
        p = self.p
        mo, no, step, _, final = self._tiles(m, d, start, "wb")
        r = Signal(range(p.array_rows))
        take = engine.o.valid & busy
        en = lane_enables(d.n - no, p.array_cols)
        if masks is not None:
            # a condensed GEMM_OS's tiles: as the feed made them
            is_os, _, s, _, mr = masks
            os_c = is_os & s.condensed
            tiles = self._wb_tiles
            head = data.View(self._wb_info, tiles.r.payload)
            mo, no = Mux(os_c, head.mo, mo), Mux(os_c, head.no, no)
            final = Mux(os_c, head.final, final)
            en = Mux(os_c, lane_enables(head.used, p.array_cols), en)
            m.d.comb += tiles.r.ready.eq(take & (r == p.array_rows - 1) & os_c)
        row = mo + r
        init = d.init != Init.ZERO
        m.d.comb += engine.o.ready.eq(busy)
        m.d.comb += [
            self.r_acc.valid.eq(take & init), self.r_acc.vertical.eq(0),
            self.r_acc.row.eq(Mux(d.init == Init.BIAS, d.bias_row, d.c_row + row)),
            self.r_acc.col.eq(d.c_col + no),
        ]
        with m.If(take):
            m.d.sync += r.eq(Mux(r == p.array_rows - 1, 0, r + 1))
            m.d.comb += step.eq(r == p.array_rows - 1)
        with m.If(start):
            m.d.sync += r.eq(0)

        # the row waits beside its initial value's read
        slot = data.StructLayout({"valid": 1, "write": 1, "final": 1, "row": 12, "col": 10,
                                  "en": p.array_cols,
                                  "sum": data.ArrayLayout(32, p.array_cols)})
        line = [Signal(slot, name=f"wb_line{i}") for i in range(READ_LATENCY)]
        m.d.sync += [line[0].valid.eq(take), line[0].write.eq(row < d.m),
                     line[0].final.eq(final & (r == p.array_rows - 1)),
                     line[0].row.eq(d.c_row + row), line[0].col.eq(d.c_col + no),
                     line[0].en.eq(en)]
        for c in range(p.array_cols):
            m.d.sync += line[0].sum[c].eq(engine.o.payload.row[c])
        for a, b in zip(line, line[1:]):
            m.d.sync += b.eq(a)
        tail = line[-1]
        base = Mux(init, 1, 0)
        w = self.w_acc
        m.d.comb += [w.valid.eq(tail.valid & tail.write), w.row.eq(tail.row), w.col.eq(tail.col),
                     w.vertical.eq(0), w.en.eq(tail.en)]
        if masks is not None:
            # GEMM_OS: the row's mask read beside its initial value; only the
            # outputs it names are written (condensed: every slot the tile uses)
            m.d.comb += [mr.valid.eq(take & is_os & ~s.condensed), mr.vertical.eq(0),
                         mr.row.eq(s.mask_row + row), mr.col.eq(s.mask_col + no)]
            keep = Cat(mr.rdata[c] ^ s.invert for c in range(p.array_cols))
            with m.If(is_os & ~s.condensed):
                m.d.comb += w.en.eq(tail.en & keep)
        for c in range(p.array_cols):
            m.d.comb += w.data[c].eq(tail.sum[c] + Mux(base, self.r_acc.rdata[c], 0))
        if masks is not None:
            with m.If(d.init == Init.SUBTRACT):
                m.d.comb += [w.data[c].eq(self.r_acc.rdata[c] - tail.sum[c])
                             for c in range(p.array_cols)]
        with m.If(tail.valid & tail.final):
            m.d.sync += [busy.eq(0), self.done.eq(1)]
