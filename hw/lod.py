"""Leading-one detector: positions of the one or two most significant set bits."""

import dataclasses

from amaranth.hdl import Module, Mux, Cat, Const, Signal, unsigned
from amaranth.lib import wiring, stream, data
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .params import Params, resolve_params, param, check_int, check_choice, check_bool


__all__ = ["LODParams", "LeadingOneDetector", "leading_ones"]


@dataclasses.dataclass(frozen=True)
class LODParams(Params):
    """Parameters of :class:`LeadingOneDetector`.

    Members
    -------
    width : int
        Input width ``W`` in bits, 1 to 1024.
    k : int
        Number of leading ones found: 1 (plain LOD) or 2 (EXION's two-step LOD).
    registered : bool
        Register the output stream (latency 1) instead of a combinational path.
    """
    width: int = param(16, "input width W in bits")
    k: int = param(2, "leading ones to find: 1 (plain) or 2 (two-step)", choices=(1, 2))
    registered: bool = param(False, "register the output (latency 1 instead of 0)")

    def __post_init__(self):
        check_int("width", self.width, min=1, max=1024)
        check_choice("k", self.k, (1, 2))
        check_bool("registered", self.registered)

    @property
    def pos_bits(self):
        """Width of one position field."""
        return max(1, ceil_log2(self.width))

    @property
    def latency(self):
        """Cycles from an input handshake to its output being valid."""
        return int(self.registered)

    @property
    def result_layout(self):
        """Layout of one result: ``pos`` (array of ``k`` positions, highest
        first) and ``found`` (bit ``j`` set when the ``j``-th one exists)."""
        return data.StructLayout({
            "pos": data.ArrayLayout(unsigned(self.pos_bits), self.k),
            "found": unsigned(self.k),
        })


class _Node:
    """Partial result of the reduction tree over a power-of-two slice of bits.

    ``found[j]`` says the slice has at least ``j + 1`` set bits; ``pos[j]`` is
    the position of the ``j``-th highest one inside the slice, 0 if absent.
    """
    def __init__(self, found, pos):
        self.found = found
        self.pos = pos


def _merge(hi, lo, k):
    """Combine two equal-width slices; ``hi`` holds the more significant bits.

    Each level adds one position bit (the half) and one 2:1 mux per position
    bit, so depth is ``log2(W)`` muxes instead of the ``W``-long priority chain.
    """
    p1 = Mux(hi.found[0], Cat(hi.pos[0], Const(1, 1)), Cat(lo.pos[0], Const(0, 1)))
    f1 = hi.found[0] | lo.found[0]
    if k == 1:
        return _Node([f1], [p1])
    # The second one is in `hi` when `hi` has two; else it is the first of `lo`
    # when `hi` has one; else it is the second of `lo`.
    p2 = Mux(hi.found[1], Cat(hi.pos[1], Const(1, 1)),
             Mux(hi.found[0], Cat(lo.pos[0], Const(0, 1)), Cat(lo.pos[1], Const(0, 1))))
    f2 = hi.found[1] | (hi.found[0] & lo.found[0]) | lo.found[1]
    return _Node([f1, f2], [p1, p2])


def _net(m, value, name):
    """``value`` through a combinational signal of ``m`` (or ``value`` itself
    without a module)."""
    if m is None or isinstance(value, Signal):
        return value
    sig = Signal(len(value), name=name)
    m.d.comb += sig.eq(value)
    return sig


def leading_ones(value, k, *, merge=_merge, m=None, name="lod"):
    """Combinational leading-one detection of ``value`` as Amaranth expressions.

    Returns ``(found, pos)``: lists of ``k`` one-bit and ``ceil(log2(W))``-bit
    expressions. Units that need an LOD inside a wider datapath (the eager
    predictor) call this directly instead of instantiating the component.
    ``merge`` exists so that tests can build a deliberately broken tree.

    With a module ``m``, ``value`` and every node of the tree are signals of
    ``m`` (named after ``name``). Amaranth emits an expression again wherever
    it is used, and each node is used about three times by the next level, so
    a bare tree of a negated operand repeats the negation hundreds of times
    per leaf (and Verilator spends minutes on the text). The logic is the
    same either way.
    """
    value = _net(m, value, f"{name}_in")
    width = len(value)
    levels = ceil_log2(width)
    leaves = [_Node([value[b] if b < width else Const(0, 1)] + [Const(0, 1)] * (k - 1),
                    [Const(0, 0)] * k)
              for b in range(1 << levels)]
    level = 0
    while len(leaves) > 1:
        leaves = [merge(leaves[i + 1], leaves[i], k) for i in range(0, len(leaves), 2)]
        level += 1
        if m is not None and len(leaves) > 1:
            leaves = [_Node([_net(m, f, f"{name}_l{level}_{n}_f{j}") for j, f in enumerate(node.found)],
                            [_net(m, q, f"{name}_l{level}_{n}_p{j}") for j, q in enumerate(node.pos)])
                      for n, node in enumerate(leaves)]
    root = leaves[0]
    pos_bits = max(1, levels)
    return root.found, [p if len(p) == pos_bits else Cat(p, Const(0, pos_bits - len(p)))
                        for p in root.pos]


class LeadingOneDetector(wiring.Component):
    """Leading-one detector with stream ports.

    For each input word (an unsigned magnitude of ``W`` bits) it reports the
    positions of its ``k`` most significant set bits, highest first, and
    whether each exists. Absent positions read 0.

    The logic is a balanced reduction tree, ``ceil(log2(W))`` levels of 2:1
    muxes deep. Latency is 0 cycles (combinational, ``o.ready`` passes to
    ``i.ready``) or 1 cycle with ``registered``; throughput is one word per
    cycle in both cases, also under backpressure.

    Parameters
    ----------
    params : LODParams
        Width, number of leading ones, output register. Keyword arguments
        build an :class:`LODParams` when ``params`` is not given.

    Members
    -------
    i : In(stream.Signature(unsigned(W)))
        Input magnitudes.
    o : Out(stream.Signature(params.result_layout))
        Results: ``pos`` (``k`` positions) and ``found`` (``k`` bits).
    """

    _merge = staticmethod(_merge)

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(LODParams, params, kwargs)
        super().__init__({
            "i": In(stream.Signature(unsigned(params.width))),
            "o": Out(stream.Signature(params.result_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        # Bare expressions here: the input is a port, so nothing heavy repeats,
        # and node signals would give ABC another, slower structure.
        found, pos = leading_ones(self.i.payload, p.k, merge=type(self)._merge)
        result = Cat(*pos, *found)
        if p.registered:
            # A plain pipeline register: it may load whenever it is empty or
            # being emptied, which keeps full throughput under backpressure.
            load = ~self.o.valid | self.o.ready
            m.d.comb += self.i.ready.eq(load)
            with m.If(load):
                m.d.sync += [
                    self.o.valid.eq(self.i.valid),
                    self.o.payload.as_value().eq(result),
                ]
        else:
            m.d.comb += [
                self.o.valid.eq(self.i.valid),
                self.i.ready.eq(self.o.ready),
                self.o.payload.as_value().eq(result),
            ]
        return m
