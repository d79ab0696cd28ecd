"""Output-stationary systolic multiply-accumulate array."""

import dataclasses

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import Params, resolve_params, check_choice, check_int, check_optional_int, param
from .platform import is_ecp5
from .queue import LATENCY as QUEUE_LATENCY, QueueParams, StreamQueue


__all__ = ["SystolicParams", "SystolicArray"]


# ECP5 LFE5U-85F has 156 MULT18X18D; keep a few for the rest of a core.
DEFAULT_DSP_BUDGET = 144


@dataclasses.dataclass(frozen=True)
class SystolicParams(Params):
    """Parameters of :class:`SystolicArray`.

    Members
    -------
    rows, cols : int
        Array size ``R x C`` (1 to 64 each).
    width : int
        Operand width in bits (signed), 2 to 18.
    acc_width : int
        Accumulator width in bits (signed, wrapping), at least ``2 * width``.
    mul_stages : int
        Pipeline registers between the operand registers and the
        accumulator adder: 1 (product register), 2 (also a register inside
        the multiplier: half sums for logic PEs, a second product register for
        DSP PEs), 3 or 4. From 3 on, a DSP PE's multiplier takes its operands
        from the PE's operand registers instead of beside them, and each
        further stage is a product register: every route between the fabric
        and a DSP row then has a cycle of its own. A logic PE's multiplier
        adds one level of its partial-product tree per stage (pairs from 3
        on). Never 0: a combinational
        multiplier into the accumulator limits Fmax.
    dsp_pes : int or None
        How many PEs (row-major from PE (0, 0)) use a DSP multiplier (yosys
        maps ``*`` to MULT18X18D); the others use a LUT/carry-chain
        shift-and-add multiplier. None (the default) means ``min(R * C,
        144)``: every PE while the array fits the LFE5U-85F's DSPs, with a
        few left for the rest of a core.
    lanes : int
        Merge lanes ``D`` (1, 2, 4 or 8). With ``D > 1`` every B beat carries
        ``D`` operands per column and every PE multiplies by the lane its
        select names, or idles (see :class:`SystolicArray`). ``D = 1`` is the
        dense engine.
    """
    rows: int = param(4, "array rows R")
    cols: int = param(4, "array columns C")
    width: int = param(8, "signed operand width in bits")
    acc_width: int = param(32, "signed accumulator width in bits (wraps)")
    mul_stages: int = param(2, "pipeline registers in the multiplier path (1 to 4)", choices=(1, 2, 3, 4))
    dsp_pes: int = param(None, "PEs with a DSP multiplier, row-major", auto="min(R*C, 144)")
    lanes: int = param(1, "merge lanes D per column (1: the dense engine)", choices=(1, 2, 4, 8))

    def __post_init__(self):
        check_int("rows", self.rows, min=1, max=64)
        check_int("cols", self.cols, min=1, max=64)
        check_int("width", self.width, min=2, max=18)
        check_int("acc_width", self.acc_width, min=2 * self.width, max=64)
        check_int("mul_stages", self.mul_stages, min=1, max=4)
        check_optional_int("dsp_pes", self.dsp_pes, min=0, max=self.rows * self.cols)
        check_int("lanes", self.lanes, min=1, max=8)
        check_choice("lanes", self.lanes, (1, 2, 4, 8))

    @property
    def pes(self):
        return self.rows * self.cols

    @property
    def dsp_count(self):
        """PEs that use a DSP multiplier."""
        return min(self.pes, DEFAULT_DSP_BUDGET) if self.dsp_pes is None else self.dsp_pes

    @property
    def tile_spacing(self):
        """Minimum cycles between the last beats of two tiles: a tile shorter
        than this waits before its last beat is accepted."""
        return max(self.rows, self.cols)

    @property
    def merged(self):
        """Whether the array has merge lanes (``D > 1``): a ``sel`` port and
        an operand-select stage in every PE."""
        return self.lanes > 1

    @property
    def select_stages(self):
        """Pipeline registers that merge lanes add: the input stage (in step
        with the staged selects' load) and the operand-select register; 2
        with merge lanes, else 0."""
        return 2 * int(self.merged)

    @property
    def first_spacing(self):
        """Minimum cycles between the first beats of two tiles with merge
        lanes (1 without): a tile's select waits in one staging register per
        PE until the tile's first beat has passed PE ``(R-1, C-1)``."""
        return self.rows + self.cols - 1 if self.merged else 1

    @property
    def drain_delay(self):
        """Cycles from the handshake of a tile's last beat to the cycle its
        row 0 is written into the output queue."""
        return 3 + self.mul_stages + self.select_stages + self.cols

    @property
    def fifo_depth(self):
        """Result rows the output queue holds. Room for a tile is reserved
        when its last beat is accepted, ``drain_delay`` cycles before its
        first row is written; to never stall back-to-back tiles with a
        consumer that keeps up, the queue holds the new tile plus every older
        tile that may still have rows in it then (a row leaves at the
        earliest ``Q = 7`` cycles after it is written, the queue's latency,
        and its credit can be spent three cycles after that: two registers
        and the counter's): ``R * (1 + floor((drain_delay + R + Q + 1) /
        tile_spacing))``."""
        return self.rows * (1 + (self.drain_delay + self.rows + QUEUE_LATENCY + 1)
                            // self.tile_spacing)

    @property
    def latency(self):
        """Cycles from the last beat's handshake to row 0 on the output
        (output queue empty, no backpressure)."""
        return self.drain_delay + QUEUE_LATENCY

    @property
    def select_layout(self):
        """One PE's operand select: ``on`` (else the PE multiplies by 0) and
        the merge ``lane``."""
        return data.StructLayout({"lane": unsigned(max(1, (self.lanes - 1).bit_length())),
                                  "on": unsigned(1)})

    @property
    def a_layout(self):
        fields = {"col": data.ArrayLayout(signed(self.width), self.rows)}
        if self.merged:
            fields["sel"] = data.ArrayLayout(self.select_layout, self.rows)
        fields["last"] = unsigned(1)
        return data.StructLayout(fields)

    @property
    def b_layout(self):
        if self.merged:
            return data.ArrayLayout(data.ArrayLayout(signed(self.width), self.lanes), self.cols)
        return data.ArrayLayout(signed(self.width), self.cols)

    @property
    def sel_layout(self):
        """A tile's selects, indexed ``[column][row]`` (a conflict vector per column)."""
        return data.ArrayLayout(data.ArrayLayout(self.select_layout, self.rows), self.cols)

    @property
    def o_layout(self):
        return data.StructLayout({"row": data.ArrayLayout(signed(self.acc_width), self.cols),
                                  "last": unsigned(1)})


def _logic_products(a, b, width, bits=None):
    """Signed shift-and-add partial products of ``a * b`` (the MSB of ``b``
    has negative weight), for the bits of ``b`` in ``bits`` (default all).
    Written out so that yosys builds LUT/carry logic rather than inferring a
    DSP block."""
    terms = []
    for i in range(width) if bits is None else bits:
        pp = (a << i) if i else a
        term = (b[i].replicate(len(pp)) & pp.as_unsigned()).as_signed()
        terms.append(-term if i == width - 1 else term)
    return terms


def _sum(terms):
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


class SystolicArray(wiring.Component):
    """Output-stationary ``R x C`` array of multiply-accumulate PEs.

    PE ``(r, c)`` accumulates ``sum_k A[r, k] * B[k, c]`` of a tile. A tile
    is a sequence of ``K >= 1`` beats, each a handshake on both ``a`` (a
    column of A and the ``last`` flag) and ``b`` (a row of B); ``K`` is
    unbounded. Operands are skewed inside the array, so the beat entering at
    cycle ``T`` reaches PE ``(r, c)`` at ``T + 1 + r + c``. Products wrap to
    ``acc_width`` bits (two's complement), exactly like
    :func:`exdisc.golden.systolic.tile_result`.

    When a tile's last beat passes a PE, its sum moves to a result register
    and the accumulator restarts, so the next tile accumulates while this one
    drains: one row per cycle into an output queue, starting
    :attr:`SystolicParams.drain_delay` cycles after the last beat.

    Throughput: one beat per cycle. A last beat is accepted only when (1) at
    least :attr:`~SystolicParams.tile_spacing` ``= max(R, C)`` cycles have passed
    since the previous last beat (so a drain never overlaps the next one's
    result registers) and (2) the output queue has room reserved for the
    tile's ``R`` rows; other beats are never stalled. Back-to-back tiles with
    ``K >= max(R, C)`` and a consumer that keeps up therefore run without a
    stall. Latency: :attr:`~SystolicParams.latency` cycles from the last beat
    to row 0 of the result.

    Parameters
    ----------
    params : SystolicParams

    Members
    -------
    a : In(stream.Signature(params.a_layout))
        ``col``: A[:, k] (R signed operands); ``last``: the tile's last beat.
    b : In(stream.Signature(params.b_layout))
        B[k, :] (C signed operands). Transfers together with ``a``.
    o : Out(stream.Signature(params.o_layout))
        Result rows 0 to R-1 of each tile in order; ``last`` marks row R-1.
    sel : In(stream.Signature(params.sel_layout))
        Only with merge lanes (``D > 1``): the tile's select of every PE,
        ``sel[c][r]`` (the conflict vector of column ``c``). Transfers
        together with the tile's first beat.

    Merge lanes
    -----------
    With ``D > 1``, ``b[c]`` carries ``D`` operands (lanes) and ``a`` a
    per-row select ``a.sel[r]`` besides ``a.col[r]``. PE ``(r, c)``
    multiplies ``a.col[r]`` by lane ``sel[c][r].lane | a.sel[r].lane`` of
    ``b[c]`` when both ``sel[c][r].on`` and ``a.sel[r].on`` are set, and by 0
    otherwise. The tile select merges logical *output* columns into one
    physical column (output-sparse GEMM, the driver sends ``a.sel`` as lane 0,
    on); the row select, which changes every beat, merges *reduction* steps
    whose rows are disjoint (input-sparse GEMM, ``sel`` all lane 0, on). A
    register stage in each PE applies the select, and beats pass an input
    stage while the tile's selects load, so the latency grows by
    :attr:`~SystolicParams.select_stages` (2), and a tile's first beat waits
    until :attr:`~SystolicParams.first_spacing` ``= R + C - 1`` cycles have
    passed since the previous first beat: back-to-back tiles run without a stall
    when ``K >= R + C - 1``. :func:`exdisc.golden.systolic.merged_tile_result` is
    the bit-exact model.
    """

    # Registers that are functionally identical along an anti-diagonal of the
    # array (every PE's copy of a beat's tag, every PE's drain timer) or
    # within a PE (copies of a product or of the operands). Merged, one
    # register would drive a whole diagonal or PE; the synthesis flow keeps
    # them apart (synth.flow) so that each drives its own loads.
    replicated_registers = ("*_tag", "*_mtag*", "*_ptag", "*_ltag", "*_dsel_*",
                            "*_prod", "*_prod_copy", "*_mop_*", *StreamQueue.replicated_registers)

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(SystolicParams, params, kwargs)
        ports = {
            "a": In(stream.Signature(params.a_layout)),
            "b": In(stream.Signature(params.b_layout)),
            "o": Out(stream.Signature(params.o_layout)),
        }
        if params.merged:
            ports["sel"] = In(stream.Signature(params.sel_layout))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.queue = queue = StreamQueue(QueueParams(
            width=len(self.o.payload.as_value()), depth=p.fifo_depth))
        credits, since_last, first, since_first, last_ok, fire, fire_last = self._admission(m)
        fire_first, pending = (self._stage_selects(m, fire, first, since_first, last_ok)
                               if p.merged else (None, None))
        self._spacing_and_credits(m, credits, since_last, fire_last)
        a_in, b_in = self._skew(m, fire, fire_last, fire_first)
        results, drain_sel = self._pe_grid(m, platform, a_in, b_in, pending)
        self._drain(m, queue, results, drain_sel)
        return m

    def _admission(self, m):
        """Every beat is taken when both inputs offer one; a last beat only
        when the output queue has room reserved for the tile's rows and the
        previous drain is far enough ahead (and with merge lanes, a first
        beat only with its selects). Returns the counters and the handshake."""
        p = self.params
        # Queue rows not yet promised to a tile. A tile takes R when its last
        # beat is accepted (its rows are written later, on a fixed schedule,
        # and cannot wait); a row read by the consumer gives one back. Kept as
        # a counter so the admission test is a compare with a constant, not
        # arithmetic on the queue's level in the ready path.
        credits = Signal(range(p.fifo_depth + 1), init=p.fifo_depth)
        since_last = Signal(range(p.tile_spacing + 1), init=p.tile_spacing)
        room = Signal()
        m.d.comb += room.eq((credits >= p.rows) & (since_last >= p.tile_spacing))

        last_ok = ~self.a.payload.last | room
        first = since_first = None
        if p.merged:
            # A tile's first beat also takes its selects, once the previous
            # tile's selects have left the staging registers.
            first = Signal(init=1)
            since_first = Signal(range(p.first_spacing + 1), init=p.first_spacing)
            first_ok = ~first | (self.sel.valid & (since_first >= p.first_spacing))
            last_ok = last_ok & first_ok
        fire = Signal()
        m.d.comb += [
            self.a.ready.eq(self.b.valid & last_ok),
            self.b.ready.eq(self.a.valid & last_ok),
            fire.eq(self.a.valid & self.b.valid & last_ok),
        ]
        return credits, since_last, first, since_first, last_ok, fire, fire & self.a.payload.last

    def _stage_selects(self, m, fire, first, since_first, last_ok):
        """Merge lanes: a tile's selects, taken with its first beat, wait in one
        register per PE until the tile's first beat passes that PE. Returns the
        first beat's handshake and the staged selects ``[r][c]``."""
        p = self.params
        fire_first = fire & first
        m.d.comb += self.sel.ready.eq(self.a.valid & self.b.valid & last_ok & first)
        with m.If(fire):
            m.d.sync += first.eq(self.a.payload.last)
        with m.If(fire_first):
            m.d.sync += since_first.eq(1)
        with m.Elif(since_first < p.first_spacing):
            m.d.sync += since_first.eq(since_first + 1)
        # The staged selects load a cycle after the handshake, from a copy of
        # the payload taken every cycle and under a registered enable (one per
        # row), so the handshake's logic does not drive every PE's enable
        # across the array. The input stage (_skew) delays the beats by the
        # same cycle.
        sel_q = Signal(p.sel_layout, name="sel_payload_q")
        m.d.sync += sel_q.eq(self.sel.payload)
        pending = [[Signal(p.select_layout, name=f"pe{r}_{c}_pending") for c in range(p.cols)]
                   for r in range(p.rows)]
        for r in range(p.rows):
            load = Signal(name=f"sel_load{r}_tag")
            m.d.sync += load.eq(fire_first)
            with m.If(load):
                m.d.sync += [pending[r][c].eq(sel_q[c][r]) for c in range(p.cols)]
        return fire_first, pending

    def _spacing_and_credits(self, m, credits, since_last, fire_last):
        """The cycles since the last tile's last beat, and the credit count: a
        tile takes its rows' credits, and a row read by the consumer gives one
        back."""
        p = self.params
        with m.If(fire_last):
            m.d.sync += since_last.eq(1)
        with m.Elif(since_last < p.tile_spacing):
            m.d.sync += since_last.eq(since_last + 1)
        # A row read by the consumer gives its credit back two cycles later:
        # the consumer's ready then reaches one register by the queue's
        # output, and the second is free to sit by the counter (fifo_depth
        # counts the cycle). Both next counts come from registers only and
        # the handshake picks one, so the admission logic (room, then the
        # handshake) does not feed a carry chain in the same cycle. ``keep``
        # stops yosys sharing the two adders.
        popped = Signal()
        popped_q = Signal(name="popped_q")
        if_keep = Signal.like(credits, name="credits_if_keep", attrs={"keep": 1})
        if_take = Signal.like(credits, name="credits_if_take", attrs={"keep": 1})
        m.d.comb += [if_keep.eq(credits + popped_q), if_take.eq(credits - p.rows + popped_q)]
        m.d.sync += [
            popped.eq(self.o.valid & self.o.ready),
            popped_q.eq(popped),
            credits.eq(Mux(fire_last, if_take, if_keep)),
        ]

    def _skew(self, m, fire, fire_last, fire_first):
        """Row ``r`` of A enters ``r`` cycles late with its tag (valid, last and
        with merge lanes first), column ``c`` of B ``c`` cycles late. Returns
        ``a_in`` (per row: operand, tag, row select or None) and ``b_in``."""
        p = self.params
        # (valid, last[, first]) travels with A. One chain serves all rows (row
        # r taps it after r registers), so `fire` drives a few registers, not R.
        # With merge lanes every beat first passes an input stage, in step
        # with the staged selects' load.
        entry = int(p.merged)
        tag_skew = [_delayed(m, [Cat(fire, fire_last, fire_first) if p.merged
                                 else Cat(fire, fire_last)], entry, "tag_in")[0]]
        for r in range(1, p.rows):
            tag_skew.append(_delayed(m, [tag_skew[-1]], 1, f"tag_skew{r}")[0])
        # Operands, products and results are held in registers without a
        # reset: they are read only under a valid tag (the accumulator,
        # which a tile's first beat adds to, keeps its reset). A reset mux in
        # front of each would put a LUT between every DSP and its product
        # register.
        a_in = [(_delayed(m, [self.a.payload.col[r]], r + entry, f"skew_a{r}", reset_less=True)[0],
                 tag_skew[r],
                 _delayed(m, [self.a.payload.sel[r].as_value()], r + entry, f"skew_s{r}",
                          reset_less=True)[0]
                 if p.merged else None)
                for r in range(p.rows)]
        b_in = [_delayed(m, [self.b.payload[c].as_value() if p.merged else self.b.payload[c]],
                         c + entry, f"skew_b{c}", reset_less=True)[0] for c in range(p.cols)]
        return a_in, b_in

    def _pe_grid(self, m, platform, a_in, b_in, pending):
        """The PEs: A and its tag move right, B moves down. Returns every PE's
        result register and its drain selects ``[r][c]``."""
        p = self.params
        R, C = p.rows, p.cols
        # what each PE passes on: (a, tag, row select) to the right, b down
        passed = [[None] * C for _ in range(R)]
        results = [[None] * C for _ in range(R)]
        drain_sel = [[None] * C for _ in range(R)]
        for r in range(R):
            for c in range(C):
                left = a_in[r] if c == 0 else passed[r][c - 1][:3]
                above = b_in[c] if r == 0 else passed[r - 1][c][3]
                passed[r][c], results[r][c], drain_sel[r][c] = self._pe(
                    m, platform, r, c, left, above, pending[r][c] if p.merged else None)
        return results, drain_sel

    def _pe(self, m, platform, r, c, left, above, pending):
        """PE ``(r, c)``: its pass-on registers, the operand select (merge
        lanes), the multiplier, the accumulator and result register, and the
        drain select. Returns ``((a, tag, row select, b) passed on, result,
        drain selects)``."""
        p = self.params
        W, C = p.width, p.cols
        name = f"pe{r}_{c}"
        a_src, tag_src, sel_src = left
        b_src = above
        a_q = a_pass = Signal(signed(W), name=f"{name}_a", reset_less=True)
        tag_q = tag_pass = Signal(len(tag_src), name=f"{name}_tag")
        b_q = b_pass = Signal(len(b_src) if p.merged else signed(W), name=f"{name}_b",
                              reset_less=True)
        m.d.sync += [a_q.eq(a_src), tag_q.eq(tag_src), b_q.eq(b_src)]
        use_dsp = r * C + c < p.dsp_count
        sel_pass = None
        if p.merged:
            sel_q = sel_pass = Signal(len(sel_src), name=f"{name}_rsel")
            m.d.sync += sel_q.eq(sel_src)
            # The multiplier's operands are the select stage's, a cycle
            # behind the registers that pass A and B on.
            a_src, b_src = a_q, self._select(m, b_q, sel_q, tag_q, pending, name)
            tag_q = Signal(2, name=f"{name}_sel_tag")
            m.d.sync += tag_q.eq(tag_pass[:2])
            if use_dsp:
                a_q = Signal(signed(W), name=f"{name}_op_a", reset_less=True)
                b_q = Signal(signed(W), name=f"{name}_op_b", reset_less=True)
                m.d.sync += [a_q.eq(a_src), b_q.eq(b_src)]

        # From here (a_src, b_src) are the sources of the multiplier's
        # operand registers (a_q, b_q), loaded in the same cycle.
        if not use_dsp:
            (prod_q, prod_r), (ptag_q, res_tag) = self._logic_multiplier(
                m, a_src, b_src, tag_q, name)
        elif is_ecp5(platform):
            # From mul_stages 3 the DSP's input registers take the PE's
            # operand registers rather than the same sources: the B chain
            # then has a fabric register next to each DSP, and the route from
            # the previous PE, which may cross the DSP row, gets a cycle of
            # its own.
            dsp_a, dsp_b = (a_q, b_q) if p.mul_stages >= 3 else (a_src, b_src)
            (prod_q, prod_r), (ptag_q, res_tag) = self._ecp5_multiplier(
                m, dsp_a, dsp_b, tag_q, name)
        else:
            (prod_q, prod_r), (ptag_q, res_tag) = self._multiplier(m, a_q, b_q, tag_q, name)
        acc = Signal(signed(p.acc_width), name=f"{name}_acc")
        res = Signal(signed(p.acc_width), name=f"{name}_res", reset_less=True)
        # The enables and the accumulator's clear come straight from tag
        # flip-flops (an AND of the tag bits would sit in front of every
        # enable). The result register has its own copy of the tag, so
        # neither net drives more than a PE's 32 bits. Each register has its
        # own adder: nextpnr packs a flip-flop with a carry chain only when
        # the chain drives it alone, and with one adder for both neither is
        # packed, so the accumulator loop would cross the fabric twice.
        with m.If(ptag_q[1]):
            m.d.sync += acc.eq(0)
        with m.Elif(ptag_q[0]):
            m.d.sync += acc.eq(acc + prod_q)
        with m.If(res_tag):
            m.d.sync += res.eq(acc + prod_r)
        # Row r is complete C - c cycles after this PE captured; each PE times
        # its own turn, so no select net fans out across the array. The last
        # register is copied, one copy per byte of the result, so that no net
        # drives all 32 AND terms of the drain.
        early = _delayed(m, [res_tag], C - c - 1, f"{name}_dsel")[0]
        drain = []
        for k in range(-(-p.acc_width // 8)):
            copy = Signal(name=f"{name}_dsel_copy{k}")
            m.d.sync += copy.eq(early)
            drain.append(copy)
        return (a_pass, tag_pass, sel_pass, b_pass), res, drain

    def _drain(self, m, queue, results, drain_sel):
        """Row ``r`` leaves its result registers ``drain_delay - 2 + r`` cycles
        after the last beat, into the output queue, through a two-stage
        registered AND-OR: pairs of rows next to each other first (one LUT per
        bit), then the pairs, so no path crosses the array in one cycle."""
        p = self.params
        R, C = p.rows, p.cols
        pairs = [list(range(r, min(r + 2, R))) for r in range(0, R, 2)]
        pair_q = [Signal(C * p.acc_width, name=f"drain_pair{n}", reset_less=True)
                  for n in range(len(pairs))]
        for n, rows_in_pair in enumerate(pairs):
            for c in range(C):
                terms = [Cat(sel.replicate(8) for sel in drain_sel[r][c])[:p.acc_width]
                         & results[r][c].as_unsigned()
                         for r in rows_in_pair]
                value = terms[0] if len(terms) == 1 else terms[0] | terms[1]
                m.d.sync += pair_q[n][c * p.acc_width:(c + 1) * p.acc_width].eq(value)
        row_q = Signal(C * p.acc_width, name="drain_row", reset_less=True)
        row_value = pair_q[0]
        for q in pair_q[1:]:
            row_value = row_value | q
        m.d.sync += row_q.eq(row_value)
        push_any = Cat(*(drain_sel[r][C - 1][0] for r in range(R))).any()
        push_d = Signal(name="drain_push_d")
        last_d = Signal(name="drain_last_d")
        push_q = Signal(name="drain_push")
        last_q = Signal(name="drain_last")
        m.d.sync += [
            push_d.eq(push_any), last_d.eq(drain_sel[R - 1][C - 1][0]),
            push_q.eq(push_d), last_q.eq(last_d),
        ]
        m.d.comb += [
            queue.w.valid.eq(push_q),
            queue.w.payload.eq(Cat(row_q, last_q)),
        ]
        m.d.comb += [
            self.o.valid.eq(queue.r.valid),
            self.o.payload.as_value().eq(queue.r.payload),
            queue.r.ready.eq(self.o.ready),
        ]

    def _select(self, m, lanes_q, row_sel_q, tag_q, pending, name):
        """The operand of this PE from the ``D`` lanes in ``lanes_q``: the tile
        select (``pending`` in the cycle the tile's first beat is here, then
        held in ``active``) combined with the beat's row select, or 0."""
        p = self.params
        active = Signal(p.select_layout, name=f"{name}_active")
        tile_sel = data.View(p.select_layout, Mux(tag_q[2], pending.as_value(), active.as_value()))
        m.d.sync += active.eq(tile_sel)
        row_sel = data.View(p.select_layout, row_sel_q)
        lane = tile_sel.lane | row_sel.lane
        lanes = data.View(data.ArrayLayout(signed(p.width), p.lanes), lanes_q)
        operand = Signal(signed(p.width), name=f"{name}_lane", reset_less=True)
        with m.Switch(lane):
            for d in range(p.lanes):
                with m.Case(d):
                    m.d.comb += operand.eq(lanes[d])
        return Mux(tile_sel.on & row_sel.on, operand, 0)

    def _ecp5_multiplier(self, m, a_src, b_src, tag_q, name):
        """The same product from an ECP5 MULT18X18D with registered inputs
        and its output register. Up to ``mul_stages == 2`` the inputs are the
        sources of ``a_q``/``b_q`` (the DSP's input registers hold what they
        hold), from 3 on ``a_q``/``b_q`` themselves. With ``mul_stages >= 2``
        fabric registers follow the DSP: the route from a DSP column to the
        accumulator's carry chain then has a cycle of its own."""
        p = self.params
        W = p.width
        ext = lambda v, n: [v[i] if i < W else v[W - 1] for i in range(n)]
        prod = Signal(signed(36), name=f"{name}_dsp_p")
        ports = {}
        for i, bit in enumerate(ext(a_src, 18)):
            ports[f"i_A{i}"] = bit
        for i, bit in enumerate(ext(b_src, 18)):
            ports[f"i_B{i}"] = bit
        for i in range(36):
            ports[f"o_P{i}"] = prod[i]
        m.submodules[f"{name}_dsp"] = Instance(
            "MULT18X18D",
            p_REG_INPUTA_CLK="CLK0", p_REG_INPUTB_CLK="CLK0",
            p_REG_PIPELINE_CLK="NONE",
            p_REG_OUTPUT_CLK="CLK0", p_GSR="DISABLED", p_RESETMODE="SYNC",
            i_SIGNEDA=1, i_SIGNEDB=1, i_SOURCEA=0, i_SOURCEB=0,
            i_CLK0=ClockSignal("sync"), i_CE0=1, i_RST0=0,
            **ports)
        fabric = p.mul_stages - 2 if p.mul_stages >= 3 else p.mul_stages - 1
        return (self._product_registers(m, prod[:2 * W].as_signed(), fabric, name),
                self._tag_pipeline(m, tag_q, name))

    def _product_registers(self, m, product, n, name):
        """``n`` registers after ``product``, the last one twice: one copy for
        the accumulator's adder, one for the result register's."""
        for k in range(n - 1):
            reg = Signal(signed(2 * self.params.width), name=f"{name}_prod_d{k}", reset_less=True)
            m.d.sync += reg.eq(product)
            product = reg
        if n == 0:
            return product, product
        prod_q = Signal(signed(2 * self.params.width), name=f"{name}_prod", reset_less=True)
        prod_r = Signal(signed(2 * self.params.width), name=f"{name}_prod_copy", reset_less=True)
        m.d.sync += [prod_q.eq(product), prod_r.eq(product)]
        return prod_q, prod_r

    def _tag_pipeline(self, m, tag_q, name):
        """The tag, ``mul_stages`` cycles later, in step with the product:
        (valid, valid and last), and a copy of the second bit for the result
        register, so that each drives enables directly."""
        tag = tag_q
        for k in range(self.params.mul_stages - 1):
            mid_tag = Signal(2, name=f"{name}_mtag{k or ''}")
            m.d.sync += mid_tag.eq(tag)
            tag = mid_tag
        ptag_q = Signal(2, name=f"{name}_ptag")
        ltag_q = Signal(name=f"{name}_ltag")
        m.d.sync += [ptag_q.eq(Cat(tag[0], tag[0] & tag[1])), ltag_q.eq(tag[0] & tag[1])]
        return ptag_q, ltag_q

    def _multiplier(self, m, a_q, b_q, tag_q, name):
        """Registered product of ``a_q * b_q`` and its tag, ``mul_stages``
        cycles later, from the ``*`` operator (a DSP block off the ECP5)."""
        p = self.params
        stage = a_q * b_q
        if p.mul_stages >= 2:
            mid = Signal(signed(2 * p.width), name=f"{name}_mul", reset_less=True)
            m.d.sync += mid.eq(stage)
            stage = mid
        return (self._product_registers(m, stage, max(1, p.mul_stages - 1), name),
                self._tag_pipeline(m, tag_q, name))

    def _logic_multiplier(self, m, a_src, b_src, tag_q, name):
        """The product in LUT/carry logic, ``mul_stages`` cycles after
        ``a_src``/``b_src``, and its tag.

        The partial products are summed by a tree of adders, one level per
        cycle: with ``mul_stages`` 1 all of them at once, with 2 two halves
        and then their sum, from 3 on pairs, then pairs of pairs. Each
        first-level adder has its own copy of A and of its bits of B (the
        ``*_mop_*`` registers, kept apart by the flow), loaded from the
        sources of the PE's operand registers in the same cycle: one operand
        register for the whole tree and the next PE would be a net to adders
        placed far apart.
        """
        p = self.params
        W = p.width
        size = W if p.mul_stages == 1 else (W + 1) // 2 if p.mul_stages == 2 else 2
        terms = []
        for g, lo in enumerate(range(0, W, size)):
            bits = range(lo, min(lo + size, W))
            a_op = Signal(signed(W), name=f"{name}_mop_a{g}", reset_less=True)
            b_op = Signal(len(bits), name=f"{name}_mop_b{g}", reset_less=True)
            m.d.sync += [a_op.eq(a_src), b_op.eq(b_src[lo:lo + len(bits)])]
            group = _sum(_logic_products(a_op, Cat(Const(0, lo), b_op), W, bits))
            if p.mul_stages == 1:
                terms.append(group)
                continue
            reg = Signal(signed(2 * W), name=f"{name}_pp0_{g}", reset_less=True)
            m.d.sync += reg.eq(group)
            terms.append(reg)
        # One adder level of the partial-product tree per further cycle: a half
        # sum of four partial products in one cycle is the logic PEs' longest
        # path.
        for k in range(1, p.mul_stages - 1):
            sums = []
            for i in range(0, len(terms), 2):
                reg = Signal(signed(2 * W), name=f"{name}_pp{k}_{i // 2}", reset_less=True)
                m.d.sync += reg.eq(_sum(terms[i:i + 2]))
                sums.append(reg)
            terms = sums
        return (self._product_registers(m, _sum(terms), 1, name),
                self._tag_pipeline(m, tag_q, name))


def _delayed(m, values, n, name, reset_less=False):
    """``values`` through ``n`` registers each (named ``{name}_{j}_d{i}``)."""
    for i in range(n):
        regs = [Signal.like(v, name=f"{name}_{j}_d{i}", reset_less=reset_less)
                for j, v in enumerate(values)]
        m.d.sync += [reg.eq(v) for reg, v in zip(regs, values)]
        values = regs
    return values
