"""Pipelined integer arithmetic for the non-linear unit: rounding shifts,
saturation, reduction trees, a square root and a reciprocal.

Everything here is a free-running pipeline: a value entered in one cycle
leaves a fixed number of cycles later and nothing stalls, so that a stage is
a register and nothing else. Whoever feeds these pipelines admits work only
when the consumer at their end has room for it (:class:`Credits`). Each
function returns its result and adds its registers to the module it is
given; the number of cycles is stated in its docstring.
"""

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Mux, Signal, Value, signed, unsigned
from amaranth.lib.memory import Memory
from amaranth.utils import ceil_log2

from .lod import leading_ones
from .platform import is_ecp5


__all__ = ["register", "delay", "RING_MIN", "rshift_round", "multiply", "saturate", "tree",
           "bit_length", "normalize", "isqrt", "reciprocal", "Credits"]


def register(m, value, name, shape=None):
    """``value`` one cycle later."""
    r = Signal(value.shape() if shape is None else shape, name=name)
    m.d.sync += r.eq(value)
    return r


#: The shortest delay of data that :func:`delay` makes a ring of distributed
#: RAM: a 16 x 4 LUT RAM holds what 64 flip-flops would, but a ring has an
#: address counter and, deeper than 16, a read multiplexer.
RING_MIN = 6


def delay(m, value, cycles, name, data=False):
    """``value`` ``cycles`` cycles later (0: itself), through a chain of
    registers or, for ``data`` and at least :data:`RING_MIN` cycles, through
    a ring of distributed RAM: written every cycle at a free-running
    address and read ``cycles - 1`` entries behind it by a registered read
    port. A ring holds no reset: ``data`` says that the value is only used
    where a valid that travels in registers beside it says so, so that what
    the ring holds from before a reset is never used."""
    if not data or cycles < RING_MIN:
        for n in range(cycles):
            value = register(m, value, f"{name}_d{n}")
        return value
    depth = 1 << ceil_log2(cycles)
    ring = Memory(shape=unsigned(len(Value.cast(value))), depth=depth, init=[],
                  attrs={"ram_style": "distributed"})
    m.submodules[f"{name}_ring"] = ring
    at = Signal(range(depth), name=f"{name}_at")
    m.d.sync += at.eq(at + 1)
    write, read = ring.write_port(), ring.read_port()
    out = Signal(value.shape(), name=f"{name}_late")
    m.d.comb += [write.en.eq(1), write.addr.eq(at), write.data.eq(value),
                 read.addr.eq(at - (cycles - 1)), out.eq(read.data)]
    return out


def rshift_round(m, value, shift, name, early=False):
    """``value * 2**-shift`` rounded to nearest, ties up, in two cycles,
    with no adder as wide as the value behind a shifter: ``t = value >>
    (shift - 1)`` in the first (``value << 1`` for a shift of 0), ``(t + 1)
    >> 1`` in the second, which is ``floor((value + 2**(shift-1)) /
    2**shift)``. ``shift`` is an unsigned value; beyond the value's width
    the result is 0, as it is exactly. With ``early``, ``shift`` comes a
    cycle before ``value`` and its decoding (``shift - 1`` and the two
    compares) is registered, so that the shifter's selects start from
    registers: a shift that arrives from afar (a delay ring) and fans out to
    every bit of a wide shifter has a cycle of its own."""
    width = len(value)
    amount, zero, over = (shift - 1)[:len(shift)], shift == 0, shift > width
    if early:
        amount, zero, over = (register(m, v, f"{name}_{what}") for v, what in
                              ((amount, "amount"), (zero, "zero"), (over, "over")))
    t = register(m, Mux(zero, value << 1, Mux(over, 0, value >> amount)), f"{name}_pre")
    return register(m, (t + 1) >> 1, name)


def _slices(value):
    """``(slice, offset)`` pieces that a DSP multiplies as signed 18-bit
    operands: 17-bit unsigned slices from the bottom, the rest on top (up to
    18 bits if the value is signed, 17 if not)."""
    width, is_signed = len(value), value.shape().signed
    top_bits = 18 if is_signed else 17
    if width <= top_bits:
        return [(value, 0)]
    out, offset = [], 0
    while width - offset > top_bits:
        out.append((value[offset:offset + 17], offset))
        offset += 17
    top = value[offset:]
    out.append((top.as_signed() if is_signed else top, offset))
    return out


def _product(m, a, b, name, platform):
    """``a * b`` of two slices (each a signed 18-bit operand when extended)
    in two cycles: operand registers, then the product's. On ECP5 these are
    MULT18X18D's own input and output registers, which yosys does not infer;
    without them the multiplier's delay and the routes into and out of the
    DSP make one cycle."""
    width = len(a) + len(b)
    if not is_ecp5(platform):
        aq, bq = register(m, a, f"{name}_a"), register(m, b, f"{name}_b")
        return register(m, aq * bq, name)
    ext = lambda v: [v[i] if i < len(v) else (v[-1] if v.shape().signed else Const(0))
                     for i in range(18)]
    prod = Signal(signed(36), name=f"{name}_dsp")
    ports = {f"i_A{i}": bit for i, bit in enumerate(ext(a))}
    ports.update({f"i_B{i}": bit for i, bit in enumerate(ext(b))})
    ports.update({f"o_P{i}": prod[i] for i in range(36)})
    m.submodules[f"{name}_dsp"] = Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK="CLK0", p_REG_INPUTB_CLK="CLK0", p_REG_PIPELINE_CLK="NONE",
        p_REG_OUTPUT_CLK="CLK0", p_GSR="DISABLED", p_RESETMODE="SYNC",
        i_SIGNEDA=1, i_SIGNEDB=1, i_SOURCEA=0, i_SOURCEB=0,
        i_CLK0=ClockSignal("sync"), i_CE0=1, i_RST0=0, **ports)
    signed_out = a.shape().signed or b.shape().signed
    return prod[:width].as_signed() if signed_out else prod[:width]


def multiply(m, a, b, name, platform=None):
    """``a * b``: the products of the operands' 18-bit slices in two cycles
    (:func:`_product`), their shifted sum over a tree with a register per
    addition after it. Returns ``(product, cycles)``; one slice each takes 3
    cycles (the product is registered once more, off the DSP)."""
    parts = [_product(m, x, y, f"{name}_p{i}_{j}", platform) << (ox + oy)
             for i, (x, ox) in enumerate(_slices(a)) for j, (y, oy) in enumerate(_slices(b))]
    if len(parts) == 1:
        return register(m, parts[0], name), 3
    total, cycles = tree(m, parts, lambda u, v: u + v, name, per_stage=1)
    return total, 2 + cycles


def saturate(value, bits):
    """Symmetric signed saturation to ``bits`` bits (combinational)."""
    hi = (1 << (bits - 1)) - 1
    return Mux(value > hi, hi, Mux(value < -hi, -hi, value))[:bits].as_signed()


def tree(m, items, combine, name, per_stage=2):
    """Reduce ``items`` pairwise with ``combine(a, b)``, a register after every
    ``per_stage`` levels and after the last. Returns ``(result, cycles)``."""
    level, cycles = list(items), 0
    depth = 0
    while len(level) > 1:
        nxt = [combine(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        depth += 1
        if depth % per_stage == 0 or len(nxt) == 1:
            nxt = [register(m, v, f"{name}_l{depth}_{i}") for i, v in enumerate(nxt)]
            cycles += 1
        level = nxt
    if cycles == 0:
        return register(m, level[0], f"{name}_l0"), 1
    return level[0], cycles


def bit_length(m, value, name):
    """Bit length of an unsigned value (0 for 0), by the leading-one
    detector's tree (:func:`exdisc.hw.lod.leading_ones`): ``log2`` levels,
    not a chain through every bit. Combinational."""
    (found,), (pos,) = leading_ones(value, 1, m=m, name=name)
    return Mux(found, pos + 1, 0)


def normalize(m, value, name):
    """``(value << (W - L), L)`` with ``L`` the bit length of ``value`` and
    ``W`` its width: the top bit set unless ``value`` is 0. Two cycles."""
    width = len(value)
    length = register(m, bit_length(m, value, f"{name}_lod"), f"{name}_len")
    v = register(m, value, f"{name}_v")
    lead = Signal(range(width + 1), name=f"{name}_lead")
    m.d.comb += lead.eq(width - length)
    return (register(m, (v << lead)[:width], f"{name}_norm"),
            register(m, length, f"{name}_length"))


def isqrt(m, value, name):
    """Floor square root of an unsigned value, one result bit per stage:
    ``ceil(width / 2)`` cycles. Returns ``(root, cycles)``."""
    bits = (len(value) + 1) // 2
    rem = Signal(unsigned(2 * bits), name=f"{name}_rem_in")
    m.d.comb += rem.eq(value)
    root = Const(0, bits)
    for k in reversed(range(bits)):
        # try root | 2**k: (root + 2**k)**2 = root**2 + root * 2**(k+1) + 2**(2k)
        trial = (Cat(Const(0, k + 1), root) | (1 << (2 * k)))[:2 * bits + 1]
        take = rem >= trial
        new_rem = Signal(unsigned(2 * bits), name=f"{name}_rem{k}")
        new_root = Signal(unsigned(bits), name=f"{name}_root{k}")
        m.d.sync += [new_rem.eq(Mux(take, rem - trial, rem)),
                     new_root.eq(root | (take << k))]
        rem, root = new_rem, new_root
    return root, bits


def reciprocal(m, divisor, quotient_bits, name):
    """``floor(2**(W + quotient_bits - 2) / divisor)`` for a normalised
    ``W``-bit divisor (top bit set), by restoring division, one quotient bit
    per stage: ``quotient_bits`` cycles. Returns ``(quotient, cycles)``."""
    width = len(divisor)
    top = width + quotient_bits - 2
    rem = Const(1 << top, top + 1)
    d = divisor
    q = Const(0, quotient_bits)
    for k in reversed(range(quotient_bits)):
        trial = Cat(Const(0, k), d)
        take = rem >= trial
        new_rem = Signal(unsigned(top + 1), name=f"{name}_rem{k}")
        new_q = Signal(unsigned(quotient_bits), name=f"{name}_q{k}")
        new_d = Signal(unsigned(width), name=f"{name}_d{k}")
        m.d.sync += [new_rem.eq(Mux(take, rem - trial, rem)), new_q.eq(q | (take << k)),
                     new_d.eq(d)]
        rem, q, d = new_rem, new_q, new_d
    return q, quotient_bits


class Credits:
    """Admission control for a free-running pipeline that ends in a queue.

    Work may enter the pipeline when the queue has room for it and for
    everything already on its way there, so that the queue never refuses a
    write and the pipeline never stalls. The decision is registered (counted
    a cycle early, with a place to spare for the one entry that can come in
    that cycle), so that no adder lies between the queue and the admission.

    Parameters
    ----------
    m : Module
    depth : int
        Entries of the queue.
    level : Value
        Entries the queue holds.
    inflight : list of Value
        One-bit valids of the pipeline's stages before the queue's write.

    Members
    -------
    room : Signal
        Work may enter in this cycle.
    """

    def __init__(self, m, depth, level, inflight):
        used = level
        for v in inflight:
            used = used + v
        self.room = Signal(name="room")
        m.d.sync += self.room.eq(used + 1 < depth)
