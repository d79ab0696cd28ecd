"""DiSC's hash bank router: P request lanes onto B hashed SRAM banks."""

import dataclasses
from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .fifo import FIFOParams, StreamFIFO
from .router_banks import BankParams, BankedBuffer, is_power_of_two
from .params import Params, check_choice, check_int, param, resolve_params


__all__ = ["HASHES", "RouterParams", "HashBankRouter", "bank_hash", "round_robin_picks"]


HASHES = ("modulo", "xor")


@dataclasses.dataclass(frozen=True)
class RouterParams(Params):
    """Parameters of :class:`HashBankRouter`.

    Members
    -------
    lanes : int
        Request lanes ``P`` (1 to 32).
    banks : int
        SRAM banks ``B`` (a power of two, 1 to 64); ``B < P`` works, at lower throughput.
    addr_width : int
        Word address bits ``A``: ``log2(B)`` bank bits plus 1 to 16 row bits.
    data_width : int
        Bits per word (1 to 256).
    tag_width : int
        Bits of the tag each response returns (1 to 16).
    hash : str
        ``"modulo"`` (low address bits) or ``"xor"`` (XOR of all ``log2(B)``-bit
        chunks of the address, a bijection; :mod:`exdisc.golden.router`).
    fifo_depth : int
        Entries of each of a bank's request queues (a power of two, 1 to 32;
        LUT RAM).
    enqueue_ports : int
        Request queues per bank (1 to 32): lane ``n`` enqueues into queue
        ``n mod E``, so a bank accepts up to ``min(E, P)`` requests per cycle,
        one per class of lanes (queues no lane maps to are not built). With 1, lanes whose heads meet at a bank
        wait; 4 absorbs most such meetings (``exdisc bench router``: the
        CTR and ST gathers sustain 0.97 requests per lane per cycle at
        P = 8, B = 16).
    outstanding : int
        Requests in flight per lane (a power of two, 1 to 64): the lane's
        reorder slots. Below :attr:`latency` + 1 a lane cannot issue every cycle.
    return_depth : int
        Results each bank holds while their lanes take results of other
        banks (a power of two, 1 to 16): with 1 a bank stalls whenever two
        banks finish for one lane in the same cycle.
    return_ports : int
        Results a lane takes from the banks per cycle (1, 2 or 4): bank ``b``
        returns through port ``b mod K``, each port a round-robin arbiter
        over its banks writing its own reorder memory (ports no bank maps
        to are not built).
    """
    lanes: int = param(4, "request lanes P")
    banks: int = param(8, "SRAM banks B (a power of two)")
    addr_width: int = param(12, "word address bits (bank bits + row bits)")
    data_width: int = param(32, "bits per word")
    tag_width: int = param(4, "tag bits returned with each response")
    hash: str = param("xor", "bank hash: modulo or xor", choices=HASHES)
    fifo_depth: int = param(8, "entries per bank request queue (a power of two)")
    enqueue_ports: int = param(4, "request queues per bank (lane n uses n mod E)")
    outstanding: int = param(16, "requests in flight per lane (a power of two)")
    return_depth: int = param(2, "results a bank holds for busy lanes (a power of two)")
    return_ports: int = param(2, "results a lane takes per cycle", choices=(1, 2, 4))

    def __post_init__(self):
        check_int("lanes", self.lanes, min=1, max=32)
        check_int("banks", self.banks, min=1, max=64)
        if not is_power_of_two(self.banks):
            raise ValueError(f"parameter 'banks' must be a power of two, not {self.banks!r}")
        check_int("addr_width", self.addr_width, min=self.bank_bits + 1, max=self.bank_bits + 16)
        check_int("data_width", self.data_width, min=1, max=256)
        check_int("tag_width", self.tag_width, min=1, max=16)
        check_choice("hash", self.hash, HASHES)
        check_int("fifo_depth", self.fifo_depth, min=1, max=32)
        if not is_power_of_two(self.fifo_depth):
            raise ValueError(f"parameter 'fifo_depth' must be a power of two, "
                             f"not {self.fifo_depth!r}")
        check_int("enqueue_ports", self.enqueue_ports, min=1, max=32)
        check_int("outstanding", self.outstanding, min=1, max=64)
        check_int("return_depth", self.return_depth, min=1, max=16)
        check_int("return_ports", self.return_ports, min=1, max=4)
        check_choice("return_ports", self.return_ports, (1, 2, 4))
        if not is_power_of_two(self.return_depth):
            raise ValueError(f"parameter 'return_depth' must be a power of two, "
                             f"not {self.return_depth!r}")
        if not is_power_of_two(self.outstanding):
            raise ValueError(f"parameter 'outstanding' must be a power of two, "
                             f"not {self.outstanding!r}")

    @property
    def bank_bits(self):
        return self.banks.bit_length() - 1

    @property
    def row_bits(self):
        return self.addr_width - self.bank_bits

    @property
    def lane_bits(self):
        return ceil_log2(self.lanes)

    @property
    def slot_bits(self):
        return ceil_log2(self.outstanding)

    @property
    def bank_params(self):
        return BankParams(banks=self.banks, row_bits=self.row_bits, data_width=self.data_width)

    @property
    def req_layout(self):
        return data.StructLayout({"write": 1, "addr": self.addr_width,
                                  "data": self.data_width, "tag": self.tag_width})

    @property
    def resp_layout(self):
        return data.StructLayout({"write": 1, "data": self.data_width, "tag": self.tag_width})

    @property
    def latency(self):
        """Cycles from a request's handshake to its response's ``valid``
        without contention: lane register, bank queue, SRAM, return queue,
        return register, reorder slot, response register."""
        return 7


def bank_hash(addr, p):
    """The bank of ``addr`` (an Amaranth value) under ``p.hash``."""
    bits = p.bank_bits
    if bits == 0:
        return Const(0, 1)
    if p.hash == "modulo":
        return addr[:bits]
    out = addr[:bits]
    for lo in range(bits, len(addr), bits):
        out = out ^ addr[lo:lo + bits]
    return out


def _prefix_or(bits):
    """``[OR of bits[:i] for i in range(len(bits))]`` (exclusive prefix OR)."""
    out, acc = [], Const(0, 1)
    for b in bits:
        out.append(acc)
        acc = acc | b
    return out


def _lowest(m, vec, name):
    """One-hot of the lowest set bit of ``vec``."""
    one = Signal(len(vec), name=name)
    below = _prefix_or(list(vec))
    m.d.comb += one.eq(Cat(*[vec[i] & ~below[i] for i in range(len(vec))]))
    return one


def round_robin_picks(m, requests, prio, allow, name):
    """One-hot grants among ``requests`` in round-robin order, one per entry of ``allow``.

    ``prio`` is a thermometer register: the requests at or above its lowest
    set bit go first, then the others from index 0. Grant ``e`` is the first
    request left after grants ``0 .. e-1``, or zero when ``allow[e]`` (a
    1-bit value) is low or no request is left, so the grants are distinct and
    every requester is served within ``ceil(len / len(allow))`` rounds.
    Returns the grants and ``prio``'s next value (just after the last grant;
    ``prio`` itself without one), which the caller registers.
    """
    grants = []
    remaining = requests
    for e, enable in enumerate(allow):
        masked = Signal(len(requests), name=f"{name}_masked{e}")
        m.d.comb += masked.eq(remaining & prio)
        pick = _lowest(m, Mux(masked.any(), masked, remaining), f"{name}_pick{e}")
        grant = Signal(len(requests), name=f"{name}_grant{e}")
        m.d.comb += grant.eq(Mux(enable, pick, 0))
        grants.append(grant)
        rest = Signal(len(requests), name=f"{name}_rest{e}")
        m.d.comb += rest.eq(remaining & ~pick)
        remaining = rest
    nxt = Signal(len(requests), name=f"{name}_prio_next")
    m.d.comb += nxt.eq(prio)
    for grant in grants:
        with m.If(grant.any()):
            # Never past a request that was not granted: that would starve it.
            m.d.comb += nxt.eq(Cat(*_prefix_or(list(grant))))
    return grants, nxt


def _encoded(m, onehot, name):
    """The index of the set bit of the one-hot ``onehot`` (0 when none is set).

    It selects :func:`_mux_tree`, whose ``ceil(log2 n)`` levels of 2:1 muxes
    the LUTs and PFUMX/L6MUX cells take directly, where an AND-OR of ``n``
    terms costs about half again as many LUTs. The index is a ``keep``
    signal, which discourages the LUT mapper from folding the arbiter that
    makes ``onehot`` into the mux of every bit (a select that arrives late
    is still copied, so the arbiters' long paths end elsewhere).
    """
    bits = max(1, (len(onehot) - 1).bit_length())
    index = Signal(bits, name=f"{name}_index", attrs={"keep": 1})
    m.d.comb += index.eq(Cat(*[Cat(*[onehot[i] for i in range(len(onehot)) if (i >> j) & 1]).any()
                               for j in range(bits)]))
    return index


def _mux_tree(index, values):
    """``values[index]`` as a tree of 2:1 muxes (the last value past the end)."""
    level = list(values)
    for j in range(len(index)):
        if len(level) == 1:
            break
        level = [Mux(index[j], level[i + 1], level[i]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0]


class HashBankRouter(wiring.Component):
    """``P`` request lanes served by ``B`` single-port SRAM banks through a hash.

    Each lane is a stream of requests (read or write, word address, write
    data, tag) and a stream of responses, one per request in the lane's
    request order: the read word, or for a write the acknowledgement that it
    took effect (``data`` 0). The word at ``addr`` lives in bank
    ``hash(addr)`` at row ``addr >> log2(B)`` (:func:`bank_hash`).

    A request passes a two-entry lane register, then joins one of its bank's
    ``E = enqueue_ports`` queues (lane ``n`` uses queue ``n mod E``; LUT RAM,
    ``fifo_depth`` entries) when that queue's round-robin arbiter grants it,
    so a bank takes up to ``E`` requests per cycle. Each bank serves one
    request per cycle, round robin over its queues; the result waits in the
    bank's return queue (``return_depth``) until one of the lane's
    ``K = return_ports`` round-robin arbiters (bank ``b`` returns through
    arbiter ``b mod K``) takes it into the lane's reorder slots, from where
    responses leave in request order. A lane issues
    only with a free reorder slot (``outstanding`` per lane), so a bank never
    waits for a lane's ``resp.ready``: backpressure on one lane stalls that
    lane alone.

    Ordering: requests of one lane to one address take effect in the lane's
    order (one bank, one queue of that bank); requests of different lanes to the same
    address take effect in arbitration order, which the ports do not show.
    A write's response means the write has taken effect.

    Latency :attr:`RouterParams.latency` (7) cycles without contention;
    throughput up to one request per lane per cycle, and one per bank per
    cycle.

    Members
    -------
    req : In(stream.Signature(req_layout)).array(lanes)
        Requests.
    resp : Out(stream.Signature(resp_layout)).array(lanes)
        Responses, in each lane's request order.
    """

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(RouterParams, params, kwargs)
        super().__init__({
            "req": In(stream.Signature(params.req_layout)).array(params.lanes),
            "resp": Out(stream.Signature(params.resp_layout)).array(params.lanes),
        })

    def bank_of(self, addr):
        """The bank of ``addr``: :func:`bank_hash` (a method so that tests can break it)."""
        return bank_hash(addr, self.params)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        # Kept so that tests can read the banks after a simulation.
        m.submodules.buffer = buffer = self.buffer = BankedBuffer(p.bank_params)
        lanes = [self._lane_input(m, n, port) for n, port in enumerate(self.req)]
        banks = [self._bank(m, b, port, lanes) for b, port in enumerate(buffer.bank)]
        takers = [[] for _ in banks]
        for n, port in enumerate(self.resp):
            self._lane_output(m, n, port, lanes[n], banks, takers)
        for bank, picks in zip(banks, takers):
            m.d.comb += bank.taken.eq(Cat(*picks).any())
        return m

    @property
    def _layouts(self):
        """The records inside the router: a lane's request (``entry``), a queued
        request (``queued``), a served one (``done``) and a result (``returning``)."""
        p = self.params
        lane, slot = max(p.lane_bits, 1), max(p.slot_bits, 1)
        return SimpleNamespace(
            entry=data.StructLayout({"write": 1, "bank": max(p.bank_bits, 1), "row": p.row_bits,
                                     "data": p.data_width, "tag": p.tag_width}),
            queued=data.StructLayout({"lane": lane, "slot": slot, "write": 1, "row": p.row_bits,
                                      "data": p.data_width}),
            done=data.StructLayout({"lane": lane, "slot": slot, "write": 1}),
            returning=data.StructLayout({"lane": lane, "slot": slot, "write": 1,
                                         "data": p.data_width}))

    def _fifo(self, m, name, shape, depth, storage, flow=False):
        fifo = StreamFIFO(FIFOParams(width=Shape.cast(shape).width, depth=depth, storage=storage,
                                     flow=flow), shape=shape)
        m.submodules[name] = fifo
        return fifo

    def _lane_input(self, m, n, port):
        """Lane ``n``'s request side: a two-entry queue in front (its head, with
        the bank already hashed, is what the banks' arbiters see) and the issue
        side of its reorder slots. Returns the lane's state."""
        p = self.params
        queue = self._fifo(m, f"lane{n}_in", self._layouts.entry, 2, "shift")
        m.d.comb += [
            queue.w.valid.eq(port.valid), port.ready.eq(queue.w.ready),
            queue.w.payload.write.eq(port.payload.write),
            queue.w.payload.bank.eq(self.bank_of(port.payload.addr)),
            queue.w.payload.row.eq(port.payload.addr[p.bank_bits:]),
            queue.w.payload.data.eq(port.payload.data),
            queue.w.payload.tag.eq(port.payload.tag),
        ]
        lane = SimpleNamespace(
            head=queue.r.payload, head_valid=queue.r.valid,
            inflight=Signal(range(p.outstanding + 1), name=f"lane{n}_inflight"),
            issue=Signal(max(p.slot_bits, 1), name=f"lane{n}_issue"),
            granted=Signal(name=f"lane{n}_grant"), grants=[])
        lane.can_issue = lane.inflight != p.outstanding
        # a bank took the head into one of its queues
        m.d.comb += queue.r.ready.eq(lane.granted)
        return lane

    def _bank(self, m, b, port, lanes):
        """Bank ``b``: per enqueue class a round-robin arbiter and a queue in LUT
        RAM, a round-robin pick among the queues, the SRAM access and the
        return queue. Returns the bank's result side (``valid``, ``out``,
        ``taken``)."""
        p = self.params
        E = min(p.enqueue_ports, p.lanes)
        queues = [self._enqueue_class(m, b, c, lanes) for c in range(E)]
        latch_valid = Signal(name=f"bank{b}_latch_valid")
        latch = Signal(self._layouts.done, name=f"bank{b}_latch")
        ret = self._fifo(m, f"bank{b}_ret", self._layouts.returning, p.return_depth, "ring",
                         flow=True)
        latch_free = ~latch_valid | ret.w.ready

        # One request per cycle from the class queues, round robin.
        ready = Signal(E, name=f"bank{b}_ready")
        m.d.comb += ready.eq(Cat(*(q.r.valid for q in queues)))
        serve_prio = Signal(E, name=f"bank{b}_serve_prio", init=(1 << E) - 1)
        # The pick ignores ``latch_free`` (which waits on the lanes' return
        # arbiters) and only its use is gated: the front mux's select then
        # comes from registers alone, and the mapper does not copy that long
        # path into every bit of the mux.
        (pick,), serve_next = round_robin_picks(m, ready, serve_prio, [Const(1, 1)],
                                                f"bank{b}_serve")
        serve = Signal(name=f"bank{b}_serve")
        m.d.comb += serve.eq(pick.any() & latch_free)
        with m.If(serve):
            m.d.sync += serve_prio.eq(serve_next)
        m.d.comb += [q.r.ready.eq(pick[c] & latch_free) for c, q in enumerate(queues)]
        front = Signal(self._layouts.queued, name=f"bank{b}_front")
        m.d.comb += front.eq(_mux_tree(_encoded(m, pick, f"bank{b}_serve"),
                                       [q.r.payload for q in queues]))
        m.d.comb += [
            port.en.eq(serve), port.write.eq(front.write),
            port.row.eq(front.row), port.wdata.eq(front.data),
        ]
        with m.If(latch_free):
            m.d.sync += [
                latch_valid.eq(serve),
                latch.lane.eq(front.lane), latch.slot.eq(front.slot),
                latch.write.eq(front.write),
            ]
        # The result waits in the return queue until a lane's arbiter takes it.
        taken = Signal(name=f"bank{b}_taken")
        m.d.comb += [
            ret.w.valid.eq(latch_valid),
            ret.w.payload.eq(Cat(latch, Mux(latch.write, 0, port.rdata))),
            ret.r.ready.eq(taken),
        ]
        return SimpleNamespace(valid=ret.r.valid, out=ret.r.payload, taken=taken)

    def _enqueue_class(self, m, b, c, lanes):
        """Bank ``b``'s queue of class ``c`` (the lanes ``n`` with ``n mod E =
        c``): a round-robin arbiter over the lanes whose head wants the bank,
        and the queue it writes. Returns the queue."""
        p = self.params
        members = list(range(c, p.lanes, min(p.enqueue_ports, p.lanes)))
        queue = self._fifo(m, f"bank{b}_q{c}", self._layouts.queued, p.fifo_depth, "memory")
        requests = Signal(len(members), name=f"bank{b}_c{c}_requests")
        m.d.comb += requests.eq(Cat(*[lanes[n].head_valid & lanes[n].can_issue
                                      & (lanes[n].head.bank == b) for n in members]))
        prio = Signal(len(members), name=f"bank{b}_c{c}_prio", init=(1 << len(members)) - 1)
        (grant,), prio_next = round_robin_picks(m, requests, prio, [queue.w.ready],
                                                f"bank{b}_c{c}")
        with m.If(grant.any()):
            m.d.sync += prio.eq(prio_next)
        for i, n in enumerate(members):
            lanes[n].grants.append(grant[i])
        index = _encoded(m, grant, f"bank{b}_c{c}")
        new = queue.w.payload
        m.d.comb += [
            queue.w.valid.eq(grant.any()),
            new.lane.eq(_mux_tree(index, [Const(n, len(new.lane)) for n in members])),
            new.slot.eq(_mux_tree(index, [lanes[n].issue for n in members])),
            new.write.eq(_mux_tree(index, [lanes[n].head.write for n in members])),
            new.row.eq(_mux_tree(index, [lanes[n].head.row for n in members])),
            new.data.eq(_mux_tree(index, [lanes[n].head.data for n in members])),
        ]
        return queue

    def _lane_output(self, m, n, port, lane, banks, takers):
        """Lane ``n``'s response side: per return class a round-robin arbiter
        over its banks writing the lane's reorder slots, and the response
        register that reads them in request order. Appends the lane's picks
        to ``takers`` (per bank)."""
        p = self.params
        O, K = p.outstanding, min(p.return_ports, p.banks)
        m.d.comb += lane.granted.eq(Cat(*lane.grants).any())
        meta = Memory(shape=p.tag_width + 1, depth=O, init=[])
        m.submodules[f"lane{n}_meta"] = meta
        head = Signal(max(p.slot_bits, 1), name=f"lane{n}_head")
        done = []                   # per class: the slots it has filled
        words = []
        for k in range(K):
            members = list(range(k, p.banks, K))      # bank b is in class b mod K
            wants = Signal(len(members), name=f"lane{n}_k{k}_wants")
            m.d.comb += wants.eq(Cat(*[banks[b].valid & (banks[b].out.lane == n)
                                       for b in members]))
            prio = Signal(len(members), name=f"lane{n}_k{k}_prio",
                          init=(1 << len(members)) - 1)
            (pick,), prio_next = round_robin_picks(m, wants, prio, [1], f"lane{n}_k{k}")
            with m.If(pick.any()):
                m.d.sync += prio.eq(prio_next)
            for i, b in enumerate(members):
                takers[b].append(pick[i])
            slots = Memory(shape=p.data_width, depth=O, init=[])
            m.submodules[f"lane{n}_slots{k}"] = slots
            fill = slots.write_port()
            # The taken result is registered before it is written: the return
            # mux then ends at flip-flops, and the mapper does not copy its slot
            # mux into the write address and every bit of ``filled``.
            slot = Signal(max(p.slot_bits, 1), name=f"lane{n}_k{k}_slot")
            index = _encoded(m, pick, f"lane{n}_k{k}")
            m.d.sync += [
                fill.en.eq(pick.any()),
                slot.eq(_mux_tree(index, [banks[b].out.slot for b in members])),
                fill.data.eq(_mux_tree(index, [banks[b].out.data for b in members])),
            ]
            m.d.comb += fill.addr.eq(slot)
            filled = Signal(O, name=f"lane{n}_k{k}_done")
            done.append((filled, fill.en, slot))
            word = slots.read_port(domain="comb")
            m.d.comb += word.addr.eq(head)
            words.append(word.data)

        note = meta.write_port()
        m.d.comb += [
            note.en.eq(lane.granted), note.addr.eq(lane.issue),
            note.data.eq(Cat(lane.head.tag, lane.head.write)),
        ]
        info = meta.read_port(domain="comb")
        m.d.comb += info.addr.eq(head)
        here = Signal(K, name=f"lane{n}_here")      # the class that filled the head slot
        m.d.comb += here.eq(Cat(*[(filled >> head)[0] for filled, _, _ in done]))
        move = here.any() & (~port.valid | port.ready)
        clear_bits = Mux(move, Const(1, O) << head, 0)
        for filled, en, slot in done:
            m.d.sync += filled.eq((filled | Mux(en, Const(1, O) << slot, 0)) & ~clear_bits)
        with m.If(move):
            m.d.sync += [
                port.valid.eq(1),
                port.payload.data.eq(_mux_tree(_encoded(m, here, f"lane{n}_word"), words)),
                port.payload.tag.eq(info.data[:p.tag_width]),
                port.payload.write.eq(info.data[p.tag_width]),
            ]
            if O > 1:
                m.d.sync += head.eq(head + 1)
        with m.Elif(port.ready):
            m.d.sync += port.valid.eq(0)
        if O > 1:
            with m.If(lane.granted):
                m.d.sync += lane.issue.eq(lane.issue + 1)
        m.d.sync += lane.inflight.eq(lane.inflight + lane.granted - move)
