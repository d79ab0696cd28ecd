"""The core's GEMM unit: a descriptor's tiles through the systolic engine."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

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

    On ExionCore (``p.exion``) it runs ``GEMM_OS`` and ``GEMM_IS`` too, as
    dense tiles under their mask, read from ``MASK`` beside the operands:
    ``GEMM_IS`` feeds the engine zero for each input its mask clears (a
    vertical read of the mask beside ``A``'s column), ``GEMM_OS`` writes only
    the outputs its mask names (a row of the mask read beside the row's
    initial value). Their cycles are a dense GEMM's: no tile or step is
    skipped yet.

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
        ``no``; ``step`` moves to the next tile; ``final``: the last tile."""
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
        return mo, no, step, final

    def _feed(self, m, engine, d, start, feeding, masks):
        p = self.p
        mo, no, step, final = self._tiles(m, d, start, "feed")
        kk = Signal(9)
        last = kk == d.k - 1
        beat = data.StructLayout({"a": data.ArrayLayout(8, p.array_rows),
                                  "b": data.ArrayLayout(8, p.array_cols), "last": 1})
        m.submodules.beats = q = StreamFIFO(width=beat.size, depth=self.QUEUE_DEPTH,
                                            storage="memory")
        held = Signal(range(self.QUEUE_DEPTH + 1))
        want = feeding & (held < self.QUEUE_DEPTH)
        m.d.comb += [
            self.r_act.valid.eq(want), self.r_act.vertical.eq(1),
            self.r_act.row.eq(d.a_row + mo), self.r_act.col.eq(d.a_col + kk),
            self.r_wgt.valid.eq(want), self.r_wgt.vertical.eq(d.b_t),
            self.r_wgt.row.eq(Mux(d.b_t, d.b_row + no, d.b_row + kk)),
            self.r_wgt.col.eq(Mux(d.b_t, d.b_col + kk, d.b_col + no)),
        ]
        issued = self.r_act.ready & self.r_wgt.ready
        with m.If(issued):
            m.d.sync += kk.eq(Mux(last, 0, kk + 1))
            m.d.comb += step.eq(last)
            with m.If(last & final):
                m.d.sync += feeding.eq(0)
        with m.If(start):
            m.d.sync += kk.eq(0)
        # the beat's last flag travels beside the reads
        tags = Signal(READ_LATENCY)
        m.d.sync += tags.eq(Cat(issued & last, tags[:-1]))
        entry = Signal(beat)
        m.d.comb += [entry.last.eq(tags[-1]), q.w.valid.eq(self.r_act.rvalid),
                     q.w.payload.eq(entry)]
        for r in range(p.array_rows):
            m.d.comb += entry.a[r].eq(self.r_act.rdata[r])
        if masks is not None:
            # GEMM_IS: A's column beside the mask's, its cleared inputs zero
            _, is_is, s, mr, _ = masks
            m.d.comb += [mr.valid.eq(want & is_is), mr.vertical.eq(1),
                         mr.row.eq(s.mask_row + mo), mr.col.eq(s.mask_col + kk)]
            for r in range(p.array_rows):
                with m.If(is_is & ~(mr.rdata[r] ^ s.invert)):
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

    def _write_back(self, m, engine, d, start, busy, masks):
        """Each result row plus its initial value into ``ACC``."""
        p = self.p
        mo, no, step, final = self._tiles(m, d, start, "wb")
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
