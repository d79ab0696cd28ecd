"""First-in first-out queue on a block RAM, with stream ports."""

import dataclasses
import math

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import Params, resolve_params, check_int, param
from .platform import is_ecp5


__all__ = ["QueueParams", "StreamQueue", "OUT_DEPTH", "LATENCY", "count_step", "count_reaches"]


# ECP5 DP16KD: 16 kbit per block, as 1024 words of 18 bits or (port A
# writing, port B reading, both ports' data pins together) 512 of 36.
_BRAM_BITS = 18 * 1024
_BRAM_WIDTHS = (36, 18)


@dataclasses.dataclass(frozen=True)
class QueueParams(Params):
    """Parameters of :class:`StreamQueue`.

    Members
    -------
    width : int
        Payload bits.
    depth : int
        Entries in the memory (2 to 1024); with the output buffer the queue
        holds ``depth + OUT_DEPTH + 1`` words (:attr:`capacity`).
    """
    width: int = param(32, "payload width in bits")
    depth: int = param(16, "memory entries")

    def __post_init__(self):
        check_int("width", self.width, min=1, max=4096)
        check_int("depth", self.depth, min=2, max=_BRAM_BITS // min(_BRAM_WIDTHS))

    @property
    def capacity(self):
        return self.depth + OUT_DEPTH + 1

    @property
    def latency(self):
        """Cycles from a write to the word being offered on ``r``: the
        counter, 2 read address stages, the read latch, the output register,
        the output buffer's LUT RAM and its head register."""
        return LATENCY

    @property
    def bram_width(self):
        """Word width of each DP16KD block in the ECP5 elaboration: 36 bits
        while ``depth`` fits in 512 words, else 18. The wider mode halves
        the blocks of a wide queue and so the span of the block-RAM row that
        the read address and the output buffer's slices reach."""
        return next(w for w in _BRAM_WIDTHS if self.depth <= _BRAM_BITS // w)

    @property
    def ecp5_blocks(self):
        """DP16KD blocks of the ECP5 elaboration."""
        return -(-self.width // self.bram_width)


# Words the output buffer's LUT RAM holds (its head register holds one
# more): a read is issued only against a free entry, and an entry comes back
# 8 cycles after its read is issued (2 address stages, 2 memory registers,
# the LUT RAM, the head register, the pop, the registered pop), so 8 entries
# and the head (a power of two, and half of one LUT RAM) sustain one word
# per cycle.
OUT_DEPTH = 8
# Bits per output-buffer slice: one 36-bit block RAM word, so each slice is
# written from one block.
OUT_SLICE = 36
# From this many slices on, ``r.ready`` enters one LUT per slice (see
# ``_head_control``): a wide queue's ready net then drives one LUT per
# slice instead of a dozen. Narrower queues keep the direct form, which
# the 8 x 8 engine's placement favours (docs/design-notes.md).
POP_LUT_SLICES = 9
LATENCY = 7


class StreamQueue(wiring.Component):
    """FIFO on a block RAM read through its two registers (the read latch
    and the output register) into a small output buffer.

    Every signal that reaches the memory leaves a register next to it: a
    wide queue spans many ECP5 DP16KD blocks, 36 bits each (18 when deeper
    than 512 words), spread along a block-RAM row, and a net from the
    queue's control logic to all of them crosses the row in one cycle.
    So the write (data, address, enable) and the read address pass two
    register stages of their own, a tree with one copy per block at its
    leaves (``*_wstage``, ``*_rstage``, kept apart by the synthesis flow),
    and the memory's clock enables are tied high: a read is issued only
    when the output buffer has an entry reserved for it, so the read
    pipeline never holds and ``r.ready`` reaches only the output
    buffer's control and one counter. The buffer is ``OUT_DEPTH`` words of
    LUT RAM and a head register that drives ``r.payload``, in
    ``OUT_SLICE``-bit slices, each with its own copy of the buffer's
    control. The block RAM's output register (``REGMODE="OUTREG"``) keeps
    its slow clock-to-output off the next stage's path.
    The portable elaboration builds the same registers around a
    ``lib.memory`` read port.

    Latency :attr:`QueueParams.latency` (7) cycles; one word in and one out
    per cycle. ``w.ready``, ``r.valid`` and ``r.payload`` are flip-flops.

    Members
    -------
    w : In(stream.Signature(width))
        Words in.
    r : Out(stream.Signature(width))
        Words out, in order.
    """

    replicated_registers = ("*_wstage", "*_rstage", "*_ptr_copy")

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
        full = Signal()
        nonempty = Signal()
        # Output-buffer entries neither holding a word nor promised to a read
        # in flight.
        space = Signal(range(OUT_DEPTH + 2), init=OUT_DEPTH + 1)
        space_ok = Signal(init=1)
        in_flight = Signal(4)                    # 2 address stages, read latch, output register

        do_write = self.w.valid & ~full
        do_read = nonempty & space_ok
        pop = self.r.valid & self.r.ready
        # The space a pop frees counts a cycle late: the consumer's ready then
        # reaches only the output buffer's control, not the read side's
        # flags, whose net spans the queue's width. The buffer has the entry
        # to spare (see OUT_DEPTH).
        popped = Signal()
        m.d.sync += popped.eq(pop)

        m.d.comb += self.w.ready.eq(~full)
        with m.If(do_write):
            m.d.sync += w_ptr.eq(_next(w_ptr, p.depth))
        with m.If(do_read):
            m.d.sync += r_ptr.eq(_next(r_ptr, p.depth))
        # The flags are computed from the counters' present values, not from
        # their next values: an adder chain in front of a compare would be the
        # longest path once the memory's nets are registered.
        m.d.sync += [
            in_mem.eq(count_step(in_mem, do_write, do_read)),
            full.eq(count_reaches(in_mem, do_write, do_read, p.depth)),
            nonempty.eq(~count_reaches(in_mem, do_write, do_read, 0)),
            space.eq(count_step(space, popped, do_read)),
            space_ok.eq(~count_reaches(space, popped, do_read, 0)),
            in_flight.eq(Cat(do_read, in_flight[:3])),
        ]

        # Every net to the memory leaves a register near it (see the class
        # docstring): two levels of copies, so no net spans the block row.
        blocks = p.ecp5_blocks if is_ecp5(platform) else 1
        w_addr = _copies(m, w_ptr, blocks, "waddr", "wstage")
        w_en = _copies(m, do_write, blocks, "wen", "wstage")
        r_addr = _copies(m, r_ptr, blocks, "raddr", "rstage")
        read_data = Signal(p.width)
        if is_ecp5(platform):
            self._ecp5_blocks(m, w_addr, w_en, r_addr, read_data)
        else:
            m.submodules.mem = mem = memory.Memory(shape=p.width, depth=p.depth, init=[])
            wp = mem.write_port()
            rp = mem.read_port(domain="sync")
            m.d.comb += [
                wp.addr.eq(w_addr[0]), wp.en.eq(w_en[0]),
                wp.data.eq(_copies(m, self.w.payload, 1, "wdata", "wstage")[0]),
                rp.addr.eq(r_addr[0]),
            ]
            m.d.sync += read_data.eq(rp.data)

        # The output buffer: OUT_DEPTH words of LUT RAM and a head register
        # that holds the oldest word and drives ``r.payload``. Both are cut
        # into slices of OUT_SLICE bits, and every slice keeps its own copy
        # of the buffer's control state (``_head_control``), so that the
        # consumer's ready reaches only a few LUTs in each slice and the
        # payload leaves flip-flops: with the LUT RAM read straight onto
        # ``r.payload``, ready would reach every slice's read pointer and
        # the pointers every LUT RAM cell, nets that span a wide row.
        # Its own register (kept, as *_ptr_copy): merged with a slice's
        # identical one, it ties the shared control to that slice, far
        # from ready.
        arrive = Signal(name="out_arrive_ptr_copy")
        m.d.sync += arrive.eq(in_flight[2])
        pop_lut = -(-p.width // OUT_SLICE) >= POP_LUT_SLICES
        _, valid = _head_control(m, arrive, self.r.ready, "out", pop_lut)
        m.d.comb += self.r.valid.eq(valid)
        for n, lo in enumerate(range(0, p.width, OUT_SLICE)):
            hi = min(p.width, lo + OUT_SLICE)
            m.submodules[f"out{n}"] = out = memory.Memory(shape=hi - lo, depth=OUT_DEPTH, init=[])
            out_w = out.write_port()
            out_r = out.read_port(domain="comb")
            w_ptr_copy = Signal(range(OUT_DEPTH), name=f"out{n}_w_ptr_copy")
            r_ptr_copy = Signal(range(OUT_DEPTH), name=f"out{n}_r_ptr_copy")
            # in_flight[3] of its own: a shared one would reach every slice of
            # a wide word across the engine.
            w_en = Signal(name=f"out{n}_w_en_ptr_copy")
            m.d.sync += w_en.eq(in_flight[2])
            load, _ = _head_control(m, w_en, self.r.ready, f"out{n}", pop_lut)
            head = Signal(hi - lo, name=f"out{n}_head")
            with m.If(w_en):
                m.d.sync += w_ptr_copy.eq(w_ptr_copy + 1)
            with m.If(load):
                m.d.sync += [r_ptr_copy.eq(r_ptr_copy + 1), head.eq(out_r.data)]
            m.d.comb += [
                out_w.addr.eq(w_ptr_copy), out_w.data.eq(read_data[lo:hi]),
                out_w.en.eq(w_en),
                out_r.addr.eq(r_ptr_copy), self.r.payload[lo:hi].eq(head),
            ]
        return m

    def _ecp5_blocks(self, m, w_addr, w_en, r_addr, read_data):
        p = self.params
        width = p.bram_width
        # Word address from AD<skip> up: below it, in the 18-bit mode, two
        # byte enables and two unused pins; in the 36-bit mode four byte
        # enables and one unused pin.
        skip = {18: 4, 36: 5}[width]
        enables = {18: 2, 36: 4}[width]
        abits = 14 - skip
        pad = lambda v: Cat(v, Const(0, abits - len(v)))
        for n in range(p.ecp5_blocks):
            lo = n * width
            bits = min(width, p.width - lo)
            w_data = _copies(m, self.w.payload[lo:lo + bits], 1, f"wdata{n}", "wstage")[0]
            w_data = Cat(w_data, Const(0, width - bits))
            dout = Signal(width, name=f"bram{n}_do")
            # 18 bits: port A writes on DIA, port B reads on DOB. 36 bits: the
            # low half on DIA/DOA, the high half on DIB/DOB.
            halves = [("A", "B")] if width == 18 else [("A", "A"), ("B", "B")]
            ports = {}
            for h, (din, dout_port) in enumerate(halves):
                ports.update({f"i_DI{din}{i}": w_data[18 * h + i] for i in range(18)})
                ports.update({f"o_DO{dout_port}{i}": dout[18 * h + i] for i in range(18)})
            ports.update({f"i_ADA{i}": int(i < enables) for i in range(skip)})
            ports.update({f"i_ADB{i}": 0 for i in range(skip)})
            ports.update({f"i_ADA{skip + i}": pad(w_addr[n])[i] for i in range(abits)})
            ports.update({f"i_ADB{skip + i}": pad(r_addr[n])[i] for i in range(abits)})
            m.submodules[f"bram{n}"] = Instance(
                "DP16KD",
                p_DATA_WIDTH_A=width, p_DATA_WIDTH_B=width,
                p_REGMODE_A="NOREG" if width == 18 else "OUTREG", p_REGMODE_B="OUTREG",
                p_WRITEMODE_A="NORMAL", p_WRITEMODE_B="NORMAL",
                p_RESETMODE="SYNC", p_GSR="DISABLED",
                i_CLKA=ClockSignal("sync"), i_CEA=1, i_OCEA=1, i_WEA=w_en[n], i_RSTA=0,
                i_CSA0=0, i_CSA1=0, i_CSA2=0,
                i_CLKB=ClockSignal("sync"), i_CEB=1, i_OCEB=1, i_WEB=0,
                i_RSTB=0, i_CSB0=0, i_CSB1=0, i_CSB2=0,
                **ports)
            m.d.comb += read_data[lo:lo + bits].eq(dout[:bits])


def _copies(m, value, n, name, kind):
    """``n`` copies of ``value``, two cycles late, through a tree of
    registers: ``ceil(sqrt(n))`` copies, each feeding up to as many more.
    Each copy drives one memory block, and no register drives more than
    ``ceil(sqrt(n))`` far-apart ones. Named ``*_{kind}`` for the synthesis
    flow's ``keep`` (see :attr:`StreamQueue.replicated_registers`)."""
    fan = math.isqrt(n - 1) + 1
    level1 = []
    for g in range(-(-n // fan)):
        reg = Signal.like(value, name=f"{name}_g{g}_{kind}")
        m.d.sync += reg.eq(value)
        level1.append(reg)
    copies = []
    for i in range(n):
        reg = Signal.like(value, name=f"{name}_b{i}_{kind}")
        m.d.sync += reg.eq(level1[i // fan])
        copies.append(reg)
    return copies


def _head_control(m, arrive, ready, name, pop_lut):
    """One copy of the output buffer's control state: the words it holds
    (LUT RAM and head register; ``arrive`` adds one, readable a cycle
    later) and whether the head register holds one. Returns ``(load,
    valid)``: the head register takes the LUT RAM's oldest word when it is
    empty or being read and the LUT RAM holds one; ``valid``, whether it
    holds a word.

    The count is a thermometer code (bit ``i``: more than ``i`` words), so
    that every next-state bit is a small function in which ``ready``
    enters the last LUT: a binary count behind ``load`` puts ``ready`` three
    LUTs from the count's flip-flops.
    Registers are named ``*_ptr_copy`` so that the synthesis flow keeps
    every copy.

    With ``pop_lut`` (wide buffers, :data:`POP_LUT_SLICES`), ``ready``
    enters one LUT of each copy, the pop (kept as a net), which then
    drives the copy's dozen next-state and enable LUTs nearby, so that
    ``ready`` does not enter every one of them across all the slices."""
    held = Signal(OUT_DEPTH + 1, name=f"{name}_held_ptr_copy")
    valid = Signal(name=f"{name}_valid_ptr_copy")
    pop = valid & ready
    if pop_lut:
        # Where ``valid`` is set, the pop stands for ``ready``.
        kept = Signal(name=f"{name}_pop", attrs={"keep": 1})
        m.d.comb += kept.eq(pop)
        pop = ready = kept
    in_ram = held[1] | (held[0] & ~valid)
    load = in_ram & (~valid | ready)
    below, above = Cat(1, held[:-1]), Cat(held[1:], 0)
    # The next count with and without a pop, from registers only, kept as
    # nets so that synthesis leaves ``ready`` for the last LUT (without
    # ``keep``, ABC merged them and put it three LUTs deep again).
    if_pop = Signal(len(held), name=f"{name}_held_if_pop", attrs={"keep": 1})
    if_not = Signal(len(held), name=f"{name}_held_if_not", attrs={"keep": 1})
    m.d.comb += [if_pop.eq(Mux(arrive, held, above)), if_not.eq(Mux(arrive, below, held))]
    m.d.sync += [
        held.eq(Mux(pop, if_pop, if_not)),
        valid.eq(in_ram | (valid & ~ready)),
    ]
    return load, valid


def count_step(count, inc, dec):
    """``count + inc - dec`` with one adder (two in series were a path)."""
    step = Mux(inc == dec, 0, Mux(inc, 1, -1))
    return (count + step)[:len(count)]


def count_reaches(count, inc, dec, value):
    """Whether ``count + inc - dec == value``, from compares of ``count``
    with constants (no adder)."""
    stay = (inc == dec) & (count == value)
    up = (inc & ~dec & (count == value - 1)) if value > 0 else 0
    down = dec & ~inc & (count == value + 1)
    return stay | up | down


def _next(ptr, depth):
    """``ptr + 1`` modulo ``depth``."""
    return Mux(ptr == depth - 1, 0, ptr + 1)
