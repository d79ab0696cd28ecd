"""The core's vector unit: the non-linear unit on rows of ``ACC``, the
residual stream's gated add, and the non-linear unit's constants."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .. import nonlinear_arith as ar
from ..fifo import StreamFIFO
from ..nonlinear import NonLinearParams, NonLinearUnit, Op as Fn, SHIFT_BITS
from .buffer import READ_LATENCY, ReadPort, WritePort
from .isa import DESCRIPTOR_BITS, Buffer, Op, layout
from .walk import RegionWalk, lane_enables


__all__ = ["VectorUnit"]

#: Bits of an ADD's gate (the low bits of its ``ACC`` word, signed).
GATE_BITS = 18
#: Vectors (ADD) or beats (NONLINEAR) read ahead of their consumer.
READ_AHEAD = READ_LATENCY + 4


class VectorUnit(wiring.Component):
    """Runs the vector queue's descriptors: ``SET`` (the non-linear
    unit's constants), ``NONLINEAR`` (rows of ``ACC`` through the
    :class:`~exdisc.hw.nonlinear.NonLinearUnit` into ``ACT`` or ``WGT``,
    softmax's keep masks into ``MASK`` and its ``P V`` multipliers into the
    row-scale memory), and ``ADD`` (the gated residual add on ``ACC``).

    Throughput: ``NONLINEAR``, a beat of ``nl_lanes`` values per cycle
    while the non-linear unit takes them; ``ADD``, a vector of
    :attr:`CoreParams.banks` values every three cycles (the gate, the source
    and the destination are three reads of ``ACC``). One descriptor at a
    time: a ``NONLINEAR`` is done when its last row is written, so the
    non-linear unit's latency (about ``2 * beats + 95`` cycles) is paid once
    per descriptor.

    On ExionCore (``p.exion``) it runs ``MASKGEN`` too: a vector of ``ACC``
    compared with the threshold and written to ``MASK`` each cycle.

    An ``ADD`` whose source or gate row overlaps its destination other than
    element for element reads some values after they are written (the
    golden model reads them all first); the compiler never emits one.

    Members
    -------
    cmd : In(stream.Signature(DESCRIPTOR_BITS))
    done : Out(1)
    r_acc : Out(ReadPort)
    w_acc, w_act, w_wgt, w_mask : Out(WritePort)
    """

    def __init__(self, p, shapes):
        self.p = p
        self.nl_params = NonLinearParams(lanes=p.nl_lanes, max_len=p.max_len)
        super().__init__({
            "cmd": In(stream.Signature(DESCRIPTOR_BITS)), "done": Out(1),
            "r_acc": Out(ReadPort(*shapes[Buffer.ACC])),
            **{f"w_{b.name.lower()}": Out(WritePort(*shapes[b]))
               for b in (Buffer.ACC, Buffer.ACT, Buffer.WGT, Buffer.MASK)}})
        self._shapes = shapes

    def elaborate(self, platform):
        m = Module()
        word = Signal(DESCRIPTOR_BITS)
        busy = Signal()
        op = word[:4]
        start = self.cmd.valid & self.cmd.ready
        m.d.comb += self.cmd.ready.eq(~busy)
        m.d.sync += self.done.eq(0)

        # SET: the constants, for the NONLINEAR descriptors after it
        const = data.View(layout(Op.SET), Signal(DESCRIPTOR_BITS, name="constants"))
        incoming = data.View(layout(Op.SET), self.cmd.payload)
        with m.If(start):
            with m.If(incoming.op == Op.SET.value):
                m.d.sync += [const.as_value().eq(self.cmd.payload), self.done.eq(1)]
            with m.Else():
                m.d.sync += [word.eq(self.cmd.payload), busy.eq(1)]

        add_start = Signal()
        nl_start = Signal()
        m.d.sync += [add_start.eq(start & (incoming.op == Op.ADD.value)),
                     nl_start.eq(start & (incoming.op == Op.NONLINEAR.value))]
        shape = self._shapes[Buffer.ACC]
        add_r = ReadPort(*shape).create(path=("add_r",))
        nl_r = ReadPort(*shape).create(path=("nl_r",))
        add_done = self._add(m, data.View(layout(Op.ADD), word), add_start, add_r)
        nl_done = self._nonlinear(m, platform, data.View(layout(Op.NONLINEAR), word), const,
                                  nl_start, nl_r)
        # ACC's read port: the descriptor's operation's, the non-linear unit's
        # unless another's
        readers = [(op == Op.ADD.value, add_r)]
        finished = add_done | nl_done
        if self.p.exion:
            gen_start = Signal()
            m.d.sync += gen_start.eq(start & (incoming.op == Op.MASKGEN.value))
            gen_r = ReadPort(*shape).create(path=("gen_r",))
            is_gen = op == Op.MASKGEN.value
            finished = finished | self._maskgen(m, data.View(layout(Op.MASKGEN), word),
                                                gen_start, gen_r, is_gen)
            readers.append((is_gen, gen_r))
        r = self.r_acc
        for name in ("valid", "row", "col", "vertical"):
            value = getattr(nl_r, name)
            for sel, port in readers:
                value = Mux(sel, getattr(port, name), value)
            m.d.comb += getattr(r, name).eq(value)
        other = readers[0][0]
        for sel, _ in readers[1:]:
            other = other | sel
        for sel, port in readers:
            m.d.comb += [port.rdata.eq(r.rdata)]
        m.d.comb += nl_r.rdata.eq(r.rdata)
        for sel, port in readers:
            m.d.comb += [port.ready.eq(r.ready & sel), port.rvalid.eq(r.rvalid & sel)]
        m.d.comb += [nl_r.ready.eq(r.ready & ~other), nl_r.rvalid.eq(r.rvalid & ~other)]
        with m.If(finished):
            m.d.sync += [busy.eq(0), self.done.eq(1)]
        return m

    # -- MASKGEN (ExionCore) -----------------------------------------------
    def _maskgen(self, m, d, start, r, selected):
        """``MASK[dst] = ACC[src] > threshold``, a vector a cycle while ``ACC``
        grants the reads; each response compared and written the cycle after
        it arrives (``MASK`` never refuses the vector unit). Returns ``done``."""
        n = self.p.banks
        issue = RegionWalk(n, d.length, d.rows, "gen_issue")
        running = Signal()
        with m.If(start):
            issue.start(m)
            m.d.sync += running.eq(1)
        m.d.comb += [r.valid.eq(running), r.vertical.eq(0),
                     r.row.eq(d.src_row + issue.row), r.col.eq(d.src_col + issue.col)]
        with m.If(r.ready):
            issue.advance(m)
            with m.If(issue.last):
                m.d.sync += running.eq(0)
        got = RegionWalk(n, d.length, d.rows, "gen_got")
        with m.If(start):
            got.start(m)
        with m.If(r.rvalid):
            got.advance(m)
        tag = Signal(data.StructLayout({"valid": 1, "final": 1, "row": 12, "col": 10, "en": n,
                                        "bits": n}), name="gen_write")
        m.d.sync += [tag.valid.eq(r.rvalid), tag.final.eq(got.last),
                     tag.row.eq(d.dst_row + got.row), tag.col.eq(d.dst_col + got.col),
                     tag.en.eq(lane_enables(got.left, n))]
        for j in range(n):
            m.d.sync += tag.bits[j].eq(r.rdata[j].as_signed() > d.threshold.as_signed())
        w = self.w_mask
        with m.If(selected):
            m.d.comb += [w.valid.eq(tag.valid), w.vertical.eq(0), w.row.eq(tag.row),
                         w.col.eq(tag.col), w.en.eq(tag.en)]
            for j in range(n):
                m.d.comb += w.data[j].eq(tag.bits[j])
        return tag.valid & tag.final

    # -- ADD ---------------------------------------------------------------
    def _add(self, m, d, start, r):
        """``ACC[dst] = saturate(ACC[dst] + rshift_round(ACC[src] * gate,
        shift))``, a vector at a time: three reads (gate, source,
        destination), a pipeline, a queue, the write. Returns ``done``."""
        p = self.p
        n = p.banks
        issue = RegionWalk(n, d.length, d.rows, "add_issue")
        phase = Signal(2)                       # the next read: gate, source, destination
        running = Signal()
        held = Signal(range(READ_AHEAD + 1))    # vectors begun and not yet written
        with m.If(start):
            issue.start(m)
            m.d.sync += [phase.eq(0), running.eq(1)]
        m.d.comb += [
            r.valid.eq(running & ((phase != 0) | (held < READ_AHEAD))), r.vertical.eq(0),
            r.row.eq(Mux(phase == 0, d.gate_row,
                         Mux(phase == 1, d.src_row, d.dst_row) + issue.row)),
            r.col.eq(Mux(phase == 0, d.gate_col, Mux(phase == 1, d.src_col, d.dst_col))
                     + issue.col),
        ]
        with m.If(r.ready):
            m.d.sync += phase.eq(Mux(phase == 2, 0, phase + 1))
            with m.If(phase == 2):
                issue.advance(m)
                with m.If(issue.last):
                    m.d.sync += running.eq(0)

        # responses, in the order of the reads
        got = RegionWalk(n, d.length, d.rows, "add_got")
        rphase = Signal(2)
        gate = Signal(data.ArrayLayout(32, n))
        src = Signal(data.ArrayLayout(32, n))
        with m.If(start):
            got.start(m)
            m.d.sync += rphase.eq(0)
        with m.If(r.rvalid):
            m.d.sync += rphase.eq(Mux(rphase == 2, 0, rphase + 1))
            with m.If(rphase == 0):
                m.d.sync += gate.eq(r.rdata)
            with m.If(rphase == 1):
                m.d.sync += src.eq(r.rdata)
            with m.If(rphase == 2):
                got.advance(m)
        launch = r.rvalid & (rphase == 2)
        tag = data.StructLayout({"valid": 1, "final": 1, "row": 12, "col": 10, "en": n})
        t0 = Signal(tag)
        m.d.comb += [t0.valid.eq(launch), t0.final.eq(got.last), t0.row.eq(d.dst_row + got.row),
                     t0.col.eq(d.dst_col + got.col), t0.en.eq(lane_enables(got.left, n))]
        results = []
        cycles = None
        for j in range(n):
            prod, cycles = ar.multiply(m, src[j].as_signed(), gate[j][:GATE_BITS].as_signed(),
                                       f"add_prod{j}")
            # the shift is the descriptor's, constant while its vectors
            # flow: decoded into registers, it leaves the path to the shifter
            shifted = ar.rshift_round(m, prod, d.shift, f"add_round{j}", early=True)
            dst = ar.delay(m, r.rdata[j].as_signed(), cycles + 2, f"add_dst{j}")
            results.append(ar.register(m, ar.saturate(dst + shifted, 32), f"add_sum{j}"))
        # the product starts from the source and gate registers in the cycle
        # the destination arrives; the sum is registered after the rounding
        t = ar.delay(m, t0, cycles + 3, "add_tag")
        entry = data.StructLayout({"final": 1, "row": 12, "col": 10, "en": n,
                                   "sum": data.ArrayLayout(32, n)})
        m.submodules.add_results = q = StreamFIFO(width=entry.size, depth=READ_AHEAD,
                                                  storage="memory")
        w_in = Signal(entry)
        m.d.comb += [w_in.final.eq(t.final), w_in.row.eq(t.row), w_in.col.eq(t.col),
                     w_in.en.eq(t.en), q.w.valid.eq(t.valid), q.w.payload.eq(w_in)]
        for j in range(n):
            m.d.comb += w_in.sum[j].eq(results[j])
        head = data.View(entry, q.r.payload)
        w = self.w_acc
        m.d.comb += [w.valid.eq(q.r.valid), w.row.eq(head.row), w.col.eq(head.col),
                     w.vertical.eq(0), w.en.eq(head.en), w.data.eq(head.sum),
                     q.r.ready.eq(w.ready)]
        began = r.ready & (phase == 0)
        m.d.sync += held.eq(held + began - w.ready)
        return w.ready & head.final

    # -- NONLINEAR ----------------------------------------------------------
    def _nonlinear(self, m, platform, d, const, start, r):
        """Rows of ``ACC`` through the non-linear unit, a command per row and
        its beats; its output beats into the destination, the keep masks and
        row scales. Returns ``done``."""
        p, lanes = self.p, self.p.nl_lanes
        m.submodules.nonlinear = unit = NonLinearUnit(self.nl_params)
        loads = (d.fn == Fn.LOAD_GAIN.value) | (d.fn == Fn.LOAD_BIAS.value)
        scale_layout = data.StructLayout({"mult": unsigned(self.nl_params.mult_bits),
                                          "shift": unsigned(SHIFT_BITS + 1)})
        m.submodules.row_scales = scales = Memory(shape=scale_layout, depth=p.mask_rows, init=[])

        # commands: one per row, the row scale read a cycle before
        cmd_at = Signal(12)
        cmd_on, cmd_wait = Signal(), Signal()
        scale_r = scales.read_port()
        m.d.comb += scale_r.addr.eq(d.aux_row + cmd_at)
        c = unit.cmd.payload
        m.d.comb += [
            unit.cmd.valid.eq(cmd_on & ~cmd_wait),
            c.op.as_value().eq(d.fn), c.length.eq(d.length),
            c.mult.eq(Mux(d.row_scale, scale_r.data.mult, const.mult)),
            c.shift.eq(Mux(d.row_scale, scale_r.data.shift, const.shift)),
            c.mult2.eq(const.mult2), c.shift2.eq(const.shift2), c.theta.eq(const.theta),
            c.pre.eq(const.pre),
        ]
        m.d.sync += cmd_wait.eq(0)
        with m.If(unit.cmd.valid & unit.cmd.ready):
            m.d.sync += [cmd_at.eq(cmd_at + 1), cmd_wait.eq(1)]
            with m.If(cmd_at == d.rows - 1):
                m.d.sync += cmd_on.eq(0)
        with m.If(start):
            m.d.sync += [cmd_at.eq(0), cmd_on.eq(1), cmd_wait.eq(1)]

        # beats: ACC read ahead of the unit, as far as the queue has room
        read = RegionWalk(lanes, d.length, d.rows, "nl_read")
        reading = Signal()
        beat = data.ArrayLayout(signed(32), lanes)
        m.submodules.nl_beats = q = StreamFIFO(width=beat.size, depth=READ_AHEAD,
                                               storage="memory")
        held = Signal(range(READ_AHEAD + 1))
        m.d.comb += [r.valid.eq(reading & (held < READ_AHEAD)), r.vertical.eq(0),
                     r.row.eq(d.src_row + read.row), r.col.eq(d.src_col + read.col)]
        with m.If(start):
            read.start(m)
            m.d.sync += reading.eq(1)
        with m.If(r.ready):
            read.advance(m)
            with m.If(read.last):
                m.d.sync += reading.eq(0)
        m.d.comb += [q.w.valid.eq(r.rvalid), q.w.payload.eq(r.rdata.as_value()[:beat.size])]
        taken = q.r.valid & q.r.ready
        m.d.sync += held.eq(held + r.ready - taken)
        m.d.comb += [unit.i.valid.eq(q.r.valid), unit.i.payload.eq(q.r.payload),
                     q.r.ready.eq(unit.i.ready)]
        fed = RegionWalk(lanes, d.length, d.rows, "nl_fed")
        with m.If(start):
            fed.start(m)
        with m.If(taken):
            fed.advance(m)

        # results into the destination, the mask and the row scales
        out = RegionWalk(lanes, d.length, d.rows, "nl_out")
        with m.If(start):
            out.start(m)
        o = unit.o.payload
        m.d.comb += unit.o.ready.eq(1)
        got = unit.o.valid
        en = lane_enables(out.left, lanes)
        for b, port in ((Buffer.ACT, self.w_act), (Buffer.WGT, self.w_wgt)):
            m.d.comb += [port.valid.eq(got & (d.dst_buffer == b)), port.vertical.eq(0),
                         port.row.eq(d.dst_row + out.row), port.col.eq(d.dst_col + out.col),
                         port.en.eq(en)]
            for j in range(lanes):
                m.d.comb += port.data[j].eq(o.data[j])
        softmax = d.fn == Fn.SOFTMAX.value
        wm = self.w_mask
        m.d.comb += [wm.valid.eq(got & softmax), wm.vertical.eq(0),
                     wm.row.eq(d.aux_row + out.row), wm.col.eq(out.col), wm.en.eq(en)]
        for j in range(lanes):
            m.d.comb += wm.data[j].eq(o.keep[j])
        scale_w = scales.write_port()
        m.d.comb += [scale_w.addr.eq(d.aux_row + out.row),
                     scale_w.data.mult.eq(o.row_mult), scale_w.data.shift.eq(o.row_shift),
                     scale_w.en.eq(got & softmax & out.last_in_row)]
        with m.If(got):
            out.advance(m)
        return Mux(loads, taken & fed.last, got & out.last)
