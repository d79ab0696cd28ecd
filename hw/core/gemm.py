"""The core's GEMM unit: a descriptor's tiles through the systolic engine."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..fifo import StreamFIFO
from ..systolic import SystolicArray, SystolicParams
from .buffer import READ_LATENCY, ReadPort, WritePort
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
    under their mask in ``MASK``. ``GEMM_OS`` runs dense tiles and writes
    only the outputs its mask names (a row of the mask read beside the row's
    initial value). ``GEMM_IS`` skips the reduction steps that its mask
    clears for every row of a row tile: a scan reads the row tile's mask a
    column a cycle and lists the steps it keeps, each with the rows that
    keep it, and every output tile of the row tile then takes only those
    steps (one step of zeros if none), feeding the engine zero for each
    input the mask clears. The list is double-buffered: the scan of the
    next row tile starts when the engine takes this row tile's first beat,
    so after the first row tile it runs beside the engine (see
    :func:`exdisc.golden.core_cycles.estimate` for the cycles).

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
    """

    #: Beats read ahead of the engine.
    QUEUE_DEPTH = READ_LATENCY + 4

    def __init__(self, p, shapes):
        self.p = p
        self.engine_params = SystolicParams(rows=p.array_rows, cols=p.array_cols, width=8,
                                            acc_width=32)
        super().__init__({
            "cmd": In(stream.Signature(DESCRIPTOR_BITS)), "done": Out(1),
            "r_act": Out(ReadPort(*shapes[Buffer.ACT])),
            "r_wgt": Out(ReadPort(*shapes[Buffer.WGT])),
            "r_acc": Out(ReadPort(*shapes[Buffer.ACC])),
            "w_acc": Out(WritePort(*shapes[Buffer.ACC])),
            **({"r_mask": Out(ReadPort(*shapes[Buffer.MASK]))} if p.exion else {})})
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
        for name in ("valid", "row", "col", "vertical"):
            m.d.comb += getattr(r, name).eq(Mux(is_is, getattr(ports["in"], name),
                                                getattr(ports["out"], name)))
        for port in ports.values():
            m.d.comb += [port.rdata.eq(r.rdata), port.rvalid.eq(r.rvalid), port.ready.eq(r.ready)]
        return is_os, is_is, s, ports["in"], ports["out"]

    def _tiles(self, m, d, start, name):
        """Counters over the tiles: the tile's first row ``mo`` and column
        ``no``; ``step`` moves to the next tile; ``last_col``: the row tile's
        last; ``final``: the last tile."""
        p = self.p
        mo, no = Signal(10, name=f"{name}_mo"), Signal(10, name=f"{name}_no")
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
        mo, no, step, last_col, final = self._tiles(m, d, start, "feed")
        kk = Signal(9)
        last = kk == d.k - 1
        sparse = masks is not None
        beat = data.StructLayout({"a": data.ArrayLayout(8, p.array_rows),
                                  "b": data.ArrayLayout(8, p.array_cols), "last": 1,
                                  **({"first": 1} if sparse else {})})
        m.submodules.beats = q = StreamFIFO(width=beat.size, depth=self.QUEUE_DEPTH,
                                            storage="memory")
        held = Signal(range(self.QUEUE_DEPTH + 1))
        want = feeding & (held < self.QUEUE_DEPTH)
        issued = Signal()
        step_k = kk
        if sparse:
            is_is = masks[1]
            go = Signal()           # the engine took a row tile's first beat
            steps = self._steps(m, d, start, masks, go, issued, last_col)
            want = want & (~is_is | steps.ready)
            step_k = Mux(is_is, steps.k, kk)
            last = Mux(is_is, steps.last, last)
        m.d.comb += [
            self.r_act.valid.eq(want), self.r_act.vertical.eq(1),
            self.r_act.row.eq(d.a_row + mo), self.r_act.col.eq(d.a_col + step_k),
            self.r_wgt.valid.eq(want), self.r_wgt.vertical.eq(d.b_t),
            self.r_wgt.row.eq(Mux(d.b_t, d.b_row + no, d.b_row + step_k)),
            self.r_wgt.col.eq(Mux(d.b_t, d.b_col + step_k, d.b_col + no)),
        ]
        m.d.comb += issued.eq(want & self.r_act.ready & self.r_wgt.ready)
        with m.If(issued):
            m.d.sync += kk.eq(Mux(last, 0, kk + 1))
            m.d.comb += step.eq(last)
            with m.If(last & final):
                m.d.sync += feeding.eq(0)
        with m.If(start):
            m.d.sync += kk.eq(0)
        # the beat's flags (and GEMM_IS's kept rows) travel beside the reads
        tags = [Signal(READ_LATENCY, name=f"tag_{name}") for name in ("last", "first")]
        m.d.sync += tags[0].eq(Cat(issued & last, tags[0][:-1]))
        entry = Signal(beat)
        m.d.comb += [entry.last.eq(tags[0][-1]), q.w.valid.eq(self.r_act.rvalid),
                     q.w.payload.eq(entry)]
        for r in range(p.array_rows):
            m.d.comb += entry.a[r].eq(self.r_act.rdata[r])
        if sparse:
            first = issued & steps.first & (no == 0)
            m.d.sync += tags[1].eq(Cat(first, tags[1][:-1]))
            m.d.comb += entry.first.eq(tags[1][-1])
            kept = [Signal(p.array_rows, name=f"kept{i}") for i in range(READ_LATENCY)]
            m.d.sync += kept[0].eq(Mux(is_is, steps.rows, (1 << p.array_rows) - 1))
            m.d.sync += [b.eq(a) for a, b in zip(kept, kept[1:])]
            for r in range(p.array_rows):
                with m.If(~kept[-1][r]):
                    m.d.comb += entry.a[r].eq(0)
        for c in range(p.array_cols):
            m.d.comb += entry.b[c].eq(self.r_wgt.rdata[c])
        m.d.sync += held.eq(held + issued - (q.r.valid & q.r.ready))
        out = data.View(beat, q.r.payload)
        m.d.comb += [
            engine.a.valid.eq(q.r.valid), engine.b.valid.eq(q.r.valid),
            engine.a.payload.col.eq(out.a), engine.a.payload.last.eq(out.last),
            engine.b.payload.eq(out.b), q.r.ready.eq(engine.a.ready),
        ]
        if sparse:
            m.d.comb += go.eq(q.r.valid & q.r.ready & out.first)

    def _steps(self, m, d, start, masks, go, issued, last_col):
        """``GEMM_IS``'s reduction steps: the scan that lists, for each row
        tile, the steps its mask keeps (and the rows that keep each), and the
        feed's walk over the list. Returns the walk: ``ready`` (the row
        tile's list is complete), ``k`` (the step), ``rows`` (the rows that
        keep it), ``first`` and ``last`` (of the output tile's steps)."""
        p = self.p
        R = p.array_rows
        _, is_is, s, mr, _ = masks
        depth = 1 << ceil_log2(p.width)
        entry = data.StructLayout({"k": 9, "rows": R})
        m.submodules.step_list = mem = Memory(shape=entry, depth=2 * depth, init=[])
        wr, rd = mem.write_port(), mem.read_port()

        # the scan: a column of the row tile's mask a cycle, into one half
        scanning, waiting = Signal(), Signal()
        so, sj = Signal(12), Signal(9)
        sj_last = sj == d.k - 1
        m.d.comb += [mr.valid.eq(scanning), mr.vertical.eq(1),
                     mr.row.eq(s.mask_row + so), mr.col.eq(s.mask_col + sj)]
        read = scanning & mr.ready
        with m.If(read):
            m.d.sync += sj.eq(Mux(sj_last, 0, sj + 1))
            with m.If(sj_last):
                m.d.sync += [scanning.eq(0), waiting.eq(so + R < d.m), so.eq(so + R)]
        with m.If(go & waiting):
            m.d.sync += [scanning.eq(1), waiting.eq(0)]
        with m.If(start):
            m.d.sync += [scanning.eq(self.cmd.payload[:4] == Op.GEMM_IS.value), waiting.eq(0),
                         so.eq(0), sj.eq(0)]
        tag = data.StructLayout({"valid": 1, "last": 1, "k": 9, "en": R})
        line = [Signal(tag, name=f"scan_tag{i}") for i in range(READ_LATENCY)]
        m.d.sync += [line[0].valid.eq(read), line[0].last.eq(sj_last), line[0].k.eq(sj),
                     line[0].en.eq(lane_enables(d.m - so, R))]
        m.d.sync += [b.eq(a) for a, b in zip(line, line[1:])]
        tail = line[-1]
        kept = Signal(R)
        m.d.comb += kept.eq(Cat(mr.rdata[r] ^ s.invert for r in range(R)) & tail.en)
        put = tail.valid & kept.any()
        wc, wh = Signal(range(depth + 1)), Signal()
        count = [Signal(range(depth + 1), name=f"step_count{h}") for h in range(2)]
        m.d.comb += [wr.addr.eq(Cat(wc[:ceil_log2(depth)], wh)), wr.data.k.eq(tail.k),
                     wr.data.rows.eq(kept), wr.en.eq(put)]
        m.d.sync += wc.eq(wc + put)
        # a half is the feed's a cycle after its last write has settled
        done, committed = Signal(), Signal(12)
        m.d.sync += [done.eq(tail.valid & tail.last), committed.eq(committed + done)]
        with m.If(tail.valid & tail.last):
            m.d.sync += [wc.eq(0), wh.eq(~wh)]
            for h in range(2):
                with m.If(wh == h):
                    m.d.sync += count[h].eq(wc + put)
        with m.If(start):
            m.d.sync += [wc.eq(0), wh.eq(0), committed.eq(0)]

        # the feed's walk: the read port is addressed with the next entry so
        # that its data is the current one's
        fh, frow, idx = Signal(), Signal(12), Signal(range(depth))
        cnt = Mux(fh, count[1], count[0])
        empty = cnt == 0
        walk = data.StructLayout({"ready": 1, "k": 9, "rows": R, "first": 1, "last": 1})
        out = Signal(walk)
        m.d.comb += [out.ready.eq(committed != frow), out.first.eq(idx == 0),
                     out.last.eq(empty | (idx + 1 == cnt)),
                     out.k.eq(Mux(empty, 0, rd.data.k)), out.rows.eq(Mux(empty, 0, rd.data.rows))]
        step = issued & is_is
        row_done = step & out.last & last_col
        next_idx, next_fh = Signal.like(idx), Signal()
        m.d.comb += [next_idx.eq(Mux(start, 0, Mux(step, Mux(out.last, 0, idx + 1), idx))),
                     next_fh.eq(Mux(start, 0, fh ^ row_done))]
        m.d.comb += rd.addr.eq(Cat(next_idx, next_fh))
        m.d.sync += [idx.eq(next_idx), fh.eq(next_fh), frow.eq(Mux(start, 0, frow + row_done))]
        return out

    def _write_back(self, m, engine, d, start, busy, masks):
        """Each result row plus its initial value into ``ACC``."""
        p = self.p
        mo, no, step, _, final = self._tiles(m, d, start, "wb")
        r = Signal(range(p.array_rows))
        row = mo + r
        init = d.init != Init.ZERO
        take = engine.o.valid & busy
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
        cols_left = d.n - no
        en = Signal(p.array_cols)
        m.d.comb += en.eq(lane_enables(cols_left, p.array_cols))
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
            # outputs it names are written
            is_os, _, s, _, mr = masks
            m.d.comb += [mr.valid.eq(take & is_os), mr.vertical.eq(0),
                         mr.row.eq(s.mask_row + row), mr.col.eq(s.mask_col + no)]
            keep = Cat(mr.rdata[c] ^ s.invert for c in range(p.array_cols))
            with m.If(is_os):
                m.d.comb += w.en.eq(tail.en & keep)
        for c in range(p.array_cols):
            m.d.comb += w.data[c].eq(tail.sum[c] + Mux(base, self.r_acc.rdata[c], 0))
        with m.If(tail.valid & tail.final):
            m.d.sync += [busy.eq(0), self.done.eq(1)]
