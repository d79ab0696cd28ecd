"""The eager predictor's row selector: a row of predicted scores in, a keep bitmask out."""

import dataclasses

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .params import Params, check_choice, check_int, param, resolve_params

__all__ = ["RowSelectParams", "RowSelector"]

MODES = ("max_relative", "top_k")


@dataclasses.dataclass(frozen=True)
class RowSelectParams(Params):
    """Parameters of :class:`RowSelector`.

    Members
    -------
    score_width : int
        Signed score width ``S`` (2 to 64).
    row : int
        Longest row ``T`` (2 to 4096); rows end with ``last`` and may be shorter.
    mode : str
        ``max_relative``: keep ``j`` with ``s_j >= max(s) - theta``;
        ``top_k``: keep the ``top_k`` largest, ties to the lower index
        (:func:`exdisc.golden.eager_rowselect.select_max_relative`, :func:`exdisc.golden.eager_rowselect.select_top_k`).
    top_k : int
        ``k`` of ``top_k`` mode (1 to 64; ignored in ``max_relative`` mode).
    """
    score_width: int = param(48, "signed score width S")
    row: int = param(256, "longest row T (keys per query)")
    mode: str = param("max_relative", "selection: max_relative or top_k", choices=MODES)
    top_k: int = param(32, "k of top_k mode")

    def __post_init__(self):
        check_int("score_width", self.score_width, min=2, max=64)
        check_int("row", self.row, min=2, max=4096)
        check_choice("mode", self.mode, MODES)
        check_int("top_k", self.top_k, min=1, max=64)

    @property
    def index_bits(self):
        return ceil_log2(self.row)

    @property
    def in_layout(self):
        fields = {"score": signed(self.score_width), "last": unsigned(1)}
        if self.mode == "max_relative":
            fields["theta"] = unsigned(self.score_width)
        return data.StructLayout(fields)

    @property
    def out_layout(self):
        return data.StructLayout({"keep": unsigned(1), "last": unsigned(1)})

    @property
    def latency(self):
        """Cycles from the handshake of a row's ``last`` score to its first keep bit
        (when the previous row has left): the threshold (two cycles in ``top_k``
        mode: compare with the ``k``-th, then count), the hand-over, the read, the
        read register, the compare."""
        return 6 if self.mode == "top_k" else 5


class RowSelector(wiring.Component):
    """Selects the keys of one query row from their predicted scores.

    The scores of a row arrive one per cycle and are written to one of two
    row banks while the row's statistic is tracked: the maximum
    (``max_relative``), or the ``k`` largest in a sorted register chain
    (``top_k``, an insertion sorter whose ties keep arrival order). When the
    row's ``last`` score arrives, the threshold is fixed and the row is read
    back from its bank, one keep bit per score in arrival order, while the next
    row fills the other bank. Throughput is one score per cycle, sustained
    across rows; a row's first keep bit follows its last score by
    :attr:`RowSelectParams.latency` cycles. ``theta`` (``max_relative``) is
    taken from the row's last beat.

    Members
    -------
    i : In(stream.Signature(params.in_layout))
        ``score``, ``last`` and, in ``max_relative`` mode, ``theta``.
    o : Out(stream.Signature(params.out_layout))
        ``keep`` and ``last``, one per input score.
    """

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(RowSelectParams, params, kwargs)
        super().__init__({
            "i": In(stream.Signature(params.in_layout)),
            "o": Out(stream.Signature(params.out_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.mem = mem = Memory(shape=signed(p.score_width), depth=2 << p.index_bits,
                                        init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        banks = self._banks()
        row = self._writer(m, wr, banks)
        statistic = (self._maximum if p.mode == "max_relative" else self._top_k)(m, row)
        self._hand_over(m, banks, row, statistic)
        self._reader(m, rd, banks)
        return m

    def _banks(self):
        """The state of the two row banks."""
        p = self.params
        # full: the bank holds a row (the writer waits); pending: its row is still to be
        # read. A bank stops being pending when its last score is read, and stops being
        # full only when its last keep bit has left, which is later.
        full = Signal(2)
        pending = Signal(2)
        length = [Signal(p.index_bits + 1, name=f"length{b}") for b in range(2)]
        # per bank: the threshold, and for top_k whether the row had k scores and how
        # many ties of the k-th value fit
        thr = [Signal(signed(p.score_width + 2), name=f"thr{b}") for b in range(2)]
        enough = [Signal(name=f"enough{b}") for b in range(2)]
        room = [Signal(range(p.top_k + 1), name=f"room{b}") for b in range(2)]
        return SimpleNamespace(full=full, pending=pending, length=length, thr=thr,
                               enough=enough, room=room)

    def _writer(self, m, wr, banks):
        """Scores in, written to the bank being filled. Returns the row's state."""
        wbank, widx = Signal(), Signal(self.params.index_bits)
        score = self.i.payload.score
        take = self.i.valid & self.i.ready
        m.d.comb += [
            self.i.ready.eq(~banks.full.bit_select(wbank, 1)),
            wr.addr.eq(Cat(widx, wbank)), wr.data.eq(score), wr.en.eq(take),
        ]
        start = Signal(init=1)
        with m.If(take):
            m.d.sync += [widx.eq(Mux(self.i.payload.last, 0, widx + 1)),
                         start.eq(self.i.payload.last)]
        return SimpleNamespace(wbank=wbank, widx=widx, score=score, take=take, start=start,
                               done=take & self.i.payload.last)

    def _maximum(self, m, row):
        """max_relative: the row's maximum and theta. Returns the threshold, and
        the ``enough`` and ``room`` of the bank (constants in this mode)."""
        p = self.params
        best = Signal(signed(p.score_width))
        best_n = Mux(row.start | (row.score > best), row.score, best)
        with m.If(row.take):
            m.d.sync += best.eq(best_n)
        theta = Signal(p.score_width)
        with m.If(row.done):
            m.d.sync += theta.eq(self.i.payload.theta)
        # evaluated in the cycle after the row's last score, from the registers; room
        # is unused here, but loading it keeps the netlist its baseline was timed on
        return SimpleNamespace(thr=best - theta, enough=1, room=0)

    def _top_k(self, m, row):
        """top_k: the ``k`` largest scores in a sorted register chain (insertion,
        ties keep arrival order). Returns the k-th as the threshold, whether the
        row had k scores, and what the count of the scores above the k-th needs."""
        p = self.params
        k = p.top_k
        regs = [Signal(signed(p.score_width), name=f"top{i}") for i in range(k)]
        count = Signal(range(k + 1))
        n = Mux(row.start, 0, count)
        # insertion point: the first slot that is empty or holds a smaller score
        gt = [(n <= i) | (row.score > regs[i]) for i in range(k)]
        nxt = [Mux(gt[0], row.score, regs[0])] + [
            Mux(gt[i], Mux(gt[i - 1], regs[i - 1], row.score), regs[i]) for i in range(1, k)]
        n_next = Mux(n == k, k, n + 1)
        with m.If(row.take):
            m.d.sync += [r.eq(v) for r, v in zip(regs, nxt)]
            m.d.sync += count.eq(n_next)
        # evaluated in the cycle after the row's last score, from the registers (the
        # next row may replace them in the cycle after): which are above the k-th.
        # They are counted a cycle later: k - 1 compares of score_width bits and
        # their count would be one long path in one cycle.
        kth = regs[k - 1]
        above = Signal(max(1, k - 1))
        return SimpleNamespace(
            thr=kth, enough=count == k, room=None, above=above,      # room: counted later
            above_next=Cat((v > kth) for v in regs[:k - 1]) if k > 1 else Const(0, 1))

    def _hand_over(self, m, banks, row, statistic):
        """The row's statistic becomes its threshold one cycle after its last
        score (the compare-and-insert and the threshold arithmetic are two carry
        chains; they get a cycle each), and only then is the row handed to the
        reader."""
        p = self.params
        fin, fin_bank = Signal(), Signal()
        m.d.sync += [fin.eq(row.done), fin_bank.eq(row.wbank)]
        with m.If(row.done):
            for b in range(2):
                with m.If(row.wbank == b):
                    m.d.sync += banks.length[b].eq(row.widx + 1)
            m.d.sync += [banks.full.bit_select(row.wbank, 1).eq(1), row.wbank.eq(~row.wbank)]
        with m.If(fin):
            for b in range(2):
                with m.If(fin_bank == b):
                    m.d.sync += [banks.thr[b].eq(statistic.thr),
                                 banks.enough[b].eq(statistic.enough)]
                    if statistic.room is not None:
                        m.d.sync += banks.room[b].eq(statistic.room)
        if p.mode == "max_relative":
            ready, ready_bank = fin, fin_bank
        else:
            # top_k: the count of the scores above the k-th, a cycle after the compares
            ready, ready_bank = Signal(), Signal()
            m.d.sync += [ready.eq(fin), ready_bank.eq(fin_bank)]
            with m.If(fin):
                m.d.sync += statistic.above.eq(statistic.above_next)
            with m.If(ready):
                for b in range(2):
                    with m.If(ready_bank == b):
                        m.d.sync += banks.room[b].eq(p.top_k - sum(statistic.above))
        with m.If(ready):
            m.d.sync += banks.pending.bit_select(ready_bank, 1).eq(1)

    def _reader(self, m, rd, banks):
        """Issue a read (A), register what the block RAM returns (B), compare it
        (C) into the output register; one global stall holds them all, and the
        read port's enable keeps its data while stalled."""
        p = self.params
        s_w, ib = p.score_width, p.index_bits
        full, pending, length = banks.full, banks.pending, banks.length
        thr, enough, room = banks.thr, banks.enough, banks.room
        rbank, ridx = Signal(), Signal(ib)
        b_valid, b_bank, b_last = Signal(), Signal(), Signal()
        o_bank = Signal()
        advance = ~self.o.valid | self.o.ready
        cur_len = Mux(rbank, length[1], length[0])
        issue = pending.bit_select(rbank, 1)
        m.d.comb += [rd.addr.eq(Cat(ridx, rbank)), rd.en.eq(advance)]
        with m.If(advance):
            m.d.sync += b_valid.eq(issue)
            with m.If(issue):
                last = ridx + 1 == cur_len
                m.d.sync += [b_bank.eq(rbank), b_last.eq(last), ridx.eq(Mux(last, 0, ridx + 1))]
                with m.If(last):
                    m.d.sync += [rbank.eq(~rbank), pending.bit_select(rbank, 1).eq(0)]

        # a register right after the block RAM: its clock-to-out (no output register
        # without instantiating the primitive) and the 48-bit compare do not fit one cycle
        c_valid, c_bank, c_last = Signal(), Signal(), Signal()
        value = Signal(signed(s_w))
        with m.If(advance):
            m.d.sync += [c_valid.eq(b_valid), c_bank.eq(b_bank), c_last.eq(b_last),
                         value.eq(rd.data)]
        c_thr = Mux(c_bank, thr[1], thr[0])
        if p.mode == "max_relative":
            keep = value >= c_thr
        else:
            ties = Signal(range(p.row + 1))
            c_room = Mux(c_bank, room[1], room[0])
            c_enough = Mux(c_bank, enough[1], enough[0])
            tie = c_enough & (value == c_thr)
            keep = ~c_enough | (value > c_thr) | (tie & (ties < c_room))
            with m.If(advance & c_valid):
                m.d.sync += ties.eq(Mux(c_last, 0, ties + tie))
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(c_valid), self.o.payload.keep.eq(keep),
                         self.o.payload.last.eq(c_last), o_bank.eq(c_bank)]
        # the bank is freed when its last keep bit leaves, not when it is read, so
        # that its threshold stays valid under backpressure
        with m.If(self.o.valid & self.o.ready & self.o.payload.last):
            m.d.sync += full.bit_select(o_bank, 1).eq(0)
