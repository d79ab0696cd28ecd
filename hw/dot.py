"""An int multiply-accumulate dot product: the baseline the eager predictor is sized against."""

import dataclasses

from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .eager_logdot import accumulate, pipelined_sums
from .params import Params, check_int, param, resolve_params

__all__ = ["DotParams", "DotProduct", "DotAreaFloor"]


@dataclasses.dataclass(frozen=True)
class DotParams(Params):
    """Parameters of :class:`DotProduct` (the same meaning as :class:`exdisc.hw.eager_logdot.LogDotParams`).

    Members
    -------
    lanes, width, max_beats, tree_levels : int
    """
    lanes: int = param(16, "lanes L: element pairs per cycle")
    width: int = param(8, "signed operand width W in bits")
    max_beats: int = param(4, "longest dot product in beats of L elements")
    tree_levels: int = param(2, "adder-tree levels per pipeline stage")

    def __post_init__(self):
        check_int("lanes", self.lanes, min=1, max=256)
        check_int("width", self.width, min=2, max=18)
        check_int("max_beats", self.max_beats, min=1, max=1 << 16)
        check_int("tree_levels", self.tree_levels, min=1, max=8)

    @property
    def acc_bits(self):
        return 2 * self.width + ceil_log2(self.lanes * self.max_beats)

    @property
    def latency(self):
        tree = -(-ceil_log2(self.lanes) // self.tree_levels) if self.lanes > 1 else 0
        return 3 + tree

    @property
    def in_layout(self):
        return data.StructLayout({
            "a": data.ArrayLayout(signed(self.width), self.lanes),
            "b": data.ArrayLayout(signed(self.width), self.lanes),
            "last": unsigned(1),
        })

    @property
    def out_layout(self):
        return data.StructLayout({"acc": signed(self.acc_bits)})


class DotProduct(wiring.Component):
    """Signed integer dot product, ``L`` multipliers and an adder tree.

    The same pipeline and stream behaviour as :class:`exdisc.hw.eager_logdot.LogDotProduct`
    (operand register, product register, tree stages, accumulator; one beat
    per cycle; latency :attr:`DotParams.latency`), with real multipliers: it
    is the area reference of the log-domain predictor.

    Members
    -------
    i : In(stream.Signature(params.in_layout))
    o : Out(stream.Signature(params.out_layout))
        ``acc``: the exact dot product (never wraps within ``max_beats``).
    """

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(DotParams, params, kwargs)
        super().__init__({
            "i": In(stream.Signature(params.in_layout)),
            "o": Out(stream.Signature(params.out_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]
        a_q = [Signal(signed(p.width), name=f"a{j}") for j in range(p.lanes)]
        b_q = [Signal(signed(p.width), name=f"b{j}") for j in range(p.lanes)]
        prods = [Signal(signed(2 * p.width), name=f"p{j}") for j in range(p.lanes)]
        v1, l1, v2, l2 = Signal(), Signal(), Signal(), Signal()
        with m.If(advance):
            m.d.sync += [r.eq(x) for r, x in zip(a_q, self.i.payload.a)]
            m.d.sync += [r.eq(x) for r, x in zip(b_q, self.i.payload.b)]
            m.d.sync += [pr.eq(self._product(a, b)) for pr, a, b in zip(prods, a_q, b_q)]
            m.d.sync += [v1.eq(self.i.valid), l1.eq(self.i.payload.last), v2.eq(v1), l2.eq(l1)]
        shape = signed(p.acc_bits)
        sums, valid, last = pipelined_sums(m, [prods], lambda level: signed(2 * p.width + level),
                                           p.tree_levels, advance, v2, l2)
        accumulate(m, self.o, sums, ["acc"], shape, advance, valid, last)
        return m

    def _product(self, a, b):
        return a * b


class DotAreaFloor(DotProduct):
    """What :class:`DotProduct` costs without its multipliers.

    **Not a dot product**: an area reference for ``exdisc bench eager``, the
    unit's registers, adder tree and accumulator with each product register
    loaded with its two operands side by side (``2 W`` bits, the product's
    width), so that the difference to the unit is the cost of its ``L``
    multipliers.

    Members
    -------
    i, o : as :class:`DotProduct`
    """

    def _product(self, a, b):
        return Cat(a, b)
