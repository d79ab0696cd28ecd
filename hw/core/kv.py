"""DiscCore's K/V store: int8 rows on chip, banked behind the hash bank
router, gathered into the buffers and scattered from them by a list of
token indices."""

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data
from amaranth.lib.wiring import Out
from amaranth.utils import ceil_log2

from ..fifo import StreamFIFO
from ..router import HashBankRouter
from .buffer import READ_LATENCY, ReadPort, WritePort
from .isa import Buffer, Op, layout
from .transfer import _Unit
from .walk import lane_enables


__all__ = ["KVUnit"]


class KVUnit(_Unit):
    """Runs ``KV_GATHER`` and ``KV_SCATTER``: rows of ``ACT`` or ``WGT`` from
    and to the K/V store, :attr:`~.params.DiscParams.kv_bytes` int8
    elements in the banks of a :class:`~exdisc.hw.router.HashBankRouter`
    (:attr:`~.params.DiscParams.kv_router`) with a lane per element of a
    buffer's vector.

    The index list is read and checked first (as a ``GATHER``'s, through
    ``r_acc``), so that a bad list moves nothing. Then the rows go ``P =
    banks`` at a time, lane ``j`` taking row ``gP + j`` of group ``g``: for
    each column ``c``, lane ``j`` asks for element ``base + t * stride + c``
    of its row's token ``t`` (the stride is a power of two: a shift). The
    lanes' answers for one column are a column of ``P`` rows, written to
    the buffer as one vertical vector; a scatter reads that vector and
    sends the lanes its elements as writes. A queue of
    :attr:`LANE_DEPTH` requests per lane, and the router's reorder slots,
    let lanes whose banks are free run ahead of lanes whose banks are
    contended; the write (or, for a scatter, the last acknowledgement) of a
    column waits for its slowest lane.

    Throughput: up to a request per lane per cycle, a vector a cycle, when
    the lanes' elements of a column fall in different banks (the hash's
    work, and the lanes' queues': lanes that meet fall a column apart).
    Cycles without bank conflicts: ``ceil(rows / banks)`` for the list,
    ``(g - 1) * max(cols, 3) + cols`` for the ``g`` groups' columns (a
    group's bases take 3 cycles to read), and 16 (gather) or 19 (scatter)
    through the router (:mod:`exdisc.golden.core_cycles`).

    Members
    -------
    cmd : In(stream.Signature(DESCRIPTOR_BITS))
    done : Out(1)
    fault : Out(Error)
        Pulses with ``BAD_INDEX`` or ``DUPLICATE`` when the list is bad.
    r_acc : Out(ReadPort)
        The index lists.
    r_act, r_wgt : Out(ReadPort)
        A scatter's rows, down columns.
    w_act, w_wgt : Out(WritePort)
        A gather's rows, down columns.
    """

    #: Requests each lane holds before the router takes them.
    LANE_DEPTH = 8

    def __init__(self, p, shapes):
        ports = {"r_acc": Out(ReadPort(*shapes[Buffer.ACC]))}
        for b in (Buffer.ACT, Buffer.WGT):
            ports[f"r_{b.name.lower()}"] = Out(ReadPort(*shapes[b]))
            ports[f"w_{b.name.lower()}"] = Out(WritePort(*shapes[b]))
        super().__init__(p, shapes, ports)

    @property
    def lanes(self):
        return self.p.banks

    def elaborate(self, platform):
        m = Module()
        p, n = self.p, self.lanes
        rp = p.kv_router
        word, _, busy = self._take(m)
        d = data.View(layout(Op.KV_GATHER), word)
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [word.eq(self.cmd.payload), busy.eq(1)]
        index = self._index_list(m, word, busy, "kv")
        m.submodules.router = router = HashBankRouter(rp)

        scatter = d.op == Op.KV_SCATTER.value
        walking = busy & ~index.checking
        shift = ceil_log2(n)
        groups = (d.rows + n - 1) >> shift
        starting = self.cmd.valid & self.cmd.ready

        bases = self._bases(m, d, index, walking, groups, starting)
        cur, cur_ok = bases.cur, bases.cur_ok
        lanes = self._lane_queues(m, rp, router, scatter)
        step, wg, wc = self._walk(m, d, bases, starting)
        active = lane_enables(d.rows - (wg << shift), n)
        addrs = [(cur[j] + wc)[:rp.addr_width] for j in range(n)]

        # a gather's requests: every active lane's queue takes one
        room = Cat(q.w.ready | ~active[j] for j, q in enumerate(lanes)).all()
        reads = {b: getattr(self, f"r_{b.name.lower()}") for b in (Buffer.ACT, Buffer.WGT)}
        m.d.comb += step.eq(walking & cur_ok & (wg < groups) & ~scatter & room)
        for j, q in enumerate(lanes):
            m.d.comb += q.w.payload.eq(Cat(addrs[j], Const(0, 8)))
            with m.If(~scatter):
                m.d.comb += q.w.valid.eq(step & active[j])
        self._scatter_reads(m, d, reads, lanes, walking & cur_ok & (wg < groups) & scatter,
                            step, addrs, active, wg, wc, rp)
        self._collect(m, d, router, busy, walking, scatter, groups, starting)
        return m

    def _bases(self, m, d, index, walking, groups, starting):
        """Each lane's row of the current group as its token's first element
        (``cur``, valid with ``cur_ok``), and the next group's (``nxt``,
        ``nxt_ok``) read from the list ahead of it, so that a group follows
        the last without a gap."""
        p, n = self.p, self.lanes
        a = p.kv_router.addr_width
        rd = index.mem.read_port(transparent_for=())
        # the stride is a power of two: its bit's position
        amount = Signal(4)
        m.d.comb += amount.eq(Cat(Cat(d.stride[i] for i in range(16) if i >> k & 1).any()
                                  for k in range(4)))
        cur = [Signal(a, name=f"kv_cur{j}") for j in range(n)]
        nxt = [Signal(a, name=f"kv_next{j}") for j in range(n)]
        cur_ok, nxt_ok, reading = Signal(), Signal(), Signal()
        loaded = Signal(12)
        load = walking & (loaded < groups) & ~nxt_ok & ~reading
        m.d.comb += rd.addr.eq(loaded)
        m.d.sync += reading.eq(load)
        with m.If(load):
            m.d.sync += loaded.eq(loaded + 1)
        with m.If(~cur_ok & nxt_ok):
            m.d.sync += [cur_ok.eq(1), nxt_ok.eq(0)] + [cur[j].eq(nxt[j]) for j in range(n)]
        with m.If(reading):
            m.d.sync += [nxt_ok.eq(1)] + [
                nxt[j].eq((d.base + (rd.data[j] << amount))[:a]) for j in range(n)]
        with m.If(starting):
            m.d.sync += [loaded.eq(0), cur_ok.eq(0), nxt_ok.eq(0), reading.eq(0)]
        return SimpleNamespace(cur=cur, cur_ok=cur_ok, nxt=nxt, nxt_ok=nxt_ok)

    def _walk(self, m, d, bases, starting):
        """The group ``wg`` and column ``wc`` the lanes are asked for next;
        ``step`` (driven by the caller) moves on, to the next group's bases
        after a group's last column."""
        step = Signal()
        wg, wc = Signal(12), Signal(9)
        with m.If(step):
            m.d.sync += wc.eq(wc + 1)
            with m.If(wc == d.cols - 1):
                m.d.sync += [wc.eq(0), wg.eq(wg + 1)]
                with m.If(bases.nxt_ok):
                    m.d.sync += [bases.nxt_ok.eq(0)] + [c.eq(x) for c, x in
                                                         zip(bases.cur, bases.nxt)]
                with m.Else():
                    m.d.sync += bases.cur_ok.eq(0)
        with m.If(starting):
            m.d.sync += [wg.eq(0), wc.eq(0)]
        return step, wg, wc

    def _lane_queues(self, m, rp, router, scatter):
        """A queue of requests (address, write data) per lane, in front of
        the router's lane."""
        a = rp.addr_width
        out = []
        for j in range(self.lanes):
            q = StreamFIFO(width=a + 8, depth=self.LANE_DEPTH, storage="memory")
            m.submodules[f"lane{j}"] = q
            req = router.req[j]
            m.d.comb += [req.valid.eq(q.r.valid), q.r.ready.eq(req.ready),
                         req.payload.write.eq(scatter), req.payload.addr.eq(q.r.payload[:a]),
                         req.payload.data.eq(q.r.payload[a:]), req.payload.tag.eq(0)]
            out.append(q)
        return out

    def _scatter_reads(self, m, d, reads, lanes, want, step, addrs, active, wg, wc, rp):
        """A scatter's columns read down the buffer, as far as every lane's
        queue has room for what is in flight; each element, with its address
        (carried through the read's latency), into its lane's queue."""
        n = self.lanes
        inflight = Signal(range(READ_LATENCY + 2))
        room = Cat(q.level + inflight < self.LANE_DEPTH for q in lanes).all()
        granted = Signal()
        for b, port in reads.items():
            m.d.comb += [port.valid.eq(want & room & (d.buffer == b)),
                         port.row.eq(d.row + (wg << ceil_log2(n))), port.col.eq(d.col + wc),
                         port.vertical.eq(1)]
            with m.If(port.ready):
                m.d.comb += [granted.eq(1), step.eq(1)]
        # the addresses and lanes of each read, READ_LATENCY cycles long
        pipe = [(Signal(n * rp.addr_width, name=f"kv_addr{k}"), Signal(n, name=f"kv_live{k}"))
                for k in range(READ_LATENCY)]
        m.d.sync += [pipe[0][0].eq(Cat(*addrs)), pipe[0][1].eq(Mux(granted, active, 0))]
        for k in range(1, READ_LATENCY):
            m.d.sync += [pipe[k][0].eq(pipe[k - 1][0]), pipe[k][1].eq(pipe[k - 1][1])]
        back_addr, live = pipe[-1]
        rvalid = Cat(port.rvalid for port in reads.values()).any()
        rdata = Mux(d.buffer == Buffer.ACT, reads[Buffer.ACT].rdata.as_value(),
                    reads[Buffer.WGT].rdata.as_value())
        m.d.sync += inflight.eq(inflight + granted - rvalid)
        a = rp.addr_width
        for j, q in enumerate(lanes):
            with m.If(rvalid):
                m.d.comb += [q.w.valid.eq(live[j]),
                             q.w.payload.eq(Cat(back_addr[j * a:(j + 1) * a],
                                                rdata[j * 8:(j + 1) * 8]))]

    def _collect(self, m, d, router, busy, walking, scatter, groups, starting):
        """The lanes' answers a column at a time, in the order asked: a
        gather's written down the buffer's column, a scatter's
        acknowledgements taken; ``done`` after the last column."""
        n = self.lanes
        cg, cc = Signal(12), Signal(9)
        active = lane_enables(d.rows - (cg << ceil_log2(n)), n)
        arrived = Cat(router.resp[j].valid | ~active[j] for j in range(n)).all()
        take = Signal()
        m.d.comb += take.eq(walking & (cg < groups) & arrived & scatter)
        for b in (Buffer.ACT, Buffer.WGT):
            port = getattr(self, f"w_{b.name.lower()}")
            m.d.comb += [port.valid.eq(walking & (cg < groups) & arrived & ~scatter &
                                       (d.buffer == b)),
                         port.row.eq(d.row + (cg << ceil_log2(n))), port.col.eq(d.col + cc),
                         port.vertical.eq(1), port.en.eq(active)]
            for j in range(n):
                m.d.comb += port.data[j].eq(router.resp[j].payload.data)
            with m.If(port.ready):
                m.d.comb += take.eq(1)
        for j in range(n):
            m.d.comb += router.resp[j].ready.eq(take & active[j])
        with m.If(take):
            m.d.sync += cc.eq(cc + 1)
            with m.If(cc == d.cols - 1):
                m.d.sync += [cc.eq(0), cg.eq(cg + 1)]
                with m.If(cg == groups - 1):
                    m.d.sync += [self.done.eq(1), busy.eq(0)]
        with m.If(starting):
            m.d.sync += [cg.eq(0), cc.eq(0)]
