"""First-in first-out queue on a synchronous-read memory, with stream ports."""

import dataclasses

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import Params, check_choice, check_int, param


__all__ = ["QueueParams", "StreamQueue"]


@dataclasses.dataclass(frozen=True)
class QueueParams(Params):
    """Parameters of :class:`StreamQueue`.

    Members
    -------
    width : int
        Payload bits.
    depth : int
        Entries in the memory; the queue holds ``depth + 1`` with its output
        register.
    ram_style : str
        ``"block"`` asks yosys for block RAM (DP16KD on ECP5), ``"distributed"``
        for LUT RAM, ``"auto"`` leaves the choice to yosys. Wide, shallow
        queues want block RAM: a LUT-RAM address then fans out to one cell
        per four bits and its routing dominates the clock period.
    """
    width: int = param(32, "payload width in bits")
    depth: int = param(16, "memory entries")
    ram_style: str = param("auto", "memory style: auto, block or distributed",
                           choices=("auto", "block", "distributed"))

    def __post_init__(self):
        check_int("width", self.width, min=1, max=4096)
        check_int("depth", self.depth, min=2, max=1 << 16)
        check_choice("ram_style", self.ram_style, ("auto", "block", "distributed"))

    @property
    def capacity(self):
        return self.depth + 1


class StreamQueue(wiring.Component):
    """FIFO whose output word is the memory's registered read data.

    A word written in cycle ``t`` can leave at ``t + 2`` (latency 2). One
    word in and one out per cycle; ``w.ready`` is low only when all
    :attr:`~QueueParams.capacity` entries are taken. Nothing from the output
    side reaches ``w.ready`` combinationally.

    Members
    -------
    w : In(stream.Signature(width))
        Words in.
    r : Out(stream.Signature(width))
        Words out, in order.
    level : Out(range(capacity + 1))
        Words held, including the output register.
    """

    def __init__(self, params=None, **kwargs):
        if params is None:
            params = QueueParams(**kwargs)
        if not isinstance(params, QueueParams):
            raise TypeError(f"parameter 'params' must be a QueueParams, not {params!r}")
        self.params = params
        super().__init__({
            "w": In(stream.Signature(params.width)),
            "r": Out(stream.Signature(params.width)),
            "level": Out(range(params.capacity + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        attrs = {} if p.ram_style == "auto" else {"ram_style": p.ram_style}
        m.submodules.mem = mem = memory.Memory(shape=p.width, depth=p.depth, init=[],
                                               attrs=attrs)
        wp = mem.write_port()
        rp = mem.read_port(domain="sync")

        w_ptr = Signal(range(p.depth))
        r_ptr = Signal(range(p.depth))
        in_mem = Signal(range(p.depth + 1))          # words in memory, not yet read out
        full = Signal()
        m.d.comb += full.eq(in_mem == p.depth)

        do_write = self.w.valid & ~full
        advance = ~self.r.valid | self.r.ready       # output register free next cycle
        do_read = advance & (in_mem != 0)

        m.d.comb += [
            self.w.ready.eq(~full),
            wp.addr.eq(w_ptr), wp.data.eq(self.w.payload), wp.en.eq(do_write),
            rp.addr.eq(r_ptr), rp.en.eq(do_read),
            self.r.payload.eq(rp.data),
        ]
        with m.If(do_write):
            m.d.sync += w_ptr.eq(_next(w_ptr, p.depth))
        with m.If(do_read):
            m.d.sync += r_ptr.eq(_next(r_ptr, p.depth))
        m.d.sync += in_mem.eq(in_mem + do_write - do_read)
        with m.If(advance):
            m.d.sync += self.r.valid.eq(do_read)
        pop = self.r.valid & self.r.ready
        m.d.sync += self.level.eq(self.level + do_write - pop)
        return m


def _next(ptr, depth):
    """``ptr + 1`` modulo ``depth``."""
    return Mux(ptr == depth - 1, 0, ptr + 1)
