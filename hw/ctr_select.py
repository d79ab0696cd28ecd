"""CTR's reuse decision: a step's latent difference in, each token's fresh bit out."""

import dataclasses
import enum

from types import SimpleNamespace

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .params import Params, check_int, param, resolve_params

__all__ = ["CtrSelectParams", "CtrSelector"]


@dataclasses.dataclass(frozen=True)
class CtrSelectParams(Params):
    """Parameters of :class:`CtrSelector`.

    Members
    -------
    tokens : int
        Tokens per step ``T`` (2 to 4096).
    values : int
        Latent values per token ``C * p * p`` (1 to 64), one beat per token.
    dz_width : int
        Signed width of a latent-difference value (2 to 32).
    hist_frac : int
        Fraction bits ``F`` of the reuse history (1 to 16).
    decay_shift : int
        The history's decay per step is ``1 - 2^-decay_shift`` (1 to 8).
    weight_shift : int
        The change's weight is ``w = 2^-weight_shift`` (0 to ``hist_frac``).
    radix_bits : int
        Bits of the selection threshold found per pass over the scores (1 to 4):
        more bits, fewer passes and ``2^radix_bits - 1`` counters.
    """
    tokens: int = param(256, "tokens per step T")
    values: int = param(4, "latent values per token (C * p * p), one beat per token")
    dz_width: int = param(16, "signed width of a latent-difference value")
    hist_frac: int = param(8, "fraction bits F of the reuse history")
    decay_shift: int = param(2, "history decay per step 1 - 2^-decay_shift")
    weight_shift: int = param(1, "weight of the change 2^-weight_shift")
    radix_bits: int = param(2, "threshold bits found per pass over the scores")

    def __post_init__(self):
        check_int("tokens", self.tokens, min=2, max=4096)
        check_int("values", self.values, min=1, max=64)
        check_int("dz_width", self.dz_width, min=2, max=32)
        check_int("hist_frac", self.hist_frac, min=1, max=16)
        check_int("decay_shift", self.decay_shift, min=1, max=8)
        check_int("weight_shift", self.weight_shift, min=0, max=self.hist_frac)
        check_int("radix_bits", self.radix_bits, min=1, max=4)

    @property
    def index_bits(self):
        return max(1, ceil_log2(self.tokens))

    @property
    def count_bits(self):
        """Width of the ``count`` field: room for counts above ``T``, flagged."""
        return self.tokens.bit_length() + 1

    @property
    def sum_width(self):
        """A token's sum of ``|dz|``."""
        return self.dz_width + ceil_log2(self.values)

    @property
    def total_width(self):
        return self.sum_width + ceil_log2(self.tokens)

    @property
    def hist_width(self):
        """The history stays at most ``2^(F + d) + 2^d - 1`` (``d``: decay_shift)."""
        return self.hist_frac + self.decay_shift + 1

    @property
    def score_width(self):
        h = (1 << (self.hist_frac + self.decay_shift)) + (1 << self.decay_shift) - 1
        m = self.values << (self.dz_width - 1)
        top = h * self.tokens * m + (self.tokens * m << (self.hist_frac - self.weight_shift))
        return top.bit_length()

    @property
    def passes(self):
        """Passes of the radix select over the scores."""
        return -(-self.score_width // self.radix_bits)

    @property
    def in_layout(self):
        return data.StructLayout({
            "dz": data.ArrayLayout(signed(self.dz_width), self.values),
            "count": unsigned(self.count_bits),
            "restart": unsigned(1),
        })

    @property
    def out_layout(self):
        return data.StructLayout({"fresh": unsigned(1), "last": unsigned(1)})

    @property
    def decision_cycles(self):
        """Cycles from a step's last beat's handshake to its first fresh bit's
        valid: the last sum's register (1), the score pass (``T + 3``: a token
        a cycle, the read, its register, the write), each select pass (``T + 3``: the same with the
        decision last), the output pass's read, register and output register
        (4)."""
        return 1 + self.tokens + 3 + self.passes * (self.tokens + 3) + 4

    @property
    def step_cycles(self):
        """Cycles of one step at full rate, beats in to last bit out."""
        return self.tokens + self.decision_cycles + self.tokens - 1


class Phase(enum.Enum):
    INGEST = 0
    SCORE = 1
    SELECT = 2
    DECIDE = 3
    EMIT = 4


class CtrSelector(wiring.Component):
    """CTR's reuse decision of one step (:mod:`exdisc.golden.ctr_select`).

    A step is ``T`` beats in, one token each in index order: its latent
    difference ``dz`` (``values`` signed integers); the first beat also
    carries ``count``, how many tokens to reuse (0 on a full step), and
    ``restart``, which takes every history as zero (the first step of a
    run). Then, with ``m[t] = sum |dz|`` and ``M = sum m`` (1 if that is
    0), the unit ranks the scores ``S = h * M + (T * m) << (F -
    weight_shift)`` and reuses the ``count`` smallest, ties to the lower
    index; it outputs one ``fresh`` bit per token in index order (``last`` on
    the last) and updates each token's history ``h <- h - (h >> decay_shift)
    + (2^F if reused)``.

    The passes, each one token a cycle: the ingest (sums to a block RAM,
    ``M`` accumulated), the score pass (``S`` to a block RAM, one multiply
    per token), ``passes`` passes of a radix select that find the
    ``count``-th smallest score ``radix_bits`` bits at a time, counting the
    tokens whose scores match the bits found so far, and the output pass
    (``S`` below the threshold, or equal to it within the remaining
    count), which writes the histories back. No sort, no divider. The unit
    takes a step's beats only when the previous step's last bit has left:
    :attr:`CtrSelectParams.step_cycles` per step at full rate, the decision
    :attr:`CtrSelectParams.decision_cycles` after the last beat.

    Members
    -------
    i : In(stream.Signature(params.in_layout))
        ``dz``, and on a step's first beat ``count`` and ``restart``.
    o : Out(stream.Signature(params.out_layout))
        ``fresh`` and ``last``, one per token.
    error : Out(1)
        Sticky: a step asked to reuse more than ``T`` tokens (it reuses all).
    """

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(CtrSelectParams, params, kwargs)
        super().__init__({
            "i": In(stream.Signature(params.in_layout)),
            "o": Out(stream.Signature(params.out_layout)),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.sums = sums = Memory(shape=unsigned(p.sum_width), depth=p.tokens, init=[])
        m.submodules.hist = hist = Memory(shape=unsigned(p.hist_width), depth=p.tokens, init=[])
        m.submodules.scores = scores = Memory(shape=unsigned(p.score_width), depth=p.tokens,
                                              init=[])
        ports = SimpleNamespace(sum_w=sums.write_port(), sum_r=sums.read_port(),
                                hist_w=hist.write_port(), hist_r=hist.read_port(),
                                score_w=scores.write_port(), score_r=scores.read_port())
        phase = Signal(Phase)
        advance = Signal()
        sweep = self._sweep(m, ports, advance)
        step = self._ingest(m, phase, ports, sweep)
        self._score(m, phase, ports, sweep, step)
        threshold = self._select(m, phase, ports, sweep, step)
        self._emit(m, phase, ports, sweep, step, threshold, advance)
        return m

    def _sweep(self, m, ports, advance):
        """Token addresses 0 to ``T - 1``, one a cycle while ``advance``, to the
        read ports of the sums, histories and scores (stage A); the block RAMs'
        data a cycle later (B), registered with its index a cycle after that
        (R: the block RAMs have no output register of their own, and their
        clock-to-out does not leave room for a multiply or a 36-bit compare).
        Every pass after the ingest is one sweep; ``start`` begins one."""
        p = self.params
        sweep = SimpleNamespace(start=Signal(), addr=Signal(p.index_bits), issuing=Signal(),
                                valid=Signal(), idx=Signal(p.index_bits), last=Signal(),
                                sum=Signal(p.sum_width), hist=Signal(p.hist_width),
                                score=Signal(p.score_width))
        b_valid, b_idx, b_last = Signal(), Signal(p.index_bits), Signal()
        for port in (ports.sum_r, ports.hist_r, ports.score_r):
            m.d.comb += [port.addr.eq(sweep.addr), port.en.eq(advance)]
        with m.If(advance):
            m.d.sync += [b_valid.eq(sweep.issuing),
                         sweep.valid.eq(b_valid), sweep.idx.eq(b_idx), sweep.last.eq(b_last),
                         sweep.sum.eq(ports.sum_r.data), sweep.hist.eq(ports.hist_r.data),
                         sweep.score.eq(ports.score_r.data)]
            with m.If(sweep.issuing):
                last = sweep.addr == p.tokens - 1
                m.d.sync += [b_idx.eq(sweep.addr), b_last.eq(last),
                             sweep.addr.eq(Mux(last, 0, sweep.addr + 1)),
                             sweep.issuing.eq(~last)]
        with m.If(sweep.start):
            m.d.sync += [sweep.issuing.eq(1), sweep.addr.eq(0)]
        return sweep

    def _ingest(self, m, phase, ports, sweep):
        """A beat a cycle: the token's sum registered, then written and added to
        the step's total; the count and restart of the step's first beat kept.
        Returns the step's state."""
        p = self.params
        idx = Signal(p.index_bits)
        total = Signal(p.total_width)
        count = Signal(range(p.tokens + 1))
        restart = Signal()
        beat = self.i.payload
        take = self.i.valid & self.i.ready
        s_valid, s_idx, s_sum = Signal(), Signal(p.index_bits), Signal(p.sum_width)
        s_last = s_valid & (s_idx == p.tokens - 1)
        m.d.comb += [
            # not the next step's first beat while this one's last is written
            self.i.ready.eq((phase == Phase.INGEST) & ~s_last),
            ports.sum_w.addr.eq(s_idx), ports.sum_w.data.eq(s_sum), ports.sum_w.en.eq(s_valid),
        ]
        m.d.sync += [s_valid.eq(take), s_idx.eq(idx), s_sum.eq(sum(abs(v) for v in beat.dz))]
        with m.If(take):
            m.d.sync += idx.eq(Mux(idx == p.tokens - 1, 0, idx + 1))
            with m.If(idx == 0):
                over = beat.count > p.tokens
                m.d.sync += [count.eq(Mux(over, p.tokens, beat.count)), restart.eq(beat.restart)]
                with m.If(over):
                    m.d.sync += self.error.eq(1)
        with m.If(s_valid):
            m.d.sync += total.eq(Mux(s_idx == 0, 0, total) + s_sum)
        with m.If(s_last):
            m.d.sync += phase.eq(Phase.SCORE)
            m.d.comb += sweep.start.eq(1)
        # a step that changed nothing ranks by history alone, as the golden model
        # does; made in the score pass's first cycle, not in the multiply's path
        with m.If((phase == Phase.SCORE) & (total == 0)):
            m.d.sync += total.eq(1)
        return SimpleNamespace(total=total, count=count, restart=restart)

    def _score(self, m, phase, ports, sweep, step):
        """Each token's score: its history times the total and its scaled sum
        from the read registers (R), registered, then added and written (C)."""
        p = self.params
        here = (phase == Phase.SCORE) & sweep.valid
        c_valid, c_idx = Signal(), Signal(p.index_bits)
        prod, scaled = Signal(p.score_width), Signal(p.score_width)
        h = Mux(step.restart, 0, sweep.hist)
        m.d.sync += [c_valid.eq(here), c_idx.eq(sweep.idx), prod.eq(h * step.total),
                     scaled.eq((sweep.sum * p.tokens) << (p.hist_frac - p.weight_shift))]
        m.d.comb += [ports.score_w.addr.eq(c_idx), ports.score_w.data.eq(prod + scaled),
                     ports.score_w.en.eq(c_valid)]
        # the select pass starts once the last score is written
        with m.If(c_valid & (c_idx == p.tokens - 1)):
            m.d.sync += phase.eq(Phase.SELECT)
            m.d.comb += sweep.start.eq(1)

    def _select(self, m, phase, ports, sweep, step):
        """The radix select: per pass, the tokens whose scores match the
        threshold's bits found so far are counted by their next digit (R);
        then the digit where the ``k``-th smallest falls is taken, and ``k``
        made its rank within that digit (DECIDE). Returns the threshold and the
        ties below it (``k``)."""
        p = self.params
        r = p.radix_bits
        width = p.passes * r
        radix = 1 << r
        prefix = Signal(width)                   # the threshold's bits found so far
        known = Signal(width)                    # which bits those are
        digit = [Signal(width, name=f"digit{d}") for d in range(radix)]  # d at this pass
        k = Signal(range(p.tokens + 1))
        # at_most[d]: the matching tokens whose digit is at most d, counted as
        # such so that the decision needs no sum of counts
        at_most = [Signal(range(p.tokens + 1), name=f"at_most{d}") for d in range(radix - 1)]
        pass_no = Signal(range(p.passes))
        first = width - r

        def reset():
            return [prefix.eq(0), known.eq(0), k.eq(step.count), pass_no.eq(0),
                    *[digit[d].eq(d << first) for d in range(radix)]]

        with m.If(sweep.start & (phase == Phase.SCORE)):
            m.d.sync += reset()
        here = (phase == Phase.SELECT) & sweep.valid
        score = sweep.score
        match = ((score ^ prefix) & known) == 0
        mask = digit[radix - 1]
        is_digit = [(score & mask) == digit[d] for d in range(radix - 1)]
        with m.If(here):
            for d in range(radix - 1):
                with m.If(match & Cat(is_digit[:d + 1]).any()):
                    m.d.sync += at_most[d].eq(at_most[d] + 1)
            with m.If(sweep.last):
                m.d.sync += phase.eq(Phase.DECIDE)

        with m.If(phase == Phase.DECIDE):
            # the k-th smallest has the first digit d with k <= at_most[d]; its
            # rank within that digit is k less the tokens of the digits below
            left = [Signal(signed(len(k) + 1), name=f"left{d}") for d in range(radix - 1)]
            m.d.comb += [left[d].eq(k - at_most[d]) for d in range(radix - 1)]
            chosen = Signal(range(radix))
            m.d.comb += chosen.eq(radix - 1)
            for d in reversed(range(radix - 1)):
                with m.If(left[d] <= 0):
                    m.d.comb += chosen.eq(d)
            for d in range(1, radix):
                with m.If(chosen == d):
                    m.d.sync += k.eq(left[d - 1])
            m.d.sync += [known.eq(known | mask), *[c.eq(0) for c in at_most]]
            for d in range(radix):
                with m.If(chosen == d):
                    m.d.sync += prefix.eq(prefix | digit[d])
            m.d.sync += [dg.eq(dg >> r) for dg in digit]
            with m.If(pass_no == p.passes - 1):
                m.d.sync += phase.eq(Phase.EMIT)
            with m.Else():
                m.d.sync += [phase.eq(Phase.SELECT), pass_no.eq(pass_no + 1)]
            m.d.comb += sweep.start.eq(1)
        return SimpleNamespace(value=prefix, ties=k)

    def _emit(self, m, phase, ports, sweep, step, threshold, advance):
        """The output pass, under backpressure: a token is reused if its score
        is below the threshold, or equal to it within the remaining ties; its
        fresh bit is registered out and its history written back."""
        p = self.params
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)
        here = (phase == Phase.EMIT) & sweep.valid
        score = sweep.score
        equal = score == threshold.value
        seen = Signal(range(p.tokens + 1))
        reused = (score < threshold.value) | (equal & (seen < threshold.ties))
        h = Mux(step.restart, 0, sweep.hist)
        m.d.comb += [ports.hist_w.addr.eq(sweep.idx),
                     ports.hist_w.data.eq(h - (h >> p.decay_shift) + (reused << p.hist_frac)),
                     ports.hist_w.en.eq(here & advance)]
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(here), self.o.payload.fresh.eq(~reused),
                         self.o.payload.last.eq(sweep.last)]
            with m.If(here):
                m.d.sync += seen.eq(Mux(sweep.last, 0, seen + equal))
        with m.If(self.o.valid & self.o.ready & self.o.payload.last):
            m.d.sync += phase.eq(Phase.INGEST)
