"""The core: buffers, the engine, the non-linear unit, the load and store
units, run by a descriptor program."""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..fifo import StreamFIFO
from ..params import resolve_params
from .buffer import BankedBuffer
from .decode import Decoder
from .gemm import GemmUnit
from .isa import DESCRIPTOR_BITS, KV_OPS, Buffer, Error, Op, Queue
from .kv import KVUnit
from .params import CoreParams
from .tokens import TokenQueues
from .transfer import ELEMENT_BITS, ExternalCommand, LoadUnit, StoreUnit
from .vector import VectorUnit


__all__ = ["Core"]


class Core(wiring.Component):
    """A DiT block's datapath, run by a descriptor program (``docs/core.md``).

    The decoder checks each descriptor and hands it to the queue of its
    operation; each queue waits for the dependency tokens its head pops
    (:class:`~.tokens.TokenQueues`), starts its unit, and gives the tokens
    its head pushes when the unit is done. The units: the load unit and the
    store unit (external memory, a row of a region per command), the GEMM
    unit (the systolic engine) and the vector unit (the non-linear unit and
    the residual add). The buffers (``ACT``, ``WGT``, ``ACC``,
    ``MASK``) are :class:`~.buffer.BankedBuffer` s of
    :attr:`CoreParams.banks` memories; the GEMM unit comes first in each of
    its buffers' priorities.

    Throughput: the engine takes a beat per cycle while the GEMM queue has
    work and its tokens; loads, stores and the vector unit overlap it as
    far as the program's tokens allow. A descriptor takes about ten cycles
    from the stream to its queue's head (the decoder's five stages, the
    queue, the tokens), hidden behind the queue's previous descriptor.

    Members
    -------
    descriptors : In(stream.Signature(DESCRIPTOR_BITS))
        The program.
    load_cmd : Out(stream.Signature(ExternalCommand))
        Reads of external memory, one per row of a ``LOAD``.
    load_data : In(stream.Signature(8 * bus_bytes))
        The bytes of each read, in order, in beats of ``bus_bytes`` (a
        read's last beat padded).
    store_cmd : Out(stream.Signature(ExternalCommand))
        Writes of external memory, one per row of a ``STORE``.
    store_data : Out(stream.Signature(8 * bus_bytes))
        The bytes of each write in beats (its last beat padded with zeros).
    error : Out(Decoder.error_layout)
        Sticky: the code and the index of the descriptor that set it.
    finished : Out(1)
        The program's ``FINISH`` has run and every queue and unit is idle.
    busy : Out(1)
        A descriptor is in the decoder, a queue or a unit.
    events : Out(events_layout)
        For measurement: per queue (bit :class:`~.isa.Queue`), ``start``
        when its head starts its unit and ``done`` when the unit ends it
        (each queue's descriptors start and end in order).
    """

    events_layout = data.StructLayout({"start": 4, "done": 4})

    #: Generic synthesis (gates, transistors, depth) of the core takes ABC the
    #: better part of an hour on its hundred and more multipliers.
    generic_synthesis = False

    #: yosys's ABC9 asserts on ExionCore's netlist unless its nets are split
    #: into bits first (``exdisc.synth.flow``).
    yosys_split_nets = True

    #: The parts an area breakdown names (:func:`exdisc.synth.attribution.area_by_part`),
    #: by the prefixes of their submodules' names, first match first.
    area_parts = (
        ("engine", ("gemm.engine.",)),
        ("non-linear unit", ("vector.nonlinear.",)),
        ("buffers", ("buf_",)),
        ("sparse GEMMs' lists and pass store", ("gemm.step_list", "gemm.pass_store",
                                                "gemm.wb_tiles")),
        ("GEMM control", ("gemm.",)),
        ("residual add and vector control", ("vector.",)),
        ("K/V store and its router", ("kv.",)),
        ("load and store", ("load.", "store.", "load_or_kv.")),
        ("decoder, queues, tokens", ("decoder.", "queue_", "tokens.")),
    )

    def __init__(self, params=None, **kwargs):
        self.params = p = resolve_params(CoreParams, params, kwargs)
        super().__init__({
            "descriptors": In(stream.Signature(DESCRIPTOR_BITS)),
            "load_cmd": Out(stream.Signature(ExternalCommand)),
            "load_data": In(stream.Signature(8 * p.bus_bytes)),
            "store_cmd": Out(stream.Signature(ExternalCommand)),
            "store_data": Out(stream.Signature(8 * p.bus_bytes)),
            "error": Out(Decoder.error_layout),
            "finished": Out(1),
            "busy": Out(1),
            "events": Out(self.events_layout),
        })

    def buffers(self):
        """The four buffers, not yet elaborated, with their clients in
        priority order."""
        p = self.params
        # DiscCore's K/V unit, last in every priority
        kv = ("kv",) if p.disc else ()
        clients = {
            Buffer.ACT: (("gemm", "store") + kv, ("vector", "load") + kv),
            Buffer.WGT: (("gemm", "store") + kv, ("vector", "load") + kv),
            # DiscCore's load and K/V units read their index lists
            Buffer.ACC: (("gemm", "vector", "store") + (("load", "kv") if p.disc else ()),
                         ("gemm", "vector", "load")),
            Buffer.MASK: (("gemm", "store") if p.exion else ("store",), ("vector", "load")),
        }
        # ExionCore's GEMM unit keeps lists of what it read in MASK
        return {b: BankedBuffer(rows=p.rows(b.value), width=p.width, elem_bits=ELEMENT_BITS[b],
                                banks=p.banks, reads=r, writes=w,
                                watched=p.exion and b == Buffer.MASK)
                for b, (r, w) in clients.items()}

    def elaborate(self, platform):
        m = Module()
        p = self.params
        bufs = self.buffers()
        for b, buf in bufs.items():
            m.submodules[f"buf_{b.name.lower()}"] = buf
        shapes = {b: buf.port_shape() for b, buf in bufs.items()}
        m.submodules.decoder = dec = Decoder(p)
        m.submodules.tokens = tok = TokenQueues(p)
        m.submodules.load = load = LoadUnit(p, shapes)
        m.submodules.store = store = StoreUnit(p, shapes)
        m.submodules.gemm = gemm = GemmUnit(p, shapes)
        m.submodules.vector = vector = VectorUnit(p, shapes)
        by_name = {"gemm": gemm, "store": store, "vector": vector, "load": load}
        first = load
        if p.disc:
            # the K/V store's transfers share the load queue with the loads
            m.submodules.kv = by_name["kv"] = kv = KVUnit(p, shapes)
            m.submodules.load_or_kv = first = _Dispatch(KV_OPS)
            wiring.connect(m, first.a, load.cmd)
            wiring.connect(m, first.b, kv.cmd)
            m.d.comb += [first.a_done.eq(load.done), first.b_done.eq(kv.done),
                         first.a_fault.eq(load.fault), first.b_fault.eq(kv.fault)]

        wiring.connect(m, wiring.flipped(self.descriptors), dec.i)
        wiring.connect(m, load.ext_cmd, wiring.flipped(self.load_cmd))
        wiring.connect(m, wiring.flipped(self.load_data), load.ext_data)
        wiring.connect(m, store.ext_cmd, wiring.flipped(self.store_cmd))
        wiring.connect(m, store.ext_data, wiring.flipped(self.store_data))
        for b, buf in bufs.items():
            name = b.name.lower()
            for c in buf.reads:
                wiring.connect(m, getattr(by_name[c], f"r_{name}"), getattr(buf, f"r_{c}"))
            for c in buf.writes:
                wiring.connect(m, getattr(by_name[c], f"w_{name}"), getattr(buf, f"w_{c}"))

        if p.exion:
            m.d.comb += gemm.mask_written.eq(bufs[Buffer.MASK].written)

        heads, running = {}, {}
        fault = Signal(Decoder.error_layout)
        halt = fault.code != Error.NONE
        units = {Queue.LOAD: (dec.load, first), Queue.GEMM: (dec.gemm, gemm),
                 Queue.VECTOR: (dec.vector, vector), Queue.STORE: (dec.store, store)}
        for q, (src, unit) in units.items():
            valid, index, running[q] = _sequence(m, q, src, tok.q[q], unit, p.queue_depth, halt)
            heads[q] = (valid, index)
            m.d.comb += [self.events.start[q.value].eq(tok.q[q].start),
                         self.events.done[q.value].eq(tok.q[q].done)]
        # a bad index list, found as its gather or scatter runs: the first
        # stops every queue
        for q in (Queue.LOAD, Queue.STORE):
            unit = units[q][1]
            with m.If(~halt & (unit.fault != Error.NONE)):
                m.d.sync += [fault.code.eq(unit.fault), fault.index.eq(running[q])]

        # finished: FINISH has run, and nothing is left in a queue or a unit
        idle = ~dec.busy
        for q, (_, unit) in units.items():
            idle = idle & ~heads[q][0] & unit.cmd.ready
        deadlock = self._deadlock(m, dec, units, heads, tok)
        # the earliest descriptor's error: a fault may come before a
        # malformed descriptor the decoder has already met
        shown = Mux(dec.error.code != Error.NONE, dec.error, deadlock)
        first = halt & ((dec.error.code == Error.NONE) | (fault.index < dec.error.index))
        m.d.comb += [self.error.eq(Mux(first, fault, shown)),
                     self.finished.eq(store.finished & idle), self.busy.eq(~idle)]
        return m

    #: Cycles every queue must wait, with every unit idle, before the core
    #: calls it a deadlock: a unit's ``done`` gives its tokens a cycle later,
    #: and they are seen the cycle after.
    DEADLOCK_CYCLES = 3

    def _deadlock(self, m, dec, units, heads, tok):
        """``DEADLOCK`` and the earliest waiting head's index, once every
        queue's head waits (for a token or its room), every unit is idle, and
        the decoder can hand nothing on: its queue is full, or it has handed
        on ``FINISH``."""
        out = Signal(Decoder.error_layout)
        finish_seen = Signal()
        with m.If(dec.store.valid & dec.store.ready &
                  (dec.store.payload.word[:4] == Op.FINISH.value)):
            m.d.sync += finish_seen.eq(1)
        waiting = Const(0, 1)
        moving = Const(0, 1)
        for q, (_, unit) in units.items():
            valid, _ = heads[q]
            waiting = waiting | valid
            moving = moving | ~unit.cmd.ready | (valid & tok.q[q].ready)
        stuck = waiting & ~moving & (dec.blocked | finish_seen)
        count = Signal(range(self.DEADLOCK_CYCLES + 1))
        m.d.sync += count.eq(Mux(stuck, Mux(count == self.DEADLOCK_CYCLES, count, count + 1), 0))
        earliest = Const((1 << len(out.index)) - 1, len(out.index))
        for q in units:
            valid, index = heads[q]
            earliest = Mux(valid & (index < earliest), index, earliest)
        with m.If((count == self.DEADLOCK_CYCLES) & (out.code == Error.NONE)):
            m.d.sync += [out.code.eq(Error.DEADLOCK), out.index.eq(earliest)]
        return out


class _Dispatch(wiring.Component):
    """One queue's descriptors to two units: those whose operation is one of
    ``ops`` to ``b``, the others to ``a``, each only when both are idle, so
    that the queue's descriptors still run one after another.

    Members
    -------
    cmd : In(stream.Signature(DESCRIPTOR_BITS))
    done, fault : Out
        Either unit's.
    a, b : Out(stream.Signature(DESCRIPTOR_BITS))
    a_done, b_done : In(1)
    a_fault, b_fault : In(Error)
    """

    def __init__(self, ops):
        self.ops = tuple(ops)
        cmd = stream.Signature(DESCRIPTOR_BITS)
        super().__init__({"cmd": In(cmd), "done": Out(1), "fault": Out(Error),
                          "a": Out(cmd), "b": Out(cmd), "a_done": In(1), "b_done": In(1),
                          "a_fault": In(Error), "b_fault": In(Error)})

    def elaborate(self, platform):
        m = Module()
        to_b = Const(0, 1)
        for o in self.ops:
            to_b = to_b | (self.cmd.payload[:4] == o.value)
        idle = self.a.ready & self.b.ready
        m.d.comb += [self.cmd.ready.eq(idle),
                     self.a.valid.eq(self.cmd.valid & idle & ~to_b),
                     self.b.valid.eq(self.cmd.valid & idle & to_b),
                     self.a.payload.eq(self.cmd.payload), self.b.payload.eq(self.cmd.payload),
                     self.done.eq(self.a_done | self.b_done),
                     self.fault.eq(Mux(self.b_fault != Error.NONE, self.b_fault, self.a_fault))]
        return m


def _sequence(m, q, src, port, unit, depth, halt):
    """A queue: its descriptors wait in a FIFO; the head starts its unit when
    its tokens are there (and not after ``halt``), and gives its tokens when
    the unit is done. Returns the head (``valid`` and its ``index``) and
    the index of the descriptor the unit runs."""
    name = q.name.lower()
    entry = Decoder.entry_layout
    fifo = StreamFIFO(width=entry.size, depth=depth, storage="memory")
    m.submodules[f"queue_{name}"] = fifo
    wiring.connect(m, src, fifo.w)
    head = data.View(entry, fifo.r.payload)
    push = Signal(4, name=f"{name}_push")
    running = Signal.like(head.index, name=f"{name}_running")
    start = unit.cmd.valid & unit.cmd.ready
    m.d.comb += [
        port.pop.eq(head.word[4:8]), port.push.eq(head.word[8:12]),
        unit.cmd.valid.eq(fifo.r.valid & port.ready & ~halt), unit.cmd.payload.eq(head.word),
        fifo.r.ready.eq(unit.cmd.ready & port.ready & ~halt),
        port.start.eq(start), port.done.eq(unit.done), port.done_push.eq(push),
    ]
    with m.If(start):
        m.d.sync += [push.eq(head.word[8:12]), running.eq(head.index)]
    return fifo.r.valid, head.index, running
