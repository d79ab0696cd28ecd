"""The eager predictor's log-domain dot product: no multipliers, only exponent adds.

Each operand is reduced to its ``k`` leading ones by the LOD tree of
:mod:`hw.lod`; the product of two kept bits ``p`` and ``q`` is the one-hot
``2^(p + q)``, so a lane's product is the sum of ``k * k`` one-hot words, and
the dot product of ``L`` lanes is an adder tree. Products whose operand signs
differ go to the negative accumulator, the others to the positive one
(algorithms.md section 2; :func:`golden.eager.log_split` is the bit-exact
model).
"""

import dataclasses

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .lod import leading_ones
from .params import Params, check_choice, check_int, param, resolve_params

__all__ = ["LogDotParams", "LogDotProduct"]


@dataclasses.dataclass(frozen=True)
class LogDotParams(Params):
    """Parameters of :class:`LogDotProduct`.

    Members
    -------
    lanes : int
        Vector pairs of ``L`` elements are consumed per cycle (1 to 256).
    width : int
        Signed operand width ``W`` (2 to 32): 8 for the first stage (int8 ``X``
        and weights), wider for the second (the first stage's results).
    k : int
        Leading ones kept per operand: 1 (FACT) or 2 (EXION's two-step).
    max_beats : int
        Longest dot product, in beats of ``L`` elements; sizes the accumulators.
    tree_levels : int
        Adder-tree levels between pipeline registers (1 to 8).
    """
    lanes: int = param(16, "lanes L: element pairs per cycle")
    width: int = param(8, "signed operand width W in bits")
    k: int = param(2, "leading ones per operand: 1 (FACT) or 2 (two-step)", choices=(1, 2))
    max_beats: int = param(4, "longest dot product in beats of L elements")
    tree_levels: int = param(2, "adder-tree levels per pipeline stage")

    def __post_init__(self):
        check_int("lanes", self.lanes, min=1, max=256)
        check_int("width", self.width, min=2, max=32)
        check_choice("k", self.k, (1, 2))
        check_int("max_beats", self.max_beats, min=1, max=1 << 16)
        check_int("tree_levels", self.tree_levels, min=1, max=8)

    @property
    def pos_bits(self):
        return max(1, ceil_log2(self.width))

    @property
    def product_bits(self):
        """Bits of one lane's product: ``|x| <= 2^(W-1)``, so a product is at most ``2^(2W-2)``."""
        return 2 * self.width - 1

    @property
    def acc_bits(self):
        """Bits of each (unsigned) accumulator: ``L * max_beats`` products never overflow it."""
        return self.product_bits + ceil_log2(self.lanes * self.max_beats)

    @property
    def tree_stages(self):
        """Pipeline registers inside the adder tree."""
        return -(-ceil_log2(self.lanes) // self.tree_levels) if self.lanes > 1 else 0

    @property
    def latency(self):
        """Cycles from the handshake of a ``last`` beat to its result being valid:
        LOD register, lane-product register, the tree stages, the accumulator."""
        return 3 + self.tree_stages

    @property
    def in_layout(self):
        return data.StructLayout({
            "a": data.ArrayLayout(signed(self.width), self.lanes),
            "b": data.ArrayLayout(signed(self.width), self.lanes),
            "last": unsigned(1),
        })

    @property
    def out_layout(self):
        return data.StructLayout({"pos": unsigned(self.acc_bits), "neg": unsigned(self.acc_bits)})


def _magnitude(x, width):
    """``|x|`` of a signed value as ``width`` unsigned bits (``-2^(W-1)`` fits)."""
    return Mux(x[-1], -x, x).as_unsigned()[:width]


class LogDotProduct(wiring.Component):
    """Log-domain dot product with separate positive and negative accumulators.

    Each beat carries ``L`` pairs ``(a_i, b_i)``; the beats of one dot product
    end with ``last``. The result is ``pos`` and ``neg``, the sums of the
    log-domain products ``lod_k(a_i) * lod_k(b_i)`` that are positive and
    negative, each ``acc_bits`` wide and never wrapping for dot products of at
    most ``max_beats`` beats.

    Throughput is one beat per cycle. Latency from a ``last`` beat to its
    result is :attr:`LogDotParams.latency` cycles. The whole pipeline stalls
    while a result waits on ``o.ready``, so nothing is lost under
    backpressure.

    Members
    -------
    i : In(stream.Signature(params.in_layout))
        Operand beats: ``a``, ``b`` (``L`` signed elements each), ``last``.
    o : Out(stream.Signature(params.out_layout))
        One result per dot product: ``pos``, ``neg``.
    """

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(LogDotParams, params, kwargs)
        super().__init__({
            "i": In(stream.Signature(params.in_layout)),
            "o": Out(stream.Signature(params.out_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]

        # stage 1: magnitudes through the LOD trees, the product's sign
        s1_valid, s1_last = Signal(), Signal()
        lanes = []
        for j in range(p.lanes):
            a, b = self.i.payload.a[j], self.i.payload.b[j]
            fa, pa = leading_ones(_magnitude(a, p.width), p.k)
            fb, pb = leading_ones(_magnitude(b, p.width), p.k)
            regs = {
                "neg": Signal(name=f"l{j}_neg"),
                "fa": [Signal(name=f"l{j}_fa{t}") for t in range(p.k)],
                "fb": [Signal(name=f"l{j}_fb{t}") for t in range(p.k)],
                "pa": [Signal(p.pos_bits, name=f"l{j}_pa{t}") for t in range(p.k)],
                "pb": [Signal(p.pos_bits, name=f"l{j}_pb{t}") for t in range(p.k)],
            }
            with m.If(advance):
                m.d.sync += regs["neg"].eq(a[-1] ^ b[-1])
                for t in range(p.k):
                    m.d.sync += [regs["fa"][t].eq(fa[t]), regs["fb"][t].eq(fb[t]),
                                 regs["pa"][t].eq(pa[t]), regs["pb"][t].eq(pb[t])]
            lanes.append(regs)
        with m.If(advance):
            m.d.sync += [s1_valid.eq(self.i.valid), s1_last.eq(self.i.payload.last)]

        # stage 2: each lane's product as a sum of one-hot words, steered by sign
        s2_valid, s2_last = Signal(), Signal()
        pos_terms, neg_terms = [], []
        for j, regs in enumerate(lanes):
            prod = Const(0, p.product_bits)
            for ta in range(p.k):
                for tb in range(p.k):
                    one = Mux(regs["fa"][ta] & regs["fb"][tb],
                              Const(1, p.product_bits) << (regs["pa"][ta] + regs["pb"][tb]), 0)
                    prod = prod + one
            pr, nr = Signal(p.product_bits, name=f"l{j}_pos"), Signal(p.product_bits, name=f"l{j}_nr")
            with m.If(advance):
                m.d.sync += [pr.eq(Mux(regs["neg"], 0, prod[:p.product_bits])),
                             nr.eq(Mux(regs["neg"], prod[:p.product_bits], 0))]
            pos_terms.append(pr)
            neg_terms.append(nr)
        with m.If(advance):
            m.d.sync += [s2_valid.eq(s1_valid), s2_last.eq(s1_last)]

        sums, valid, last = pipelined_sums(m, [pos_terms, neg_terms], unsigned(p.acc_bits), p.tree_levels,
                                           advance, s2_valid, s2_last)
        accumulate(m, self.o, sums, ["pos", "neg"], unsigned(p.acc_bits), advance, valid, last)
        return m


def pipelined_sums(m, term_lists, shape, levels, advance, valid, last, name="t"):
    """Adder trees over each list of ``term_lists``, a register every ``levels`` levels.

    All registers load on ``advance``; ``valid`` and ``last`` travel with the
    sums. Returns ``(sums, valid, last)`` after the final register.
    """
    level = 0
    while len(term_lists[0]) > 1:
        term_lists = [[sum(t[i:i + 2]) for i in range(0, len(t), 2)] for t in term_lists]
        level += 1
        if level % levels == 0 or len(term_lists[0]) == 1:
            stage = f"{name}{level}"
            regs = [[Signal(shape, name=f"{stage}_{j}_{i}") for i in range(len(t))]
                    for j, t in enumerate(term_lists)]
            nv, nl = Signal(name=f"{stage}_valid"), Signal(name=f"{stage}_last")
            with m.If(advance):
                for r, t in zip(regs, term_lists):
                    m.d.sync += [ri.eq(ti) for ri, ti in zip(r, t)]
                m.d.sync += [nv.eq(valid), nl.eq(last)]
            term_lists, valid, last = regs, nv, nl
    return [t[0] for t in term_lists], valid, last


def accumulate(m, out, sums, fields, shape, advance, valid, last):
    """Accumulate ``sums`` over the beats of a job into ``out.payload`` fields.

    A ``last`` beat loads the totals into the output register and restarts
    the sums; ``out`` stays valid until taken.
    """
    accs = [Signal(shape, name=f"acc_{f}") for f in fields]
    start = Signal(init=1)
    nxt = [Mux(start, 0, a) + s for a, s in zip(accs, sums)]
    with m.If(out.valid & out.ready):
        m.d.sync += out.valid.eq(0)
    with m.If(advance & valid):
        m.d.sync += [a.eq(n) for a, n in zip(accs, nxt)]
        m.d.sync += start.eq(last)
        with m.If(last):
            m.d.sync += out.valid.eq(1)
            m.d.sync += [out.payload[f].eq(n) for f, n in zip(fields, nxt)]
