"""First-in first-out queue on a block RAM, with stream ports."""

import dataclasses

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .params import Params, resolve_params, check_int, param
from .platform import is_ecp5


__all__ = ["QueueParams", "StreamQueue"]


# ECP5 DP16KD in 18-bit mode: 1024 words of 18 bits per block.
_BRAM_WIDTH = 18
_BRAM_DEPTH = 1024


@dataclasses.dataclass(frozen=True)
class QueueParams(Params):
    """Parameters of :class:`StreamQueue`.

    Members
    -------
    width : int
        Payload bits.
    depth : int
        Entries in the memory (2 to 1024); with the two read registers the
        queue holds ``depth + 2`` words.
    """
    width: int = param(32, "payload width in bits")
    depth: int = param(16, "memory entries")

    def __post_init__(self):
        check_int("width", self.width, min=1, max=4096)
        check_int("depth", self.depth, min=2, max=_BRAM_DEPTH)

    @property
    def capacity(self):
        return self.depth + 2

    @property
    def latency(self):
        """Cycles from a write to the word being offered on ``r``."""
        return 3

    @property
    def ecp5_blocks(self):
        """DP16KD blocks of the ECP5 elaboration."""
        return -(-self.width // _BRAM_WIDTH)


class StreamQueue(wiring.Component):
    """FIFO read through two registers: the memory's read latch and an
    output register, both able to hold under backpressure.

    That is the structure of a block RAM with its output register (ECP5
    DP16KD ``REGMODE="OUTREG"``): the word leaves from a flip-flop, not from
    the RAM array, which keeps the RAM's slow clock-to-output (5.8 ns on
    ECP5) off the next stage's path. The portable elaboration builds the same
    two registers from a ``lib.memory`` read port and a register; the ECP5
    elaboration instantiates DP16KD blocks, 18 bits each.

    Latency 3 cycles (write, read latch, output register); one word in and one
    out per cycle. ``w.ready`` is low only when the memory is full and never
    depends on ``r.ready`` combinationally.

    Members
    -------
    w : In(stream.Signature(width))
        Words in.
    r : Out(stream.Signature(width))
        Words out, in order.
    """

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(QueueParams, params, kwargs)
        super().__init__({
            "w": In(stream.Signature(params.width)),
            "r": Out(stream.Signature(params.width)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        w_ptr = Signal(range(p.depth))
        r_ptr = Signal(range(p.depth))
        in_mem = Signal(range(p.depth + 1))      # words in memory, not yet read
        latch_valid = Signal()                   # the read latch holds a word

        do_write = self.w.valid & (in_mem != p.depth)
        out_free = ~self.r.valid | self.r.ready
        latch_free = ~latch_valid | out_free
        do_read = latch_free & (in_mem != 0)

        m.d.comb += self.w.ready.eq(in_mem != p.depth)
        with m.If(do_write):
            m.d.sync += w_ptr.eq(_next(w_ptr, p.depth))
        with m.If(do_read):
            m.d.sync += r_ptr.eq(_next(r_ptr, p.depth))
        m.d.sync += in_mem.eq(in_mem + do_write - do_read)
        with m.If(latch_free):
            m.d.sync += latch_valid.eq(do_read)
        with m.If(out_free):
            m.d.sync += self.r.valid.eq(latch_valid)

        if is_ecp5(platform):
            self._ecp5_blocks(m, w_ptr, do_write, r_ptr, latch_free, out_free)
        else:
            m.submodules.mem = mem = memory.Memory(shape=p.width, depth=p.depth, init=[])
            wp = mem.write_port()
            rp = mem.read_port(domain="sync")
            out = Signal(p.width)
            m.d.comb += [
                wp.addr.eq(w_ptr), wp.data.eq(self.w.payload), wp.en.eq(do_write),
                rp.addr.eq(r_ptr), rp.en.eq(latch_free),
                self.r.payload.eq(out),
            ]
            with m.If(out_free):
                m.d.sync += out.eq(rp.data)
        return m

    def _ecp5_blocks(self, m, w_ptr, do_write, r_ptr, latch_free, out_free):
        p = self.params
        abits = ceil_log2(_BRAM_DEPTH)
        pad = lambda v: Cat(v, Const(0, abits - len(v)))
        w_addr, r_addr = pad(w_ptr), pad(r_ptr)
        for n in range(p.ecp5_blocks):
            lo = n * _BRAM_WIDTH
            bits = min(_BRAM_WIDTH, p.width - lo)
            dout = Signal(_BRAM_WIDTH, name=f"bram{n}_do")
            ports = {f"i_DIA{i}": (self.w.payload[lo + i] if i < bits else 0)
                     for i in range(_BRAM_WIDTH)}
            ports.update({f"o_DOB{i}": dout[i] for i in range(_BRAM_WIDTH)})
            # 18-bit mode: ADx0/1 are byte enables, ADx2/3 unused, ADx4.. the word address.
            ports.update({"i_ADA0": 1, "i_ADA1": 1, "i_ADA2": 0, "i_ADA3": 0,
                          "i_ADB0": 0, "i_ADB1": 0, "i_ADB2": 0, "i_ADB3": 0})
            ports.update({f"i_ADA{4 + i}": w_addr[i] for i in range(abits)})
            ports.update({f"i_ADB{4 + i}": r_addr[i] for i in range(abits)})
            m.submodules[f"bram{n}"] = Instance(
                "DP16KD",
                p_DATA_WIDTH_A=_BRAM_WIDTH, p_DATA_WIDTH_B=_BRAM_WIDTH,
                p_REGMODE_A="NOREG", p_REGMODE_B="OUTREG",
                p_WRITEMODE_A="NORMAL", p_WRITEMODE_B="NORMAL",
                p_RESETMODE="SYNC", p_GSR="DISABLED",
                i_CLKA=ClockSignal("sync"), i_CEA=1, i_OCEA=1, i_WEA=do_write, i_RSTA=0,
                i_CSA0=0, i_CSA1=0, i_CSA2=0,
                i_CLKB=ClockSignal("sync"), i_CEB=latch_free, i_OCEB=out_free, i_WEB=0,
                i_RSTB=0, i_CSB0=0, i_CSB1=0, i_CSB2=0,
                **ports)
            m.d.comb += self.r.payload[lo:lo + bits].eq(dout[:bits])


def _next(ptr, depth):
    """``ptr + 1`` modulo ``depth``."""
    return Mux(ptr == depth - 1, 0, ptr + 1)
