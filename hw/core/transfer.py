"""The core's load and store units: rows of a buffer region from and to
external memory."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..fifo import StreamFIFO
from .buffer import READ_LATENCY, ReadPort, WritePort
from .isa import DESCRIPTOR_BITS, Buffer, Op, layout
from .walk import RegionWalk, lane_enables


__all__ = ["ExternalCommand", "LoadUnit", "StoreUnit", "ELEMENT_BITS"]

#: Bits of an element of each buffer.
ELEMENT_BITS = {Buffer.ACT: 8, Buffer.WGT: 8, Buffer.ACC: 32, Buffer.MASK: 1}

#: One transfer of external memory: ``bytes`` bytes from byte ``addr``.
ExternalCommand = data.StructLayout({"addr": unsigned(32), "bytes": unsigned(16)})


class _Rows(RegionWalk):
    """A region's rows in vectors of ``banks`` elements (columns from the
    descriptor's ``col``), and ``chunk``: the vector's place in its external
    beat, ``32 / element bits`` vectors a beat."""

    def __init__(self, p, d, name):
        super().__init__(p.banks, d.cols, d.rows, name, origin=d.col)
        self.chunk = Signal(range(32), name=f"{name}_chunk")
        self.per_beat = Mux(d.buffer == Buffer.ACC, 1, Mux(d.buffer == Buffer.MASK, 32, 4))
        self.end_of_beat = self.last_in_row | (self.chunk == self.per_beat - 1)

    def start(self, m, d):
        """From the descriptor ``d`` arriving (its register is not yet loaded)."""
        super().start(m, origin=d.col)
        m.d.sync += [self.left.eq(d.cols), self.chunk.eq(0)]

    def advance(self, m):
        super().advance(m)
        m.d.sync += self.chunk.eq(Mux(self.end_of_beat, 0, self.chunk + 1))


def _region_bytes(d):
    """Bytes of one row of the region in external memory."""
    return Mux(d.buffer == Buffer.MASK, d.cols >> 3,
               Mux(d.buffer == Buffer.ACC, d.cols << 2, d.cols))


def _issue_commands(m, d, busy, cmd, ext, name):
    """One external command per row of the region ``d`` while ``busy``,
    from the handshake of ``cmd`` (the descriptor) on."""
    row = Signal(12, name=f"{name}_cmd_row")
    addr = Signal(32, name=f"{name}_cmd_addr")
    done = Signal(name=f"{name}_cmds_done")
    m.d.comb += [ext.valid.eq(busy & ~done), ext.payload.addr.eq(addr),
                 ext.payload.bytes.eq(_region_bytes(d))]
    with m.If(ext.valid & ext.ready):
        m.d.sync += [row.eq(row + 1), addr.eq(addr + d.stride)]
        with m.If(row == d.rows - 1):
            m.d.sync += done.eq(1)
    with m.If(cmd.valid & cmd.ready):
        m.d.sync += [row.eq(0), addr.eq(data.View(layout(Op.LOAD), cmd.payload).dram),
                     done.eq(0)]


class _Unit(wiring.Component):
    def __init__(self, p, shapes, ports):
        self.p, self.shapes = p, shapes
        super().__init__({"cmd": In(stream.Signature(DESCRIPTOR_BITS)), "done": Out(1),
                          **ports})

    def _take(self, m):
        """The descriptor register, ``busy`` from its handshake to ``finish``."""
        word = Signal(DESCRIPTOR_BITS)
        d = data.View(layout(Op.LOAD), word)
        busy = Signal()
        m.d.comb += self.cmd.ready.eq(~busy)
        m.d.sync += self.done.eq(0)
        return word, d, busy


class LoadUnit(_Unit):
    """Runs ``LOAD`` descriptors: per row of the region a command on
    ``ext_cmd``, and its bytes, which arrive on ``ext_data`` in order in
    beats of :attr:`CoreParams.bus_bytes` (the last beat of a row padded),
    written into the buffer a vector of :attr:`CoreParams.banks` elements
    a cycle.

    Throughput: a vector written per cycle while beats arrive (a row of
    int32 elements takes one beat per vector, int8 one per four, mask bits
    one per 32). One descriptor at a time; ``done`` pulses when its last
    write is granted.

    Members
    -------
    cmd : In(stream.Signature(DESCRIPTOR_BITS))
    done : Out(1)
    ext_cmd : Out(stream.Signature(ExternalCommand))
    ext_data : In(stream.Signature(8 * bus_bytes))
    w_act, w_wgt, w_acc, w_mask : Out(WritePort)
    """

    def __init__(self, p, shapes):
        super().__init__(p, shapes, {
            "ext_cmd": Out(stream.Signature(ExternalCommand)),
            "ext_data": In(stream.Signature(8 * p.bus_bytes)),
            **{f"w_{b.name.lower()}": Out(WritePort(*shapes[b])) for b in Buffer}})

    def elaborate(self, platform):
        m = Module()
        p = self.p
        word, d, busy = self._take(m)
        at = _Rows(p, d, "w")
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [word.eq(self.cmd.payload), busy.eq(1)]
            at.start(m, data.View(layout(Op.LOAD), self.cmd.payload))
        _issue_commands(m, d, busy, self.cmd, self.ext_cmd, "load")

        beat = Signal(8 * p.bus_bytes)
        have = Signal()
        m.d.comb += self.ext_data.ready.eq(busy & ~have)
        with m.If(self.ext_data.valid & self.ext_data.ready):
            m.d.sync += [beat.eq(self.ext_data.payload), have.eq(1)]
        en = Signal(p.banks)
        m.d.comb += en.eq(lane_enables(at.left, p.banks))
        granted = Signal()
        for b in Buffer:
            port = getattr(self, f"w_{b.name.lower()}")
            bits = ELEMENT_BITS[b] * p.banks
            m.d.comb += [port.valid.eq(busy & have & (d.buffer == b)),
                         port.row.eq(d.row + at.row), port.col.eq(at.col),
                         port.vertical.eq(0), port.data.eq(beat.word_select(at.chunk, bits)),
                         port.en.eq(en)]
            with m.If(port.ready):
                m.d.comb += granted.eq(1)
        with m.If(granted):
            at.advance(m)
            with m.If(at.end_of_beat):
                m.d.sync += have.eq(0)
            with m.If(at.last):
                m.d.sync += [busy.eq(0), self.done.eq(1)]
        return m


class StoreUnit(_Unit):
    """Runs ``STORE`` descriptors (and ``FINISH``, which ends at once): per
    row of the region a command on ``ext_cmd`` and its bytes on
    ``ext_data``, in beats of :attr:`CoreParams.bus_bytes` (the last of a
    row padded with zeros), read from the buffer a vector a cycle.

    Throughput: a vector read per cycle while ``ext_data`` takes the beats.
    One descriptor at a time; ``done`` pulses when its last beat is taken.

    Members
    -------
    cmd : In(stream.Signature(DESCRIPTOR_BITS))
    done : Out(1)
    finished : Out(1)
        A ``FINISH`` has run.
    ext_cmd : Out(stream.Signature(ExternalCommand))
    ext_data : Out(stream.Signature(8 * bus_bytes))
    r_act, r_wgt, r_acc, r_mask : Out(ReadPort)
    """

    #: Vectors read and not yet packed.
    QUEUE_DEPTH = READ_LATENCY + 4

    def __init__(self, p, shapes):
        super().__init__(p, shapes, {
            "finished": Out(1),
            "ext_cmd": Out(stream.Signature(ExternalCommand)),
            "ext_data": Out(stream.Signature(8 * p.bus_bytes)),
            **{f"r_{b.name.lower()}": Out(ReadPort(*shapes[b])) for b in Buffer}})

    def elaborate(self, platform):
        m = Module()
        p = self.p
        word, d, busy = self._take(m)
        finish = Signal()
        read_at, pack_at = _Rows(p, d, "r"), _Rows(p, d, "p")
        with m.If(self.cmd.valid & self.cmd.ready):
            payload = data.View(layout(Op.LOAD), self.cmd.payload)
            with m.If(payload.op == Op.FINISH.value):
                m.d.sync += [finish.eq(1), self.finished.eq(1)]
            with m.Else():
                m.d.sync += [word.eq(self.cmd.payload), busy.eq(1)]
                read_at.start(m, payload)
                pack_at.start(m, payload)
        with m.If(finish):
            m.d.sync += [finish.eq(0), self.done.eq(1)]
        m.d.comb += self.cmd.ready.eq(~busy & ~finish)
        _issue_commands(m, d, busy, self.cmd, self.ext_cmd, "store")

        # reads, as far as the queue behind them has room
        wide = 8 * p.bus_bytes
        m.submodules.vectors = q = StreamFIFO(width=wide, depth=self.QUEUE_DEPTH,
                                              storage="memory")
        held = Signal(range(self.QUEUE_DEPTH + 1))
        reading = Signal()
        issued = Signal()
        m.d.comb += issued.eq(0)
        for b in Buffer:
            port = getattr(self, f"r_{b.name.lower()}")
            m.d.comb += [port.valid.eq(reading & (held < self.QUEUE_DEPTH) & (d.buffer == b)),
                         port.row.eq(d.row + read_at.row), port.col.eq(read_at.col),
                         port.vertical.eq(0)]
            with m.If(port.ready):
                m.d.comb += issued.eq(1)
            with m.If(port.rvalid):
                m.d.comb += [q.w.valid.eq(1), q.w.payload.eq(port.rdata.as_value())]
        with m.If(self.cmd.valid & self.cmd.ready & (self.cmd.payload[:4] != Op.FINISH.value)):
            m.d.sync += reading.eq(1)
        with m.If(issued):
            read_at.advance(m)
            with m.If(read_at.last):
                m.d.sync += reading.eq(0)
        m.d.sync += held.eq(held + issued - (q.r.valid & q.r.ready))

        # vectors packed into beats
        beat = Signal(wide)
        merged = Signal(wide)
        out, out_valid, out_final = Signal(wide), Signal(), Signal()
        m.d.comb += [self.ext_data.valid.eq(out_valid), self.ext_data.payload.eq(out)]
        room = ~out_valid | self.ext_data.ready
        m.d.comb += [q.r.ready.eq(busy & room), merged.eq(beat)]
        for b in Buffer:
            bits = ELEMENT_BITS[b] * p.banks
            with m.If(d.buffer == b):
                m.d.comb += merged.word_select(pack_at.chunk, bits).eq(q.r.payload[:bits])
        with m.If(self.ext_data.valid & self.ext_data.ready):
            m.d.sync += out_valid.eq(0)
            with m.If(out_final):
                m.d.sync += [busy.eq(0), out_final.eq(0), self.done.eq(1)]
        with m.If(q.r.valid & q.r.ready):
            pack_at.advance(m)
            with m.If(pack_at.end_of_beat):
                m.d.sync += [out.eq(merged), out_valid.eq(1), beat.eq(0),
                             out_final.eq(pack_at.last)]
            with m.Else():
                m.d.sync += beat.eq(merged)
        return m
