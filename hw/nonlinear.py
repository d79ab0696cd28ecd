"""Integer non-linear unit: softmax with ST's keep mask, GELU, LayerNorm with
adaLN modulation, and requantization, on rows that stream in beats."""

import dataclasses
from amaranth.lib import enum

from amaranth.hdl import Cat, Const, Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from . import nonlinear_arith as ar
from .params import Params, check_int, param, resolve_params


__all__ = ["NonLinearParams", "NonLinearUnit", "Op", "Error", "exp_table", "gelu_table"]

#: Width of the accumulators the unit reads (the engine's).
ACC_WIDTH = 32
#: Fractional bits of ST's threshold.
THETA_BITS = 32
#: Width of a shift field.
SHIFT_BITS = 6
#: Beats the output queue holds: the output pass's pipeline and some slack.
OUT_QUEUE_DEPTH = 32
#: Quotient bits of the per-row reciprocal (``2**16 < R <= 2**17``).
RECIP_QUOTIENT_BITS = 18


class Op(enum.Enum, shape=3):
    """What the unit does with a row."""
    SOFTMAX = 0
    GELU = 1
    LAYERNORM = 2
    REQUANT = 3
    #: Store the row as LayerNorm's per-column gains (adaLN ``1 + scale``).
    LOAD_GAIN = 4
    #: Store the row as LayerNorm's per-column biases (adaLN ``shift``).
    LOAD_BIAS = 5


class Error(enum.Enum, shape=2):
    """The sticky error code: the first malformed command stops the unit."""
    NONE = 0
    BAD_OP = 1
    BAD_LENGTH = 2


def exp_table(p):
    """Softmax's table, ``round(2**exp_bits * 2**(-i / 2**F))`` (as the golden model's)."""
    import math
    n = 1 << p.exp_index_bits
    return [int(math.floor(2.0 ** (p.exp_bits - i / n) + 0.5)) for i in range(n)]


def gelu_table(p):
    """GELU's correction ``round(2**gelu_frac * (a - gelu(a)))`` at ``a = (k + 1/2) / 64``."""
    import math
    out = []
    for k in range(256):
        a = (k + 0.5) / 64
        g = a - 0.5 * a * (1.0 + math.tanh(0.7978845608028654 * (a + 0.044715 * a ** 3)))
        out.append(int(math.floor(g * (1 << p.gelu_frac) + 0.5)))
    return out


@dataclasses.dataclass(frozen=True)
class NonLinearParams(Params):
    """Parameters of :class:`NonLinearUnit`; the number formats are those of
    :class:`exdisc.golden.nonlinear.Format`, field for field.

    Members
    -------
    lanes : int
        Values per beat (1 to 64).
    max_len : int
        Longest row in values (1 to 4096).
    exp_index_bits, exp_bits, d_bits, prob_bits : int
        Softmax: table index bits, exponential precision, saturation of the
        distance below the maximum, probability width.
    gelu_frac, gelu_bits : int
        GELU's fixed-point input: fractional bits and saturation width.
    ln_bits, norm_frac : int
        LayerNorm: input saturation width, fractional bits of the normalised value.
    out_bits : int
        Width of GELU, LayerNorm and requantize outputs.
    mult_bits : int
        Width of the fixed-point multipliers (and of LayerNorm's gains).
    """
    lanes: int = param(16, "values per beat")
    max_len: int = param(256, "longest row, in values")
    exp_index_bits: int = param(10, "softmax: exponential table index bits F")
    exp_bits: int = param(16, "softmax: fractional bits of the exponentials")
    d_bits: int = param(18, "softmax: saturation width of max - x")
    prob_bits: int = param(8, "softmax: probability width")
    gelu_frac: int = param(8, "GELU: fractional bits of the input")
    gelu_bits: int = param(16, "GELU: saturation width of the input")
    ln_bits: int = param(16, "LayerNorm: saturation width of the input")
    norm_frac: int = param(10, "LayerNorm: fractional bits of the normalised value")
    out_bits: int = param(8, "output width of GELU, LayerNorm, requantize")
    mult_bits: int = param(16, "fixed-point multiplier width")

    def __post_init__(self):
        check_int("lanes", self.lanes, min=1, max=64)
        check_int("max_len", self.max_len, min=1, max=4096)
        check_int("exp_index_bits", self.exp_index_bits, min=2, max=12)
        check_int("exp_bits", self.exp_bits, min=8, max=20)
        check_int("d_bits", self.d_bits, min=8, max=24)
        check_int("prob_bits", self.prob_bits, min=2, max=16)
        check_int("gelu_frac", self.gelu_frac, min=6, max=12)
        check_int("gelu_bits", self.gelu_bits, min=10, max=24)
        check_int("ln_bits", self.ln_bits, min=4, max=18)
        check_int("norm_frac", self.norm_frac, min=4, max=14)
        check_int("out_bits", self.out_bits, min=2, max=16)
        check_int("mult_bits", self.mult_bits, min=8, max=18)

    # -- derived sizes --
    @property
    def beats_max(self):
        """Beats of the longest row."""
        return -(-self.max_len // self.lanes)

    @property
    def len_bits(self):
        """Width of a row length (and of an element index)."""
        return bits_for(self.max_len)

    @property
    def sum_bits(self):
        """Width of softmax's row sum ``S`` (below ``max_len * 2**(exp_bits+1)``)."""
        return self.len_bits + self.exp_bits + 1

    @property
    def var_bits(self):
        """Width of LayerNorm's ``V = N*S2 - S1**2`` (below ``N**2 * 2**(2*ln_bits - 2)``)."""
        return 2 * self.len_bits + 2 * self.ln_bits - 2

    @property
    def divisor_bits(self):
        """Width of the normalised divisor of the per-row reciprocal."""
        return max(self.sum_bits, (self.var_bits + 1) // 2)

    @property
    def data_width(self):
        """Width of an output value: probabilities and int outputs alike."""
        return max(self.prob_bits, self.out_bits)

    @property
    def fifo_depth(self):
        """Beats each of the two internal row queues holds: two longest rows
        and the pipelines' worth of short ones."""
        return 2 * self.beats_max + 64

    @property
    def row_queue_depth(self):
        return 64

    # -- layouts --
    @property
    def cmd_layout(self):
        """One command per row: the operation, the row's length and its constants.

        ``mult``/``shift``: softmax's score multiplier, GELU's input
        multiplier, requantize's multiplier. ``mult2``/``shift2``: softmax's
        ``P V`` multiplier, GELU's output multiplier, LayerNorm's modulation
        shift (``shift2``). ``theta``: ST's threshold in units of ``2**-32``.
        ``pre``: LayerNorm's input shift.
        """
        return data.StructLayout({
            "op": Op, "length": unsigned(16),
            "mult": unsigned(self.mult_bits), "shift": unsigned(SHIFT_BITS),
            "mult2": unsigned(self.mult_bits), "shift2": unsigned(SHIFT_BITS),
            "theta": unsigned(THETA_BITS), "pre": unsigned(5),
        })

    @property
    def in_layout(self):
        return data.ArrayLayout(signed(ACC_WIDTH), self.lanes)

    @property
    def out_layout(self):
        """``data``: one value per lane (0 beyond the row); ``keep``: ST's mask
        (softmax rows); ``row_mult``/``row_shift``: the requantization of the
        row's ``P V`` (softmax rows); ``last``: the row's last beat."""
        return data.StructLayout({
            "data": data.ArrayLayout(signed(self.data_width), self.lanes),
            "keep": unsigned(self.lanes),
            "row_mult": unsigned(self.mult_bits), "row_shift": unsigned(SHIFT_BITS + 1),
            "last": 1,
        })


class NonLinearUnit(wiring.Component):
    """Softmax (with ST's keep mask), GELU, LayerNorm with adaLN modulation and
    requantization of rows of int32 values, bit-exact with
    :mod:`exdisc.golden.nonlinear`.

    A command on ``cmd`` names the operation and the length of the next row;
    the row follows on ``i`` as ``ceil(length / lanes)`` beats (lanes past the
    end are ignored), and the result leaves on ``o`` as as many beats (rows
    that load LayerNorm's gains or biases leave nothing). Rows of every
    operation follow each other without a gap.

    The unit is three passes over each row, each a free-running pipeline that
    admits a beat only when the queue it ends in has room, so that nothing
    stalls inside: *ingest* takes the row's maximum and first argmax
    (softmax) or its sums (LayerNorm); *elementwise* computes exponentials and
    their sum, GELU and requantize; a per-row pipeline then computes the
    reciprocal (a restoring divider, one quotient bit per stage) and, for
    LayerNorm, first the integer square root (one bit per stage), so that one
    row per cycle can enter it; *output* applies the row's constants: the
    keep mask, the normalisation and the modulation. Two queues of
    :attr:`NonLinearParams.fifo_depth` beats hold the rows between the passes.

    Throughput: one beat per cycle, for back-to-back rows of any length and
    any mix of operations, without backpressure on ``o``. Latency: a row's
    first output beat leaves about ``2 * beats + 95`` cycles after its first
    input beat: the ingest and the elementwise passes each take the whole
    row before the next can use its sums, and the per-row pipeline (square
    root and reciprocal) takes about 50.

    A command with an unknown ``op`` or a ``length`` of 0 or above ``max_len``
    sets ``error`` and stops the unit (no more commands or beats are taken)
    until reset: nothing after it is computed or written.

    Members
    -------
    cmd : In(stream.Signature(cmd_layout))
        One command per row.
    i : In(stream.Signature(in_layout))
        The rows' beats.
    o : Out(stream.Signature(out_layout))
        The results' beats.
    error : Out(Error)
        Sticky error code.
    """

    #: Generic synthesis of the unit's multipliers takes ABC most of an hour.
    generic_synthesis = False

    #: The parts an area breakdown names (:func:`exdisc.synth.attribution.area_by_part`).
    area_parts = (
        ("ingest pass", ("ingest.",)),
        ("elementwise pass and per-row pipeline", ("elementwise.",)),
        ("output pass", ("output.",)),
        ("queues", ("queue_", "rows_", "out_queue.")),
    )

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(NonLinearParams, params, kwargs)
        super().__init__({
            "cmd": In(stream.Signature(params.cmd_layout)),
            "i": In(stream.Signature(params.in_layout)),
            "o": Out(stream.Signature(params.out_layout)),
            "error": Out(Error),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        word = data.ArrayLayout(signed(ACC_WIDTH), p.lanes)
        m.submodules.queue_a = qa = SyncFIFOBuffered(width=word.size, depth=p.fifo_depth)
        m.submodules.queue_b = qb = SyncFIFOBuffered(width=word.size, depth=p.fifo_depth)
        m.submodules.rows_a = ra = SyncFIFOBuffered(width=_row_a(p).size,
                                                    depth=p.row_queue_depth)
        m.submodules.rows_b = rb = SyncFIFOBuffered(width=_row_b(p).size,
                                                    depth=p.row_queue_depth)
        m.submodules.out_queue = oq = SyncFIFOBuffered(width=p.out_layout.size,
                                                       depth=OUT_QUEUE_DEPTH)
        m.submodules.ingest = _Ingest(p, self.cmd, self.i, self.error, qa, ra)
        m.submodules.elementwise = _Elementwise(p, qa, ra, qb, rb)
        m.submodules.output = _Output(p, qb, rb, oq)
        m.d.comb += [
            self.o.valid.eq(oq.r_rdy),
            self.o.payload.eq(oq.r_data),
            oq.r_en.eq(self.o.ready),
        ]
        return m


def _row_a(p):
    """What the ingest pass hands on per row."""
    return data.StructLayout({
        "op": Op, "length": unsigned(p.len_bits),
        "mult": unsigned(p.mult_bits), "shift": unsigned(SHIFT_BITS),
        "mult2": unsigned(p.mult_bits), "shift2": unsigned(SHIFT_BITS),
        "theta": unsigned(THETA_BITS),
        "max": signed(ACC_WIDTH), "argmax": unsigned(p.len_bits),
        "s1": signed(p.len_bits + p.ln_bits), "s2": unsigned(p.len_bits + 2 * p.ln_bits),
        # the first beat's walk (_RowWalk.plan), for the next pass's start
        "first_last": 1, "first_lanes": unsigned(p.lanes),
    })


def _row_b(p):
    """What the per-row pipeline hands the output pass."""
    return data.StructLayout({
        "op": Op, "length": unsigned(p.len_bits), "argmax": unsigned(p.len_bits),
        "shift2": unsigned(SHIFT_BITS),
        # softmax: threshold on e, the P V requantization
        "threshold": unsigned(p.sum_bits), "row_mult": unsigned(p.mult_bits),
        "row_shift": unsigned(SHIFT_BITS + 1),
        # LayerNorm: n = rshift_round(y * a - b, k)
        "a": unsigned(p.len_bits + RECIP_QUOTIENT_BITS),
        "b": signed(p.len_bits + p.ln_bits + RECIP_QUOTIENT_BITS + 1),
        "k": unsigned(SHIFT_BITS),
        "first_last": 1, "first_lanes": unsigned(p.lanes),
    })


class _RowWalk:
    """The per-row bookkeeping of a pass: the row in hand, the beat in it,
    which lanes hold values. A new row can be taken in the cycle that the
    last beat of the previous one is, so rows follow without a gap.

    ``last`` and ``lanes`` are registers, worked out for the next beat when a
    row starts or a beat is taken: they decide whether a command is taken,
    and a compare of ``left`` in front of that decision was the unit's
    critical path."""

    def __init__(self, m, p, name):
        self.busy = Signal(name=f"{name}_busy")
        self.beat = Signal(range(p.beats_max), name=f"{name}_beat")
        self.left = Signal(range(p.max_len + 1), name=f"{name}_left")
        self.last = Signal(name=f"{name}_last")
        self.lanes = Signal(p.lanes, name=f"{name}_lanes")
        self.p = p

    @staticmethod
    def plan(p, left):
        """``(last, lanes)`` of a beat with ``left`` values to go."""
        return left <= p.lanes, Cat(left > n for n in range(p.lanes))

    def _plan(self, m, left, plan=None):
        last, lanes = plan or self.plan(self.p, left)
        m.d.sync += [self.last.eq(last), self.lanes.eq(lanes)]

    def start(self, m, length, plan=None):
        """A row of ``length`` values starts; ``plan``: its first beat's
        :meth:`plan`, worked out before (a row record from a queue in block
        RAM has the RAM's slow clock-to-output ahead of it)."""
        m.d.sync += [self.busy.eq(1), self.beat.eq(0), self.left.eq(length)]
        self._plan(m, length, plan)

    def advance(self, m):
        """A beat is taken (call inside the taking condition, before a start)."""
        m.d.sync += [self.beat.eq(self.beat + 1), self.left.eq(self.left - self.p.lanes)]
        self._plan(m, self.left - self.p.lanes)
        with m.If(self.last):
            m.d.sync += self.busy.eq(0)


def _row_room(m, p, queue, enter):
    """Whether a pass may take a row: the row queue it writes, ``queue``, has
    room for it and for the rows the pass holds (taken, ``enter``, and not yet
    written). Registered, as :class:`~.nonlinear_arith.Credits`, so that the
    count's adder is not in front of the decision."""
    held = Signal(range(p.row_queue_depth + 1), name="rows_held")
    with m.If(enter & ~queue.w_en):
        m.d.sync += held.eq(held + 1)
    with m.Elif(queue.w_en & ~enter):
        m.d.sync += held.eq(held - 1)
    return ar.Credits(m, p.row_queue_depth, queue.level + held, [enter]).room


class _Beat:
    """A beat's control on its way down a free-running pass: stage 0 is the
    cycle after the beat is taken, :meth:`at` gives any later stage.

    Members
    -------
    valids : list of Signal
        The valid of every stage created so far.
    """

    def __init__(self, m, name, stage0):
        self.m, self.name = m, name
        self._stages = [stage0]

    @classmethod
    def capture(cls, m, p, take, word, walk, row, name):
        reg = lambda v, what: ar.register(m, v, f"{name}0_{what}")
        stage0 = _Stage(valid=reg(take, "valid"), lanes=reg(walk.lanes, "lanes"),
                        first=reg(walk.beat == 0, "first"), last=reg(walk.last, "last"),
                        beat=reg(walk.beat, "beat"), row=reg(row, "row"),
                        word=data.View(data.ArrayLayout(signed(ACC_WIDTH), p.lanes),
                                       reg(word, "word")))
        return cls(m, name, stage0)

    def at(self, k):
        while len(self._stages) <= k:
            prev, n = self._stages[-1], len(self._stages)
            reg = lambda v, what: ar.register(self.m, v, f"{self.name}{n}_{what}")
            self._stages.append(_Stage(valid=reg(prev.valid, "valid"), lanes=reg(prev.lanes, "lanes"),
                                       first=reg(prev.first, "first"), last=reg(prev.last, "last"),
                                       beat=reg(prev.beat, "beat"), row=reg(prev.row, "row"),
                                       word=None))
        return self._stages[k]

    def row_at(self, k):
        """The row's record at stage ``k``, through a ring (:func:`~.nonlinear_arith.delay`)
        rather than a register per stage: for a stage whose valid is used beside it."""
        return ar.delay(self.m, self._stages[0].row, k, f"{self.name}_row_at{k}", data=True)

    @property
    def valids(self):
        return [s.valid for s in self._stages]


@dataclasses.dataclass
class _Stage:
    valid: object
    lanes: object
    first: object
    last: object
    beat: object
    row: object
    word: object


def _lane_max(a, b, x_bits):
    """Of two packed ``(lane, x, valid)`` nodes, the greater valid one, the
    left (lower lane) on a tie."""
    av, bv = a[-1], b[-1]
    ax, bx = a[-1 - x_bits:-1].as_signed(), b[-1 - x_bits:-1].as_signed()
    return Mux(av & (~bv | (ax >= bx)), a, b)


class _Ingest(Elaboratable):
    """First pass: takes commands and beats, writes the beats to queue A
    (LayerNorm's already shifted and saturated) and the row's record (its
    command with the maximum and first argmax, or the sums) to the row queue."""

    def __init__(self, p, cmd, i, error, qa, ra):
        self.p, self.cmd, self.i, self.error, self.qa, self.ra = p, cmd, i, error, qa, ra

    def elaborate(self, platform):
        m = Module()
        self.platform = platform
        p, cmd, i, qa, ra = self.p, self.cmd, self.i, self.qa, self.ra
        walk = _RowWalk(m, p, "ingest")
        cur = Signal(p.cmd_layout)
        stopped = Signal()
        m.d.comb += stopped.eq(self.error != Error.NONE)

        # admission: a beat when queue A has room for it; a command when the
        # row queue has room for it and for the rows still in this pass
        valid_a, valid_b, valid_c = Signal(), Signal(), Signal()
        room = ar.Credits(m, p.fifo_depth, qa.level, [valid_a, valid_b, valid_c]).room
        take = Signal()
        m.d.comb += [take.eq(walk.busy & i.valid & room & ~stopped), i.ready.eq(take)]
        free = ~walk.busy | (walk.last & take)
        accept = cmd.valid & cmd.ready
        bad_op = cmd.payload.op.as_value() > Op.LOAD_BIAS.value
        length = cmd.payload.length
        bad_length = (length == 0) | (length > p.max_len)
        row_room = _row_room(m, p, ra, accept)
        m.d.comb += cmd.ready.eq(free & ~stopped & row_room)
        with m.If(take):
            walk.advance(m)
        # a malformed command is taken in as any other (its checks are kept
        # off the path to the command register); the error stops the pass
        # before it takes a beat of it
        with m.If(accept):
            m.d.sync += cur.eq(cmd.payload)
            walk.start(m, length)
            with m.If(bad_op):
                m.d.sync += self.error.eq(Error.BAD_OP)
            with m.Elif(bad_length):
                m.d.sync += self.error.eq(Error.BAD_LENGTH)

        # stage a: the beat and its row's command
        # arrays are viewed over plain signals: yosys's ABC reintegration can
        # name a bit "x[3]" and collide with the alias an array signal emits
        x = data.View(p.in_layout, Signal(p.in_layout.size, name="x"))
        lanes = Signal(p.lanes)
        first, last, beat = Signal(), Signal(), Signal(range(p.beats_max))
        row = Signal(p.cmd_layout)
        # free-running: valid_a says whether they hold a beat, and an enable
        # from take would fan out to every bit
        m.d.sync += [valid_a.eq(take), x.as_value().eq(i.payload.as_value()),
                     lanes.eq(walk.lanes), first.eq(walk.beat == 0), last.eq(walk.last),
                     beat.eq(walk.beat), row.eq(cur)]
        # stages b and c: LayerNorm's input shift, then its saturation, each
        # in a cycle of its own (a 32-bit barrel shifter and a compare)
        shifted = [ar.register(m, x[n] >> row.pre, f"shifted{n}") for n in range(p.lanes)]
        y = [ar.register(m, ar.saturate(shifted[n], p.ln_bits), f"ln_in{n}")
             for n in range(p.lanes)]
        m.d.sync += [valid_b.eq(valid_a), valid_c.eq(valid_b)]
        x = data.View(p.in_layout, ar.delay(m, x.as_value(), 2, "x"))
        lanes, first, last, beat, row = (ar.delay(m, v, 2, name) for v, name in
                                         ((lanes, "lanes"), (first, "first"), (last, "last"),
                                          (beat, "beat"), (row, "row")))
        is_ln = row.op == Op.LAYERNORM
        m.d.comb += [qa.w_en.eq(valid_c),
                     qa.w_data.eq(Cat(Mux(is_ln, y[n], x[n]).as_signed()[:ACC_WIDTH]
                                      for n in range(p.lanes)))]
        self._stats(m, valid_c, x, y, lanes, first, last, beat, row)
        return m

    def _stats(self, m, valid, x, y, lanes, first, last, beat, row):
        """The row's maximum and first argmax, and LayerNorm's sums of ``y``
        and ``y * y``, through trees over the lanes and accumulators."""
        p, ra = self.p, self.ra
        lane_bits = max(1, ceil_log2(p.lanes))
        yb = [ar.register(m, Mux(lanes[n], y[n], 0), f"y{n}") for n in range(p.lanes)]
        leaves = [ar.register(m, Cat(Const(n, lane_bits), x[n], lanes[n]), f"leaf{n}")
                  for n in range(p.lanes)]
        squares = [ar.multiply(m, yb[n], yb[n], f"sq{n}", self.platform) for n in range(p.lanes)]
        s1, c1 = ar.tree(m, yb, lambda a, b: a + b, "s1")
        s2, c2 = ar.tree(m, [sq for sq, _ in squares], lambda a, b: a + b, "s2")
        # a register after every compare: a compare and a select per cycle
        mx, cm = ar.tree(m, leaves, lambda a, b: _lane_max(a, b, ACC_WIDTH), "max", per_stage=1)
        c2 += squares[0][1]
        # the maximum tree ends at least a cycle early: its compare ahead
        depth = max(c1, c2, cm + 1)
        s1 = ar.delay(m, s1, depth - c1, "s1")
        s2 = ar.delay(m, s2, depth - c2, "s2")
        ahead = ar.delay(m, mx, depth - cm - 1, "max")
        mx = ar.register(m, ahead, "max_beat")
        delay = depth + 1
        valid, first, last = (ar.delay(m, v, delay, n) for v, n in
                              ((valid, "valid"), (first, "first"), (last, "last")))
        beat = ar.delay(m, beat, delay, "beat", data=True)
        row = ar.delay(m, row, delay, "row", data=True)

        acc1 = Signal(signed(p.len_bits + p.ln_bits))
        acc2 = Signal(unsigned(p.len_bits + 2 * p.ln_bits))
        top = Signal(signed(ACC_WIDTH))
        arg = Signal(unsigned(p.len_bits))
        beat_x = mx[lane_bits:lane_bits + ACC_WIDTH].as_signed()
        beat_arg = beat * p.lanes + mx[:lane_bits]
        new1 = Mux(first, 0, acc1) + s1
        new2 = Mux(first, 0, acc2) + s2
        # The running maximum's compare is kept out of its loop. A cycle
        # ahead, the next beat is compared with the maximum before this
        # beat (``top``) and with this beat itself; the loop then picks one
        # of the two results by whether this beat became the maximum. After
        # a gap, ``top`` already holds the maximum before the next beat.
        ahead_x = ahead[lane_bits:lane_bits + ACC_WIDTH].as_signed()
        above_top = ar.register(m, ahead_x > top, "above_top")
        above_beat = ar.register(m, ahead_x > beat_x, "above_beat")
        took = Signal()
        better = first | Mux(took, above_beat, above_top)
        m.d.sync += took.eq(valid & better)
        new_top = Mux(better, beat_x, top)
        new_arg = Mux(better, beat_arg, arg)
        with m.If(valid):
            m.d.sync += [acc1.eq(new1), acc2.eq(new2), top.eq(new_top), arg.eq(new_arg)]
        rec = Signal(_row_a(p))
        m.d.comb += [
            rec.op.eq(row.op), rec.length.eq(row.length), rec.mult.eq(row.mult),
            rec.shift.eq(row.shift), rec.mult2.eq(row.mult2), rec.shift2.eq(row.shift2),
            rec.theta.eq(row.theta), rec.max.eq(new_top), rec.argmax.eq(new_arg),
            rec.s1.eq(new1), rec.s2.eq(new2),
            Cat(rec.first_last, rec.first_lanes).eq(Cat(*_RowWalk.plan(p, row.length))),
            ra.w_en.eq(valid & last), ra.w_data.eq(rec),
        ]


class _Elementwise(Elaboratable):
    """Second pass: per value, softmax's exponential (and the row's sum of
    them), GELU and requantize; LayerNorm's values and the loads pass as
    they are. Hands each row's record, through the per-row pipeline
    (:func:`_row_math`), to the output pass."""

    def __init__(self, p, qa, ra, qb, rb):
        self.p, self.qa, self.ra, self.qb, self.rb = p, qa, ra, qb, rb

    def elaborate(self, platform):
        m = Module()
        self.platform = platform
        p, qa, ra, qb, rb = self.p, self.qa, self.ra, self.qb, self.rb
        walk = _RowWalk(m, p, "elementwise")
        incoming = data.View(_row_a(p), ra.r_data)
        row = Signal(_row_a(p))
        room, take, start = Signal(), Signal(), Signal()
        m.d.comb += [take.eq(walk.busy & qa.r_rdy & room), qa.r_en.eq(take)]
        free = ~walk.busy | (walk.last & take)
        m.d.comb += [start.eq(free & ra.r_rdy & _row_room(m, p, rb, start)), ra.r_en.eq(start)]
        with m.If(take):
            walk.advance(m)
        with m.If(start):
            m.d.sync += row.eq(incoming)
            walk.start(m, incoming.length, (incoming.first_last, incoming.first_lanes))

        beat = _Beat.capture(m, p, take, qa.r_data, walk, row, "e")
        words, write, total, total_at = self._values(m, beat)
        # the valids of the beats that queue B must still take
        m.d.comb += room.eq(ar.Credits(m, p.fifo_depth, qb.level, beat.valids[:write + 1]).room)
        at = beat.at(len(beat.valids) - 1)
        m.d.comb += [qb.w_en.eq(at.valid), qb.w_data.eq(Cat(words))]

        done = beat.at(total_at)
        acc = Signal(unsigned(p.sum_bits))
        new = Mux(done.first, 0, acc) + total
        with m.If(done.valid):
            m.d.sync += acc.eq(new)
        valid, rec = _row_math(m, p, done.valid & done.last, beat.row_at(total_at),
                               new[:p.sum_bits], platform)
        m.d.comb += [rb.w_en.eq(valid), rb.w_data.eq(rec)]
        return m

    def _values(self, m, beat):
        """Per lane, the word written to queue B; the beat's sum of
        exponentials with the stage it is ready at; the stage of the words.
        Each value's stage (cycles after the beat was taken) is counted as it
        is made, and row constants are delayed to the stage that uses them."""
        p = self.p
        b0 = beat.at(0)
        op, row = b0.row.op, b0.row
        d_max = (1 << p.d_bits) - 1
        mult = ar.register(m, row.mult, "mult")
        words, exps = [], []
        for n in range(p.lanes):
            if n % 2 == 0:
                # a table per two lanes: a block RAM has two read ports
                exp_rom = Memory(shape=unsigned(p.exp_bits + 1), depth=1 << p.exp_index_bits,
                                 init=exp_table(p))
                gelu_rom = Memory(shape=unsigned(p.gelu_frac), depth=256, init=gelu_table(p))
                m.submodules[f"exp_rom{n // 2}"] = exp_rom
                m.submodules[f"gelu_rom{n // 2}"] = gelu_rom
            x = b0.word[n]
            d = row.max - x
            # d >= 0 in the row's lanes: saturating is a test of the top bits
            operand = ar.register(m, Mux(op == Op.SOFTMAX,
                                         Mux(d[p.d_bits:].any(), d_max, d[:p.d_bits]), x),
                                  f"operand{n}", signed(ACC_WIDTH + 1))
            prod, c = ar.multiply(m, operand, mult, f"prod{n}", self.platform)
            s_prod = 1 + c
            u = ar.rshift_round(m, prod, ar.delay(m, row.shift, s_prod - 1, f"shift{n}"), f"u{n}",
                                early=True)
            s_u = s_prod + 2
            # softmax: e = rshift_round(EXP[u mod 2**F], u >> F), then p
            read = exp_rom.read_port()
            z = u[p.exp_index_bits:]
            m.d.comb += read.addr.eq(u[:p.exp_index_bits])
            z = ar.register(m, Mux(z > p.exp_bits + 2, p.exp_bits + 2, z)[:5], f"z{n}")
            # the tables' reads end in a register: a block RAM's clock-to-output
            # is most of a cycle
            e = ar.rshift_round(m, ar.register(m, read.data, f"exp_q{n}"),
                                ar.register(m, z, f"z_q{n}"), f"e{n}")
            s_e = s_u + 4
            # e * (2**(prob_bits-1) - 1) by a shift and a subtraction: no DSP for a constant
            prob = ar.rshift_round(m, (e << (p.prob_bits - 1)) - e, Const(p.exp_bits, 5),
                                   f"p{n}")
            s_prob = s_e + 2
            exps.append(Mux(beat.at(s_e).lanes[n], e, 0))
            # GELU: v = relu(a) - GTAB[min(|a| >> (gelu_frac - 6), 255)], then requantize
            a = ar.register(m, ar.saturate(u, p.gelu_bits), f"a{n}")
            gread = gelu_rom.read_port()
            m.d.comb += gread.addr.eq(ar.register(m, _gelu_index(p, u), f"gaddr{n}"))
            a = ar.delay(m, a, 2, f"a_read{n}")
            v = ar.register(m, Mux(a > 0, a, 0) - ar.register(m, gread.data, f"gtab_q{n}"),
                            f"v{n}")
            s_v = s_u + 4
            if n == 0:
                gmult = ar.delay(m, row.mult2, s_v, "gmult", data=True)
            gprod, c = ar.multiply(m, v, gmult, f"gprod{n}",
                                   self.platform)
            s_gprod = s_v + c
            g = ar.rshift_round(m, gprod, ar.delay(m, row.shift2, s_gprod - 1, f"gshift{n}"),
                                f"g{n}", early=True)
            s_g = s_gprod + 2
            requant = ar.register(m, ar.saturate(u, p.out_bits), f"rq{n}")
            s_write = max(s_g, s_prob)
            op_w = beat.at(s_write).row.op
            at = lambda value, stage, what: ar.delay(m, value, s_write - stage, f"{what}{n}",
                                                     data=True)
            words.append(Mux(op_w == Op.SOFTMAX,
                             Cat(at(e, s_e, "e")[:p.exp_bits + 1], at(prob, s_prob, "p")[:p.prob_bits]),
                             Mux(op_w == Op.GELU, at(ar.saturate(g, p.out_bits).as_signed(), s_g, "g"),
                                 Mux(op_w == Op.REQUANT, at(requant, s_u + 1, "rq"),
                                     at(x, 0, "x"))))[:ACC_WIDTH])
        total, cycles = ar.tree(m, exps, lambda a, b: a + b, "sum")
        return words, s_write, total, s_e + cycles


def _gelu_index(p, u):
    """GELU's table index ``min(|saturate(u)| >> (gelu_frac - 6), 255)``,
    made from ``u`` beside the saturation rather than after it, so that it
    can be registered with ``a`` and drive the table's address from a
    register: where the saturation cannot reach the index's clamp (the
    default formats), only the low bits of ``u`` are negated."""
    s = p.gelu_frac - 6
    top = 8 + s                       # |u| >= 2**top clamps to 255
    if p.gelu_bits - 1 <= top:
        a = ar.saturate(u, p.gelu_bits)
        mag = Mux(a < 0, -a, a)[s:]
        return Mux(mag > 255, 255, mag)
    low = u[:top + 1].as_signed()
    near = (u[top:] == 0) | (u[top:] == (1 << (len(u) - top)) - 1)
    mag = Mux(low < 0, -low, low)[s:]
    return Mux(near & (mag <= 255), mag, 255)


def _row_math(m, p, valid, row, total, platform):
    """The per-row pipeline: from a row's record (and softmax's sum of
    exponentials) to the constants of its output pass. One row per cycle.

    Softmax: ``threshold = (theta * S) >> 32``, ``R = floor(2**(L+16) / S)``,
    the ``P V`` multiplier. LayerNorm: ``V = N*S2 - S1**2``, ``q = isqrt(V)``,
    ``R = floor(2**(L+15) / q)``, and ``a = N*R``, ``b = S1*R``,
    ``k = L + 15 - norm_frac`` so that ``n = rshift_round(y*a - b, k)``.
    Returns the valid and the record (:func:`_row_b`) at the end."""
    s1sq, c1 = ar.multiply(m, row.s1, row.s1, "s1sq", platform)
    ns2, c2 = ar.multiply(m, row.length, row.s2, "ns2", platform)
    th, c3 = ar.multiply(m, row.theta, total, "th", platform)
    t = max(c1, c2, c3)
    s1sq, ns2, th = (ar.delay(m, x, t - c, n) for x, c, n in
                     ((s1sq, c1, "s1sq"), (ns2, c2, "ns2"), (th, c3, "th")))
    var = ar.register(m, (ns2 - s1sq)[:p.var_bits], "var")
    threshold = ar.register(m, th >> THETA_BITS, "threshold")
    t += 1
    root, cq = ar.isqrt(m, var, "sqrt")
    t_root = t + cq
    total = ar.delay(m, total, t_root, "total", data=True)
    r = ar.delay(m, row, t_root, "row", data=True)
    # registered, so that the ring's read, this select and the normaliser's
    # leading-one detector are not one path
    divisor = ar.register(m, Mux(r.op == Op.SOFTMAX, total, root)[:p.divisor_bits], "divisor")
    norm, length = ar.normalize(m, divisor, "div")
    quotient, cd = ar.reciprocal(m, norm, RECIP_QUOTIENT_BITS, "recip")
    t_q = t_root + 3 + cd
    r = ar.delay(m, r, t_q - t_root, "row2", data=True)
    length = ar.delay(m, length, cd, "length", data=True)
    # the test ahead of the ring, so that only a select stands before the
    # multipliers' input registers
    root_zero = ar.delay(m, ar.register(m, root == 0, "root_zero"), t_q - t_root - 1,
                         "root_zero")
    # softmax: the P V multiplier; LayerNorm: a and b
    ln_r = Mux(root_zero, 0, quotient >> 1)
    prod, c1 = ar.multiply(m, r.mult2, quotient, "pv", platform)
    a, c2 = ar.multiply(m, r.length, ln_r, "a", platform)
    b, c3 = ar.multiply(m, r.s1, ln_r, "b", platform)
    row_mult = ar.rshift_round(m, prod, Const(RECIP_QUOTIENT_BITS - 1, 5), "row_mult")
    end = max(c1 + 2, c2, c3)
    t_end = t_q + end
    rec = Signal(_row_b(p), name="row_b")
    r = ar.delay(m, r, end, "row3", data=True)
    length = ar.delay(m, length, end, "length3", data=True)
    m.d.comb += [
        rec.op.eq(r.op), rec.length.eq(r.length), rec.argmax.eq(r.argmax), rec.shift2.eq(r.shift2),
        rec.threshold.eq(ar.delay(m, threshold, t_end - t, "threshold", data=True)),
        rec.row_mult.eq(ar.delay(m, row_mult, end - c1 - 2, "row_mult", data=True)),
        rec.row_shift.eq(r.shift2 + length - p.exp_bits - 1),
        rec.a.eq(ar.delay(m, a, end - c2, "a", data=True)),
        rec.b.eq(ar.delay(m, b, end - c3, "b", data=True)),
        rec.k.eq(length + 15 - p.norm_frac),
        rec.first_last.eq(r.first_last), rec.first_lanes.eq(r.first_lanes),
    ]
    return ar.delay(m, valid, t_end, "valid"), rec


class _Output(Elaboratable):
    """Third pass: applies each row's constants. Softmax: the keep mask and
    the probabilities with the row's ``P V`` multiplier; LayerNorm: the
    normalisation and the per-column modulation; GELU and requantize: their
    values. Rows that load gains or biases are written to the modulation
    memories here, in order with the rows that read them."""

    def __init__(self, p, qb, rb, oq):
        self.p, self.qb, self.rb, self.oq = p, qb, rb, oq

    def elaborate(self, platform):
        m = Module()
        self.platform = platform
        p, qb, rb, oq = self.p, self.qb, self.rb, self.oq
        walk = _RowWalk(m, p, "output")
        incoming = data.View(_row_b(p), rb.r_data)
        row = Signal(_row_b(p))
        room, take, start = Signal(), Signal(), Signal()
        m.d.comb += [take.eq(walk.busy & qb.r_rdy & room), qb.r_en.eq(take)]
        free = ~walk.busy | (walk.last & take)
        m.d.comb += [start.eq(free & rb.r_rdy), rb.r_en.eq(start)]
        with m.If(take):
            walk.advance(m)
        with m.If(start):
            m.d.sync += row.eq(incoming)
            walk.start(m, incoming.length, (incoming.first_last, incoming.first_lanes))

        beat = _Beat.capture(m, p, take, qb.r_data, walk, row, "o")
        values = self._values(m, beat)
        write = values["stage"]
        end = beat.at(write)
        loads = lambda s: (s.row.op == Op.LOAD_GAIN) | (s.row.op == Op.LOAD_BIAS)
        m.d.comb += room.eq(ar.Credits(m, OUT_QUEUE_DEPTH, oq.level,
                                       [s.valid & ~loads(s) for s in
                                        (beat.at(k) for k in range(write + 1))]).room)
        out = data.View(p.out_layout, Signal(p.out_layout.size, name="out"))
        softmax = end.row.op == Op.SOFTMAX
        late = beat.row_at(write)
        m.d.comb += [
            out.data.eq(Cat(Mux(end.lanes[n], values["data"][n], 0)[:p.data_width]
                            for n in range(p.lanes))),
            out.keep.eq(Mux(softmax, values["keep"] & end.lanes, 0)),
            out.row_mult.eq(Mux(softmax, late.row_mult, 0)),
            out.row_shift.eq(Mux(softmax, late.row_shift, 0)),
            out.last.eq(end.last),
            oq.w_en.eq(end.valid & ~loads(end)),
            oq.w_data.eq(out.as_value()),
        ]
        return m

    def _values(self, m, beat):
        p = self.p
        b0 = beat.at(0)
        row = b0.row
        n_bits = p.norm_frac + (p.len_bits + 1) // 2 + 3
        # per lane, n = rshift_round(y * a - b, k) and the modulation of n;
        # each value's stage is counted as it is made
        data_out, keep, ln_at = [], [], None
        for n in range(p.lanes):
            word = b0.word[n]
            y = word[:p.ln_bits].as_signed()
            prod, c = ar.multiply(m, y, row.a, f"ya{n}", self.platform)
            t = ar.register(m, prod - ar.delay(m, row.b, c, f"b{n}"), f"t{n}")
            norm = ar.rshift_round(m, t, ar.delay(m, row.k, c, f"k{n}"), f"n{n}", early=True)
            s_norm = c + 3
            norm = norm[:n_bits].as_signed()
            # read two stages early: the block RAM's slow clock-to-output
            # then ends in a register, not in the multiplier
            read_at = s_norm - 2
            if n == 0:
                gread, bread = self._modulation(m, beat, read_at)
                gdata = ar.register(m, gread.data, "gain_q")
                bdata = ar.register(m, bread.data, "bias_q")
            gain = gdata[n * p.mult_bits:][:p.mult_bits].as_signed()
            bias = bdata[n * ACC_WIDTH:][:ACC_WIDTH].as_signed()
            mod, c = ar.multiply(m, norm, gain, f"mod{n}", self.platform)
            s_mod = s_norm + c
            biased = ar.register(m, mod + ar.delay(m, bias, c, f"bias{n}"), f"biased{n}")
            if n == 0:
                mod_shift = ar.delay(m, row.shift2, s_mod, "ms", data=True)
            ln = ar.rshift_round(m, biased, mod_shift, f"ln{n}", early=True)
            ln_at = s_mod + 3
            e = word[:p.exp_bits + 1]
            index = b0.beat * p.lanes + n
            kept = ar.register(m, (e > row.threshold) | (index == row.argmax), f"keep{n}")
            prob = word[p.exp_bits + 1:][:p.prob_bits]
            op = beat.at(ln_at).row.op
            data_out.append(Mux(op == Op.SOFTMAX, ar.delay(m, prob, ln_at, f"prob{n}", data=True),
                                Mux(op == Op.LAYERNORM, ar.saturate(ln, p.out_bits),
                                    ar.delay(m, word[:p.out_bits].as_signed(), ln_at, f"w{n}",
                                             data=True))))
            keep.append(ar.delay(m, kept, ln_at - 1, f"keep{n}", data=True))
        return {"data": data_out, "keep": Cat(keep), "stage": ln_at}

    def _modulation(self, m, beat, stage):
        """The gain and bias memories, read at ``stage`` for the data a stage
        later. Loads are written at the stage LayerNorm reads at, so that a
        row reads what the loads before it wrote and none of those after it."""
        p = self.p
        m.submodules.gains = gains = Memory(
            shape=unsigned(p.mult_bits * p.lanes), depth=p.beats_max, init=[])
        m.submodules.biases = biases = Memory(
            shape=unsigned(ACC_WIDTH * p.lanes), depth=p.beats_max, init=[])
        at = beat.at(stage)
        word = ar.delay(m, beat.at(0).word.as_value(), stage, "load", data=True)
        for mem, op, width in ((gains, Op.LOAD_GAIN, p.mult_bits),
                               (biases, Op.LOAD_BIAS, ACC_WIDTH)):
            w = mem.write_port()
            m.d.comb += [w.en.eq(at.valid & (at.row.op == op)), w.addr.eq(at.beat),
                         w.data.eq(Cat(word[n * ACC_WIDTH:][:width] for n in range(p.lanes)))]
        gread, bread = gains.read_port(), biases.read_port()
        m.d.comb += [gread.addr.eq(at.beat), bread.addr.eq(at.beat)]
        return gread, bread

