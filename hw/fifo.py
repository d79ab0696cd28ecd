"""A small first-in first-out queue with stream ports, in registers or LUT RAM."""

import dataclasses

from amaranth.hdl import Array, Module, Mux, Shape, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .params import Params, check_bool, check_choice, check_int, param, resolve_params


__all__ = ["FIFOParams", "StreamFIFO", "STORAGES"]


STORAGES = ("shift", "ring", "memory")


@dataclasses.dataclass(frozen=True)
class FIFOParams(Params):
    """Parameters of :class:`StreamFIFO`.

    Members
    -------
    width : int
        Payload bits (1 to 4096).
    depth : int
        Entries (1 to 64).
    storage : str
        Where the entries live:

        * ``"shift"``: flip-flops, the oldest always in entry 0, so that
          ``r.payload`` comes straight from a register (a read shifts the
          others down): for a few entries whose head feeds wide logic;
        * ``"ring"``: flip-flops written at a tail pointer and read through a
          multiplexer at a head pointer, so that ``r.ready`` only moves a
          pointer: for a few entries read by a late ``r.ready``;
        * ``"memory"``: a :class:`amaranth.lib.memory.Memory` read
          asynchronously (LUT RAM on ECP5) between the same pointers: for
          deeper queues.
    flow : bool
        Take a write when full if the oldest entry leaves in the same cycle
        (``w.ready`` then depends on ``r.ready``); else ``w.ready`` is only
        "not full".
    """
    width: int = param(8, "payload bits")
    depth: int = param(2, "entries")
    storage: str = param("shift", "shift (head in a register), ring (read through a mux) or "
                         "memory (LUT RAM)", choices=STORAGES)
    flow: bool = param(False, "take a write when full if a read leaves in the same cycle")

    def __post_init__(self):
        check_int("width", self.width, min=1, max=4096)
        check_int("depth", self.depth, min=1, max=64)
        check_choice("storage", self.storage, STORAGES)
        check_bool("flow", self.flow)


class StreamFIFO(wiring.Component):
    """First-word-fall-through queue of ``depth`` entries.

    A word written in one cycle is offered on ``r`` from the next (latency
    1); one word in and one out per cycle. ``w.ready`` is "not full" (with
    ``flow``, also "full, but the oldest leaves now"); ``r.valid`` is "not
    empty". Nothing is lost or reordered under any backpressure.

    Parameters
    ----------
    params : FIFOParams
    shape : shape-castable, optional
        The payload's shape (a :class:`amaranth.lib.data.Layout`, say) instead
        of ``unsigned(width)``; its width must be ``params.width``.

    Members
    -------
    w : In(stream.Signature(shape))
        Words in.
    r : Out(stream.Signature(shape))
        Words out, oldest first.
    level : Out(range(depth + 1))
        Words held.
    """

    def __new__(cls, params=None, *, shape=None, src_loc_at=0, **kwargs):
        # checked before the object exists, so that a rejected queue is not an
        # unused elaboratable
        p = resolve_params(FIFOParams, params, kwargs)
        if shape is not None and Shape.cast(shape).width != p.width:
            raise ValueError(f"parameter 'shape' must be {p.width} bits wide like 'width', "
                             f"not {Shape.cast(shape).width} ({shape!r})")
        return super().__new__(cls, params, src_loc_at=src_loc_at + 1, **kwargs)

    def __init__(self, params=None, *, shape=None, **kwargs):
        self.params = params = resolve_params(FIFOParams, params, kwargs)
        self.shape = shape = params.width if shape is None else shape
        super().__init__({
            "w": In(stream.Signature(shape)),
            "r": Out(stream.Signature(shape)),
            "level": Out(range(params.depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        pop = self.r.valid & self.r.ready
        full = self.level == p.depth
        m.d.comb += [
            self.r.valid.eq(self.level != 0),
            self.w.ready.eq(~full | pop if p.flow else ~full),
        ]
        push = self.w.valid & self.w.ready
        m.d.sync += self.level.eq(self.level + push - pop)
        if p.storage == "shift":
            self._shift(m, push, pop)
        else:
            self._pointers(m, push, pop)
        return m

    def _shift(self, m, push, pop):
        """Entry 0 is the oldest: a read moves every entry down one, and a
        write goes to the first free entry after that."""
        p = self.params
        entries = [Signal(p.width, name=f"entry{n}") for n in range(p.depth)]
        word = Value.cast(self.w.payload)
        for n, entry in enumerate(entries):
            after = entries[n + 1] if n + 1 < p.depth else entry
            with m.If(pop):
                m.d.sync += entry.eq(Mux(push & (self.level == n + 1), word, after))
            with m.Elif(push & (self.level == n)):
                m.d.sync += entry.eq(word)
        m.d.comb += self.r.payload.eq(entries[0])

    def _pointers(self, m, push, pop):
        """A write goes to the tail pointer's entry, the head pointer's is read."""
        p = self.params
        head = Signal(range(p.depth))
        tail = Signal(range(p.depth))
        if p.storage == "memory":
            m.submodules.storage = storage = Memory(shape=p.width, depth=p.depth, init=[])
            write = storage.write_port()
            read = storage.read_port(domain="comb")
            m.d.comb += [write.en.eq(push), write.addr.eq(tail), write.data.eq(self.w.payload),
                         read.addr.eq(head), self.r.payload.eq(read.data)]
        else:
            entries = Array(Signal(p.width, name=f"entry{n}") for n in range(p.depth))
            with m.If(push):
                m.d.sync += entries[tail].eq(self.w.payload)
            m.d.comb += self.r.payload.eq(entries[head])
        with m.If(push):
            m.d.sync += tail.eq(_next(tail, p.depth))
        with m.If(pop):
            m.d.sync += head.eq(_next(head, p.depth))


def _next(pointer, depth):
    """``pointer + 1`` modulo ``depth`` (a power of two wraps by itself)."""
    if depth & (depth - 1) == 0:
        return pointer + 1
    return Mux(pointer == depth - 1, 0, pointer + 1)
