"""The core's load and store units: rows of a buffer region from and to
external memory, in order or (DiscCore) by a list of token indices."""

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..fifo import StreamFIFO
from .buffer import READ_LATENCY, ReadPort, WritePort
from .isa import DESCRIPTOR_BITS, Buffer, Error, Op, layout

#: The operations whose rows go by an index list (:class:`_IndexList`); a
#: ``KV_*`` descriptor's ``base`` lies where a ``GATHER``'s ``dram`` does.
INDEXED_OPS = (Op.GATHER, Op.SCATTER, Op.KV_GATHER, Op.KV_SCATTER)
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


def _issue_commands(m, d, busy, cmd, ext, name, index=None):
    """One external command per row of the region ``d`` while ``busy``,
    from the handshake of ``cmd`` (the descriptor) on; with ``index`` (an
    :class:`_IndexList`), a gather's or scatter's from its checked list.
    Returns the rows commanded so far and whether all are."""
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
    if index is not None:
        index.addresses(m, busy & ~done, ext.valid & ext.ready & index.indexed)
        with m.If(index.indexed):
            m.d.comb += [ext.valid.eq(busy & ~done & index.addr_ready),
                         ext.payload.addr.eq(index.addr)]
    return row, done


class _IndexList:
    """A gather's or scatter's index list ``ACC[idx_row, 0:rows]``: read a
    vector at a time through the unit's ``ACC`` read port and checked
    (:meth:`check`: every index below ``limit``; a scatter's rising
    strictly), kept in a memory of a vector a word, and turned into each
    row's external address (:meth:`addresses`). The transfer starts only
    once the whole list has passed, so that a bad list moves no byte.

    Cycles: ``ceil(rows / banks) + READ_LATENCY + 1`` to check; the first
    address three cycles later, then one a cycle."""

    def __init__(self, p, word, name):
        self.p = p
        self.v = data.View(layout(Op.GATHER), word)
        self.name = name
        self.indexed = Signal(name=f"{name}_indexed")
        self.checking = Signal(name=f"{name}_checking")
        self.fault = Signal(Error, name=f"{name}_fault")
        self.addr = Signal(32, name=f"{name}_ix_addr")
        self.addr_ready = Signal(name=f"{name}_ix_addr_ready")
        self.vectors = -(-p.width // p.banks)
        self.mem = Memory(shape=data.ArrayLayout(12, p.banks), depth=self.vectors, init=[])

    def start(self, m, payload):
        """From the descriptor ``payload`` arriving."""
        op = payload[:4]
        is_indexed = Const(0, 1)
        for o in INDEXED_OPS:
            is_indexed = is_indexed | (op == o.value)
        m.d.sync += [self.indexed.eq(is_indexed), self.checking.eq(is_indexed)]

    def check(self, m, port, busy):
        """The list's vectors requested on ``port`` (``ACC``) and checked as
        they return; ``fault`` pulses with the error when the list is bad."""
        p, v, name = self.p, self.v, self.name
        m.submodules[f"{name}_index_mem"] = self.mem
        wr = self.mem.write_port()
        shift = ceil_log2(p.banks)
        vec_bits = max(1, ceil_log2(self.vectors + 1))
        asked = Signal(vec_bits, name=f"{name}_ix_asked")
        got = Signal(vec_bits, name=f"{name}_ix_got")
        count = (v.rows + p.banks - 1) >> shift
        with m.If(self.checking):
            m.d.comb += [port.valid.eq(busy & (asked < count)), port.row.eq(v.idx_row),
                         port.col.eq(asked << shift), port.vertical.eq(0)]
        with m.If(port.valid & port.ready):
            m.d.sync += asked.eq(asked + 1)
        out_of_range = Signal(name=f"{name}_ix_range")
        not_rising = Signal(name=f"{name}_ix_order")
        last = Signal(32, name=f"{name}_ix_last")
        scatter = (v.op == Op.SCATTER.value) | (v.op == Op.KV_SCATTER.value)
        m.d.comb += self.fault.eq(Error.NONE)
        with m.If(self.checking & port.rvalid):
            bad, order = Const(0, 1), Const(0, 1)
            for j in range(p.banks):
                live = (got << shift) + j < v.rows
                value = port.rdata[j]
                prev = last if j == 0 else port.rdata[j - 1]
                first = (got == 0) if j == 0 else Const(0, 1)
                bad = bad | (live & (value >= v.limit))
                order = order | (live & ~first & (value <= prev))
            m.d.sync += [got.eq(got + 1), last.eq(port.rdata[p.banks - 1]),
                         out_of_range.eq(out_of_range | bad), not_rising.eq(not_rising | order)]
            m.d.comb += [wr.en.eq(1), wr.addr.eq(got)]
            for j in range(p.banks):
                m.d.comb += wr.data[j].eq(port.rdata[j])
        with m.If(self.checking & (got == count) & (asked == count)):
            m.d.sync += self.checking.eq(0)
            with m.If(out_of_range):
                m.d.comb += self.fault.eq(Error.BAD_INDEX)
            with m.Elif(not_rising & scatter):
                m.d.comb += self.fault.eq(Error.DUPLICATE)
        with m.If(~busy):
            m.d.sync += [asked.eq(0), got.eq(0), out_of_range.eq(0), not_rising.eq(0)]

    #: Addresses computed ahead of their commands.
    AHEAD = 4

    def addresses(self, m, want, taken):
        """``addr``, ``addr_ready``: each row's ``dram + index * stride`` in
        order, one a cycle from three cycles after the list has passed,
        computed up to :attr:`AHEAD` ahead of the commands ``taken`` while
        ``want``."""
        p, v, name = self.p, self.v, self.name
        rd = self.mem.read_port(transparent_for=())
        shift = ceil_log2(p.banks)
        m.submodules[f"{name}_ix_ahead"] = ahead = StreamFIFO(width=32, depth=self.AHEAD)
        row = Signal(12, name=f"{name}_ix_row")
        pending = Signal(range(self.AHEAD + 1), name=f"{name}_ix_pending")
        lane = Signal(range(p.banks), name=f"{name}_ix_lane")
        read, multiplied = Signal(name=f"{name}_ix_read"), Signal(name=f"{name}_ix_multiplied")
        product = Signal(28, name=f"{name}_ix_product")
        issue = want & self.indexed & ~self.checking & (row < v.rows) & (pending < self.AHEAD)
        m.d.comb += rd.addr.eq(row >> shift)
        m.d.sync += [read.eq(issue), multiplied.eq(read),
                     pending.eq(pending + issue - taken)]
        with m.If(issue):
            m.d.sync += [row.eq(row + 1), lane.eq(row[:shift] if shift else 0)]
        with m.If(read):
            m.d.sync += product.eq(rd.data[lane] * v.stride)
        m.d.comb += [ahead.w.valid.eq(multiplied), ahead.w.payload.eq(v.dram + product),
                     ahead.r.ready.eq(taken), self.addr.eq(ahead.r.payload),
                     self.addr_ready.eq(ahead.r.valid)]
        with m.If(~want):
            m.d.sync += row.eq(0)


class _Unit(wiring.Component):
    def __init__(self, p, shapes, ports):
        self.p, self.shapes = p, shapes
        super().__init__({"cmd": In(stream.Signature(DESCRIPTOR_BITS)), "done": Out(1),
                          "fault": Out(Error), **ports})

    def _take(self, m):
        """The descriptor register, ``busy`` from its handshake to ``finish``."""
        word = Signal(DESCRIPTOR_BITS)
        d = data.View(layout(Op.LOAD), word)
        busy = Signal()
        m.d.comb += self.cmd.ready.eq(~busy)
        m.d.sync += self.done.eq(0)
        return word, d, busy

    def _index_list(self, m, word, busy, name):
        """DiscCore's index list of a gather or scatter (None on other
        cores); a bad list ends the descriptor at once, with ``fault`` and
        no ``done``."""
        if not self.p.disc:
            return None
        index = _IndexList(self.p, word, name)
        with m.If(self.cmd.valid & self.cmd.ready):
            index.start(m, self.cmd.payload)
        index.check(m, self.r_acc, busy)
        m.d.comb += self.fault.eq(index.fault)
        with m.If(index.fault != Error.NONE):
            m.d.sync += busy.eq(0)
        return index


class LoadUnit(_Unit):
    """Runs ``LOAD`` descriptors: per row of the region a command on
    ``ext_cmd``, and its bytes, which arrive on ``ext_data`` in order in
    beats of :attr:`CoreParams.bus_bytes` (the last beat of a row padded),
    written into the buffer a vector of :attr:`CoreParams.banks` elements
    a cycle.

    Throughput: a vector written per cycle while beats arrive (a row of
    int32 elements takes one beat per vector, int8 one per four, mask bits
    one per 32). One descriptor at a time; ``done`` pulses when its last
    write is granted. DiscCore's ``GATHER`` first reads and checks its index
    list (:class:`_IndexList`) through ``r_acc``.

    Members
    -------
    cmd : In(stream.Signature(DESCRIPTOR_BITS))
    done : Out(1)
    fault : Out(Error)
        Pulses with ``BAD_INDEX`` when a gather's list is bad (DiscCore).
    ext_cmd : Out(stream.Signature(ExternalCommand))
    ext_data : In(stream.Signature(8 * bus_bytes))
    w_act, w_wgt, w_acc, w_mask : Out(WritePort)
    r_acc : Out(ReadPort)
        DiscCore only: index lists.
    """

    def __init__(self, p, shapes):
        index = {"r_acc": Out(ReadPort(*shapes[Buffer.ACC]))} if p.disc else {}
        super().__init__(p, shapes, {
            "ext_cmd": Out(stream.Signature(ExternalCommand)),
            "ext_data": In(stream.Signature(8 * p.bus_bytes)),
            **{f"w_{b.name.lower()}": Out(WritePort(*shapes[b])) for b in Buffer}, **index})

    def elaborate(self, platform):
        m = Module()
        p = self.p
        word, d, busy = self._take(m)
        at = _Rows(p, d, "w")
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [word.eq(self.cmd.payload), busy.eq(1)]
            at.start(m, data.View(layout(Op.LOAD), self.cmd.payload))
        index = self._index_list(m, word, busy, "load")
        _issue_commands(m, d, busy, self.cmd, self.ext_cmd, "load", index)

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
    DiscCore's ``SCATTER`` first reads and checks its index list
    (:class:`_IndexList`) through ``r_acc``, and reads its rows after.

    Members
    -------
    cmd : In(stream.Signature(DESCRIPTOR_BITS))
    done : Out(1)
    fault : Out(Error)
        Pulses with ``BAD_INDEX`` or ``DUPLICATE`` when a scatter's list is
        bad (DiscCore).
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
        index = self._index_list(m, word, busy, "store")
        checking = index.checking if index is not None else Const(0, 1)
        commanded, all_commanded = _issue_commands(m, d, busy, self.cmd, self.ext_cmd, "store",
                                                   index)

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
            # a scatter's index list, read through r_acc, comes first
            with m.If(~checking):
                m.d.comb += [port.valid.eq(reading & (held < self.QUEUE_DEPTH) &
                                           (d.buffer == b)),
                             port.row.eq(d.row + read_at.row), port.col.eq(read_at.col),
                             port.vertical.eq(0)]
            with m.If(port.ready & ~checking):
                m.d.comb += issued.eq(1)
            with m.If(port.rvalid & ~checking):
                m.d.comb += [q.w.valid.eq(1), q.w.payload.eq(port.rdata.as_value())]
        with m.If(self.cmd.valid & self.cmd.ready & (self.cmd.payload[:4] != Op.FINISH.value)):
            m.d.sync += reading.eq(1)
        with m.If(issued):
            read_at.advance(m)
            with m.If(read_at.last):
                m.d.sync += reading.eq(0)
        with m.If(self.fault != Error.NONE):
            m.d.sync += reading.eq(0)
        m.d.sync += held.eq(held + issued - (q.r.valid & q.r.ready))

        # vectors packed into beats
        beat = Signal(wide)
        merged = Signal(wide)
        out, out_valid, out_final = Signal(wide), Signal(), Signal()
        # a row's beats follow its command (a scatter's commands can lag)
        out_row = Signal(12)
        m.d.comb += [self.ext_data.valid.eq(out_valid & ((out_row < commanded) | all_commanded)),
                     self.ext_data.payload.eq(out)]
        room = ~out_valid | (self.ext_data.valid & self.ext_data.ready)
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
                             out_final.eq(pack_at.last), out_row.eq(pack_at.row)]
            with m.Else():
                m.d.sync += beat.eq(merged)
        return m
