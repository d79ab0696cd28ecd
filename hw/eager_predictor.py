"""The eager predictor: both log-domain stages and the row selector, composed."""

import dataclasses

from amaranth.hdl import Cat, Module, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .eager_logdot import REDUCE_STAGES, ROUNDINGS, LogDotParams, LogDotProduct, reduce_operand
from .params import Params, check_choice, check_int, param, resolve_params
from .queue import QueueParams, StreamQueue
from .eager_rowselect import MODES, RowSelectParams, RowSelector

__all__ = ["EagerParams", "EagerPredictor"]


@dataclasses.dataclass(frozen=True)
class EagerParams(Params):
    """Parameters of :class:`EagerPredictor`.

    Members
    -------
    tokens : int
        Sequence length ``T`` (2 to 1024): queries and keys per head.
    dim : int
        Model width ``d``, a multiple of ``lanes``: the length of a stage-1 dot product.
    head_dim : int
        Head width ``dh``, a multiple of ``lanes``: the length of a stage-2 dot product.
    lanes : int
        ``L``: element pairs per cycle in both stages.
    k1, k2 : int
        Leading ones kept per operand in stage 1 (``X . W``) and stage 2
        (``Qp . Kp``): 1 (FACT) or 2 (EXION's two-step).
    qk_width : int
        Signed width of the predicted ``Qp`` and ``Kp`` (stage-1 result plus
        bias), which stage 2 takes. At least the stage-1 result width plus one.
    mode, top_k :
        The row selector's (:class:`exdisc.hw.eager_rowselect.RowSelectParams`).
    rounding : str
        How both stages keep ``k`` powers of two per operand:
        ``"signed"`` (default, this project's change to the spec),
        ``"truncate"`` (the spec's; with ``k1 = k2 = 1``, FACT) or
        ``"half_up"`` (:class:`exdisc.hw.eager_logdot.LogDotParams`).
    """
    tokens: int = param(256, "sequence length T")
    dim: int = param(64, "model width d (stage-1 dot length)")
    head_dim: int = param(16, "head width dh (stage-2 dot length)")
    lanes: int = param(16, "lanes L: element pairs per cycle")
    k1: int = param(2, "leading ones per operand in stage 1", choices=(1, 2))
    k2: int = param(2, "leading ones per operand in stage 2", choices=(1, 2))
    qk_width: int = param(24, "signed width of Qp and Kp")
    mode: str = param("top_k", "selection: max_relative or top_k", choices=MODES)
    top_k: int = param(32, "k of top_k mode")
    rounding: str = param("signed", "powers of two kept: signed, truncate or half_up",
                          choices=ROUNDINGS)

    def __post_init__(self):
        check_int("tokens", self.tokens, min=2, max=1024)
        check_int("lanes", self.lanes, min=1, max=64)
        check_int("dim", self.dim, min=self.lanes, max=4096)
        check_int("head_dim", self.head_dim, min=self.lanes, max=1024)
        for name in ("dim", "head_dim"):
            if getattr(self, name) % self.lanes:
                raise ValueError(f"parameter {name!r} must be a multiple of lanes = {self.lanes}, "
                                 f"not {getattr(self, name)!r}")
        check_choice("k1", self.k1, (1, 2))
        check_choice("k2", self.k2, (1, 2))
        check_int("qk_width", self.qk_width, min=self.stage1.acc_bits + 2, max=32)
        check_choice("mode", self.mode, MODES)
        check_int("top_k", self.top_k, min=1, max=64)
        check_choice("rounding", self.rounding, ROUNDINGS)
        if self.stage2.acc_bits + 1 > 64:
            raise ValueError(f"parameter 'qk_width' gives {self.stage2.acc_bits + 1}-bit scores, "
                             f"more than 64; narrow it, not {self.qk_width!r}")

    @property
    def stage1(self):
        """The stage-1 unit: int8 ``X`` and weights, one signed result."""
        return LogDotParams(lanes=self.lanes, width=8, k=self.k1,
                            max_beats=self.dim // self.lanes, split=False, rounding=self.rounding)

    @property
    def stage2(self):
        """The stage-2 unit: ``Qp`` and ``Kp`` as the buffers hold them, log-encoded
        (``"half_up"``, which has no encoded form: ``qk_width``-bit integers)."""
        return LogDotParams(lanes=self.lanes, width=self.qk_width, k=self.k2,
                            max_beats=self.head_dim // self.lanes, split=False,
                            rounding=self.rounding, encoded=self.rounding != "half_up")

    @property
    def element_bits(self):
        """Bits of one buffered ``Qp`` or ``Kp`` value (stage 2's operand)."""
        return Shape.cast(self.stage2.element_layout).width

    @property
    def selector(self):
        return RowSelectParams(score_width=self.stage2.acc_bits + 1, row=self.tokens,
                               mode=self.mode, top_k=self.top_k)

    @property
    def score_width(self):
        return self.stage2.acc_bits + 1

    @property
    def words(self):
        """Buffer words of ``L`` values per token."""
        return self.head_dim // self.lanes

    @property
    def stage1_beats(self):
        """Beats of one head's stage 1: ``2 T dh`` dot products of ``d / L`` beats."""
        return 2 * self.tokens * self.head_dim * (self.dim // self.lanes)

    @property
    def stage2_beats(self):
        """Beats of one head's stage 2: ``T^2`` dot products of ``dh / L`` beats."""
        return self.tokens * self.tokens * self.words

    @property
    def in_layout(self):
        return data.StructLayout({
            "x": data.ArrayLayout(signed(8), self.lanes),
            "w": data.ArrayLayout(signed(8), self.lanes),
            "bias": signed(self.qk_width),
            "last": unsigned(1),
        })

    @property
    def out_layout(self):
        return self.selector.out_layout


class EagerPredictor(wiring.Component):
    """Predicts one head's attention mask from ``X``, ``Wq``, ``Wk`` and the biases.

    Stage 1 takes ``2 T dh`` dot products of length ``d`` on ``i``, in this
    order: for each token ``t``, the ``dh`` columns of ``Wq`` (with ``bq``)
    and then the ``dh`` columns of ``Wk`` (with ``bk``), each ``d / L`` beats
    of ``X[t]`` and the column, the bias on the last beat. A
    :class:`~exdisc.hw.eager_logdot.LogDotProduct` (``k1``) computes each, the bias is added
    and the value written into the ``Qp`` or ``Kp`` buffer (``T dh / L``
    words of ``L`` values, one LUT or block RAM each). A value is registered,
    reduced to the log domain (:func:`exdisc.hw.eager_logdot.reduce_operand`, pipelined:
    :data:`~exdisc.hw.eager_logdot.REDUCE_STAGES` more cycles; :attr:`EagerParams.stage2`)
    and written: one leading-one reduction per value here instead of ``2 L``
    per cycle in stage 2's lanes, and narrower buffers (``"half_up"``
    rounding keeps integers, written a cycle after the result). When the last is
    written, stage 2 reads ``Qp[i]`` and ``Kp[j]`` for every ``i`` and ``j``
    into a second :class:`~exdisc.hw.eager_logdot.LogDotProduct` (``k2``), whose scores
    ``Sp[i, j]`` stream into a :class:`~exdisc.hw.eager_rowselect.RowSelector`; ``o``
    gives one keep bit per ``(i, j)``, rows in order, ``last`` at ``j = T-1``.
    :func:`exdisc.golden.eager.predict_scores` with the selection is the bit-exact
    model (``Qp`` and ``Kp`` wrap at ``qk_width`` bits; the vectors check
    that they fit).

    Throughput: one beat per cycle in each stage, so one head takes about
    ``stage1_beats + stage2_beats`` cycles. The stages do not overlap: the
    next head's beats wait until stage 2 has read the buffers. Backpressure on
    ``o`` stalls stage 2 and loses nothing.

    Members
    -------
    i : In(stream.Signature(params.in_layout))
        Stage-1 beats: ``x`` and ``w`` (``L`` int8 each), ``bias``, ``last``.
    theta : In(unsigned(score_width))
        ``max_relative`` mode: the integer threshold, held while a head runs.
    o : Out(stream.Signature(params.out_layout))
        ``keep`` and ``last``, ``T`` per query row.
    """

    replicated_registers = StreamQueue.replicated_registers

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(EagerParams, params, kwargs)
        ports = {"i": In(stream.Signature(params.in_layout)),
                 "o": Out(stream.Signature(params.out_layout))}
        if params.mode == "max_relative":
            ports["theta"] = In(unsigned(params.score_width))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        L, qw, words, eb = p.lanes, p.qk_width, p.words, p.element_bits
        m.submodules.stage1 = s1 = LogDotProduct(p.stage1)
        m.submodules.stage2 = s2 = LogDotProduct(p.stage2)
        m.submodules.select = sel = RowSelector(p.selector)
        m.submodules.bias = bias = StreamQueue(QueueParams(width=qw, depth=16))
        bufs = {}
        for name in ("q", "k"):
            m.submodules[f"{name}_buf"] = bufs[name] = Memory(
                shape=unsigned(L * eb), depth=p.tokens * words, init=[])
        self.buffers = bufs      # for tests: the Qp and Kp words
        writes = {n: b.write_port(granularity=eb) for n, b in bufs.items()}
        reads = {n: b.read_port() for n, b in bufs.items()}
        taking, filling = self._stage1_input(m, s1, bias)
        self._stage1_results(m, s1, bias, writes, filling)
        self._stage2(m, s2, reads, taking, filling)
        self._scores(m, s2, sel)
        return m

    def _stage1_input(self, m, s1, bias):
        """A head's beats into stage 1, the bias of each dot product into a
        queue. Returns ``taking`` (a head's beats are taken) and ``filling``
        (its results are being written)."""
        p = self.params
        # -- stage 1: a head's beats in until its last dot product is taken (the next
        # head's results must not reach the buffers while stage 2 reads them); its
        # results written until the last; the bias waits in a queue for its result
        taking, filling = Signal(init=1), Signal(init=1)
        last_in = self.i.payload.last
        dots_in = Signal(range(2 * p.tokens * p.head_dim))
        m.d.comb += [
            s1.i.payload.a.eq(self.i.payload.x), s1.i.payload.b.eq(self.i.payload.w),
            s1.i.payload.last.eq(last_in),
            s1.i.valid.eq(self.i.valid & taking & (~last_in | bias.w.ready)),
            self.i.ready.eq(s1.i.ready & taking & (~last_in | bias.w.ready)),
            bias.w.valid.eq(self.i.valid & self.i.ready & last_in),
            bias.w.payload.eq(self.i.payload.bias),
        ]
        with m.If(bias.w.valid):
            m.d.sync += dots_in.eq(dots_in + 1)
            with m.If(dots_in == 2 * p.tokens * p.head_dim - 1):
                m.d.sync += [dots_in.eq(0), taking.eq(0)]
        return taking, filling

    def _stage1_results(self, m, s1, bias, writes, filling):
        """Each stage-1 result plus its bias, reduced to the log domain and
        written into the Qp or Kp buffer at its token and column."""
        p = self.params
        L, qw, words = p.lanes, p.qk_width, p.words
        # results in order: token t, Q then K, column j = jw * L + lane
        t, jw, lane = Signal(range(p.tokens)), Signal(range(words)), Signal(range(L))
        is_k = Signal()
        done1 = s1.o.valid & bias.r.valid
        value = (s1.o.payload.diff + bias.r.payload.as_signed())[:qw]
        m.d.comb += [s1.o.ready.eq(bias.r.valid), bias.r.ready.eq(s1.o.valid)]
        # the value and its place in a register, so that its reduction starts a cycle
        # (not a 24-bit adder) before the buffer; the reduction is pipelined too, and
        # stage 2 starts when the last value is written, not when it is computed
        last1 = (lane == L - 1) & (jw == words - 1) & is_k & (t == p.tokens - 1)
        wr_en, wr_k, wr_last = Signal(), Signal(), Signal()
        wr_value, wr_word, wr_lane = Signal(signed(qw)), Signal(range(p.tokens * words)), \
            Signal(range(L))
        m.d.sync += [wr_en.eq(done1), wr_last.eq(done1 & last1)]
        with m.If(done1):
            m.d.sync += [wr_value.eq(value), wr_word.eq(t * words + jw), wr_lane.eq(lane),
                         wr_k.eq(is_k)]

        def reg(value, name):
            return _register(m, value, name)

        if p.stage2.encoded:
            elem = Signal(p.stage2.element_layout)
            sign, found, pos, sub = reduce_operand(m, wr_value, p.stage2, "enc", reg)
            m.d.comb += [elem.sign.eq(sign), elem.found.eq(Cat(*found))]
            m.d.comb += [elem.pos[n].eq(pos[n]) for n in range(p.k2)]
            if p.stage2.signed_digits:
                m.d.comb += elem.sub.eq(sub)
            wr_data = elem.as_value()
            for _ in range(REDUCE_STAGES):
                wr_en, wr_k, wr_last, wr_word, wr_lane = (
                    reg(v, v.name) for v in (wr_en, wr_k, wr_last, wr_word, wr_lane))
        else:
            wr_data = wr_value.as_unsigned()
        with m.If(wr_last):
            m.d.sync += filling.eq(0)
        for name, wp in writes.items():
            m.d.comb += [wp.addr.eq(wr_word), wp.data.eq(wr_data.replicate(L))]
            mine = wr_en & (wr_k if name == "k" else ~wr_k)
            m.d.comb += wp.en.eq(Cat(*(mine & (wr_lane == n) for n in range(L))))
        with m.If(done1):
            m.d.sync += lane.eq(lane + 1)
            with m.If(lane == L - 1):
                m.d.sync += [lane.eq(0), jw.eq(jw + 1)]
            with m.If((lane == L - 1) & (jw == words - 1)):
                m.d.sync += [jw.eq(0), is_k.eq(~is_k)]
                with m.If(is_k):
                    m.d.sync += t.eq(t + 1)
                    with m.If(t == p.tokens - 1):
                        m.d.sync += t.eq(0)


    def _stage2(self, m, s2, reads, taking, filling):
        """Every ``(Qp[i], Kp[j])`` pair read from the buffers into stage 2, once
        the head's last value is written; then the next head may come in."""
        p = self.params
        L, words, eb = p.lanes, p.words, p.element_bits
        # -- stage 2: read Qp[qi] and Kp[ki] word by word into a register (the block
        # RAM's slow clock-to-out and stage 2's operand decode do not fit one cycle);
        # a stall holds all three steps, and the read port its data
        qi, ki = Signal(range(p.tokens)), Signal(range(p.tokens))
        w2 = Signal(range(words))
        rd_valid, rd_last, op_valid, op_last = Signal(), Signal(), Signal(), Signal()
        op_a, op_b = Signal(L * eb), Signal(L * eb)
        hold = op_valid & ~s2.i.ready
        issue = ~filling & ~hold
        for name, idx in (("q", qi), ("k", ki)):
            m.d.comb += [reads[name].addr.eq(idx * words + w2), reads[name].en.eq(~hold)]
        m.d.comb += [
            s2.i.valid.eq(op_valid),
            s2.i.payload.a.as_value().eq(op_a),
            s2.i.payload.b.as_value().eq(op_b),
            s2.i.payload.last.eq(op_last),
        ]
        with m.If(~hold):
            m.d.sync += [rd_valid.eq(issue), rd_last.eq(w2 == words - 1),
                         op_valid.eq(rd_valid), op_last.eq(rd_last),
                         op_a.eq(reads["q"].data), op_b.eq(reads["k"].data)]
        with m.If(issue):
            m.d.sync += w2.eq(w2 + 1)
            with m.If(w2 == words - 1):
                m.d.sync += [w2.eq(0), ki.eq(ki + 1)]
                with m.If(ki == p.tokens - 1):
                    m.d.sync += [ki.eq(0), qi.eq(qi + 1)]
                    with m.If(qi == p.tokens - 1):
                        m.d.sync += [qi.eq(0), filling.eq(1), taking.eq(1)]

    def _scores(self, m, s2, sel):
        """Stage 2's scores into the row selector, a row per query."""
        p = self.params
        col = Signal(range(p.tokens))
        with m.If(s2.o.valid & s2.o.ready):
            m.d.sync += col.eq(col + 1)
            with m.If(col == p.tokens - 1):
                m.d.sync += col.eq(0)
        m.d.comb += [
            sel.i.valid.eq(s2.o.valid), s2.o.ready.eq(sel.i.ready),
            sel.i.payload.score.eq(s2.o.payload.diff),
            sel.i.payload.last.eq(col == p.tokens - 1),
        ]
        if p.mode == "max_relative":
            m.d.comb += sel.i.payload.theta.eq(self.theta)
        wiring.connect(m, sel.o, wiring.flipped(self.o))


def _register(m, value, name):
    """``value`` through a register named ``{name}_q``."""
    q = Signal.like(value, name=f"{name}_q") if isinstance(value, Signal) \
        else Signal(value.shape(), name=f"{name}_q")
    m.d.sync += q.eq(value)
    return q
