"""The eager predictor's log-domain dot product: no multipliers, only exponent adds.

Each operand is reduced to ``k`` powers of two by the LOD tree of
:mod:`exdisc.hw.lod`; the product of two kept bits ``p`` and ``q`` is the one-hot
``2^(p + q)``, so a lane's product is the sum of ``k * k`` one-hot words, and
the dot product of ``L`` lanes is an adder tree. Products whose operand signs
differ go to the negative accumulator, the others to the positive one
(algorithms.md section 2; :func:`exdisc.golden.eager_logdot.log_split` is the bit-exact
model). With the default ``"signed"`` reduction an operand's second power
may be subtracted (``|x| ~ 2^p1 - 2^p2``); the lane then forms
``2^p1 - 2^p2`` and subtracts its second shift, and the product's magnitude
stays positive, so the accumulators are the same.
"""

import dataclasses

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .lod import leading_ones
from .params import Params, check_bool, check_choice, check_int, param, resolve_params

__all__ = ["LogDotParams", "LogDotProduct", "LogDotAreaFloor", "ROUNDINGS", "REDUCE_STAGES",
           "reduce_operand"]


#: How an operand keeps ``k`` powers of two (:func:`exdisc.golden.lod.keep_leading_ones`).
ROUNDINGS = ("truncate", "half_up", "signed")


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
    encoded : bool
        Operands arrive already in the log domain (sign, ``k`` positions,
        ``k`` found bits; see :attr:`element_layout`), as produced once per
        element by a :class:`exdisc.hw.lod.LeadingOneDetector` at the buffer input
        (activations) or offline (weights). Otherwise the unit takes signed
        integers and has its own magnitude and LOD logic in every lane.
    split : bool
        Separate positive and negative accumulators (``pos``, ``neg``: FACT's
        and EXION's organisation, the default) or one signed result ``diff``
        ``= pos - neg`` from a single adder tree over one's-complemented
        negative products (their ``+1`` corrections summed as a count), which
        is what the prediction uses and about half the adders.
    rounding : str
        How each operand keeps ``k`` powers of two
        (:func:`exdisc.golden.lod.keep_leading_ones`):

        * ``"signed"`` (default, **[choice]**, this project's change to the
          spec): two steps, each the power of two nearest to what is left;
          the second is subtracted when the first rounded up, so ``|x| ~
          2^p1 +- 2^p2``. Encoded operands then carry a ``sub`` bit.
        * ``"truncate"``: the ``k`` leading ones (the spec's definition).
        * ``"half_up"``: the leading ones rounded half up at the lowest kept
          bit; the carry moves the lowest position up by one or merges it
          into the highest. Integer operands only.
    """
    lanes: int = param(16, "lanes L: element pairs per cycle")
    width: int = param(8, "signed operand width W in bits")
    k: int = param(2, "leading ones per operand: 1 (FACT) or 2 (two-step)", choices=(1, 2))
    max_beats: int = param(4, "longest dot product in beats of L elements")
    tree_levels: int = param(2, "adder-tree levels per pipeline stage")
    encoded: bool = param(False, "operands arrive log-encoded (sign, positions, found)")
    split: bool = param(True, "separate pos/neg accumulators (else one signed diff)")
    rounding: str = param("signed", "powers of two kept: signed (nearest, then the residual), "
                          "truncate or half_up", choices=ROUNDINGS)

    def __post_init__(self):
        check_bool("encoded", self.encoded)
        check_bool("split", self.split)
        check_choice("rounding", self.rounding, ROUNDINGS)
        if self.rounding == "half_up" and self.encoded:
            raise ValueError("parameter 'rounding' 'half_up' needs integer operands "
                             "(encoded=False): encoded operands arrive already reduced")
        check_int("lanes", self.lanes, min=1, max=256)
        check_int("width", self.width, min=2, max=32)
        check_choice("k", self.k, (1, 2))
        check_int("max_beats", self.max_beats, min=1, max=1 << 16)
        check_int("tree_levels", self.tree_levels, min=1, max=8)

    @property
    def pos_bits(self):
        return max(1, ceil_log2(self.width))

    @property
    def signed_digits(self):
        """Whether an operand's second power of two may be subtracted (``k = 2``, ``"signed"``)."""
        return self.k == 2 and self.rounding == "signed"

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
    def element_layout(self):
        """One operand: a signed integer, or (``encoded``) its log-domain form:
        ``sign``, ``pos`` (``k`` bit positions of ``|x|``, highest first),
        ``found`` (bit ``t`` set when position ``t`` exists) and, with
        :attr:`signed_digits`, ``sub`` (the second power is subtracted)."""
        if not self.encoded:
            return signed(self.width)
        fields = {"sign": unsigned(1), "pos": data.ArrayLayout(unsigned(self.pos_bits), self.k),
                  "found": unsigned(self.k)}
        if self.signed_digits:
            fields["sub"] = unsigned(1)
        return data.StructLayout(fields)

    @property
    def in_layout(self):
        return data.StructLayout({
            "a": data.ArrayLayout(self.element_layout, self.lanes),
            "b": data.ArrayLayout(self.element_layout, self.lanes),
            "last": unsigned(1),
        })

    @property
    def out_layout(self):
        if not self.split:
            return data.StructLayout({"diff": signed(self.acc_bits + 1)})
        return data.StructLayout({"pos": unsigned(self.acc_bits), "neg": unsigned(self.acc_bits)})


def _magnitude(x, width):
    """``|x|`` of a signed value as ``width`` unsigned bits (``-2^(W-1)`` fits)."""
    return Mux(x[-1], -x, x).as_unsigned()[:width]


def _rounded(mag, found, pos, k):
    """The leading ones ``(found, pos)`` of ``mag`` rounded half up at the lowest
    kept one: the bit just below it decides; a carry moves the lowest one up,
    and with ``k = 2`` merges it into the highest when they become equal. The
    result never exceeds the operand's width (``|x| < 2^(W-1)`` rounds to at
    most ``2^(W-1)``)."""
    low = k - 1
    below = Mux(pos[low] == 0, 0, mag.bit_select((pos[low] - 1)[:len(pos[low])], 1))
    up = found[low] & below
    moved = (pos[low] + 1)[:len(pos[low])]
    if k == 1:
        return [found[0]], [Mux(up, moved, pos[0])]
    merge = up & (moved == pos[0])
    return ([found[0], found[1] & ~merge],
            [Mux(merge, (pos[0] + 1)[:len(pos[0])], pos[0]),
             Mux(merge, 0, Mux(up, moved, pos[1]))])


def _signed_digits(m, mag, k, name, reg=None):
    """The ``"signed"`` reduction of ``mag`` (:func:`exdisc.golden.lod.signed_digits`):
    ``(found, pos, sub)``. Step 1 is the LOD of ``mag`` moved up by the bit
    below the leading one; step 2 the same of the residual, which is
    ``mag`` below its leading one, or (step 1 moved up) the negation of
    that, ``2^(p1) - mag``. Both fit below the leading one, so the residual
    needs one negation and a mask, not a subtractor of the first power.
    ``reg(value, name)``, if given, is applied to what step 1 hands to step 2
    (a pipeline register)."""
    width = len(mag)
    reg = reg or (lambda value, _: value)

    def nearest(value, step):
        found, pos = leading_ones(value, 1, m=m, name=f"{name}_{step}")
        lead = pos[0]
        up = Signal(name=f"{name}_{step}_up")
        m.d.comb += up.eq(found[0] & (lead != 0)
                          & value.bit_select((lead - 1)[:len(lead)], 1))
        return found[0], (lead + up)[:len(lead)], up, lead

    f1, p1, up, lead = nearest(mag, "d1")
    if k == 1:
        return [reg(f1, f"{name}_f1")], [reg(p1, f"{name}_p1")], Const(0, 1)
    below = Cat(lead > i for i in range(width))
    rest = Signal(width, name=f"{name}_rest")
    m.d.comb += rest.eq(Mux(up, -mag, mag)[:width] & below)
    f1, p1, up, rest = (reg(v, f"{name}_{n}") for v, n in ((f1, "f1"), (p1, "p1"), (up, "up1"),
                                                           (rest, "rest1")))
    f2, p2, _, _ = nearest(rest, "d2")
    return [f1, f2], [p1, p2], up & f2


def reduce_operand(m, x, params, name, reg=None):
    """A signed operand ``x`` reduced to ``k`` powers of two of its magnitude, as
    ``params`` (a :class:`LogDotParams`) says: ``(sign, found, pos, sub)``, the
    fields of :attr:`LogDotParams.element_layout` (``found`` and ``pos`` lists of
    ``k``; ``sub`` a constant 0 unless :attr:`~LogDotParams.signed_digits`).
    :func:`exdisc.golden.eager_logdot.log_encode` is the model.

    Combinational, or with ``reg(value, name)`` returning a registered copy,
    pipelined: :data:`REDUCE_STAGES` registers, after the magnitude and after
    the first step (``"signed"``) or the detection (the others)."""
    p = params
    reg = reg or (lambda value, _: value)
    mag = Signal(p.width, name=f"{name}_mag")
    m.d.comb += mag.eq(_magnitude(x, p.width))
    sign, mag = reg(x[-1], f"{name}_sign1"), reg(mag, f"{name}_mag1")
    if p.rounding == "signed":
        found, pos, sub = _signed_digits(m, mag, p.k, f"{name}_sd", reg)
    else:
        found, pos = leading_ones(mag, p.k, m=m, name=f"{name}_lod")
        if p.rounding == "half_up":
            found, pos = _rounded(mag, found, pos, p.k)
        found = [reg(f, f"{name}_found{t}") for t, f in enumerate(found)]
        pos = [reg(q, f"{name}_pos{t}") for t, q in enumerate(pos)]
        sub = Const(0, 1)
    return reg(sign, f"{name}_sign2"), found, pos, sub


#: Pipeline registers of :func:`reduce_operand` when given ``reg``.
REDUCE_STAGES = 2


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

        # stage 1: |a| reduced to its kept leading ones (a value with at most k set bits),
        # |b| to the positions of its leading ones, and the product's sign
        s1_valid, s1_last = Signal(), Signal()
        lanes = []
        for j in range(p.lanes):
            a, b = self.i.payload.a[j], self.i.payload.b[j]
            # ua, ub: the operand's second power of two is subtracted
            ua = ub = Const(0, 1)
            if p.encoded:
                sa, fa, pa = a.sign, a.found, a.pos
                sb, fb, pb = b.sign, b.found, b.pos
                if p.signed_digits:
                    ua, ub = a.sub, b.sub
            else:
                sa, fa, pa, ua = reduce_operand(m, a, p, f"l{j}_a")
                sb, fb, pb, ub = reduce_operand(m, b, p, f"l{j}_b")
            if p.k == 1:
                # One kept bit each: the product is 2^(p + q), so the lane keeps the
                # exponent sum and stage 2 decodes it: a decoder of an exponent is
                # smaller than a shifter of the one-hot operand, in gates and in
                # registers (the k1 row of `exdisc bench eager`).
                regs = {"neg": Signal(name=f"l{j}_neg"),
                        "exp": Signal(p.pos_bits + 1, name=f"l{j}_exp"),
                        "found": Signal(name=f"l{j}_found")}
                with m.If(advance):
                    m.d.sync += [regs["neg"].eq(sa ^ sb), regs["exp"].eq(pa[0] + pb[0]),
                                 regs["found"].eq(fa[0] & fb[0])]
                lanes.append(regs)
                continue
            kept = self._kept(fa, pa, ua)
            regs = {
                "neg": Signal(name=f"l{j}_neg"),
                "a": Signal(p.width, name=f"l{j}_a"),
                "fb": [Signal(name=f"l{j}_fb{t}") for t in range(p.k)],
                "pb": [Signal(p.pos_bits, name=f"l{j}_pb{t}") for t in range(p.k)],
            }
            if p.signed_digits:
                regs["ub"] = Signal(name=f"l{j}_ub")
                with m.If(advance):
                    m.d.sync += regs["ub"].eq(ub)
            with m.If(advance):
                m.d.sync += [regs["neg"].eq(sa ^ sb), regs["a"].eq(kept)]
                for t in range(p.k):
                    m.d.sync += [regs["fb"][t].eq(fb[t]), regs["pb"][t].eq(pb[t])]
            lanes.append(regs)
        with m.If(advance):
            m.d.sync += [s1_valid.eq(self.i.valid), s1_last.eq(self.i.payload.last)]

        # stage 2: lod(a) * lod(b) = sum over b's kept bits q of lod(a) << q: k shifts, k - 1
        # adds (with k = 2 no larger than four exponent decoders and their sum, and half
        # the LUT4s)
        s2_valid, s2_last = Signal(), Signal()
        prods, signs = [], []
        for j, regs in enumerate(lanes):
            if p.k == 1:
                prod = Cat(regs["found"] & (regs["exp"] == n) for n in range(p.product_bits))
            else:
                prod = self._lane_product(regs)
            pr, ng = Signal(p.product_bits, name=f"l{j}_prod"), Signal(name=f"l{j}_sign")
            with m.If(advance):
                m.d.sync += [pr.eq(prod[:p.product_bits]), ng.eq(regs["neg"])]
            prods.append(pr)
            signs.append(ng)
        with m.If(advance):
            m.d.sync += [s2_valid.eq(s1_valid), s2_last.eq(s1_last)]

        if p.split:
            terms = [[Mux(ng, 0, pr) for pr, ng in zip(prods, signs)],
                     [Mux(ng, pr, 0) for pr, ng in zip(prods, signs)]]
            shape = lambda level: unsigned(p.product_bits + level)  # noqa: E731
        else:
            # -x = ~x + 1: the +1 of each negative product is counted in a second tree
            ext = [Cat(pr, Const(0, 1)).as_signed() for pr in prods]
            terms = [[Mux(ng, ~x, x) for x, ng in zip(ext, signs)], signs]
            shape = lambda level: signed(p.product_bits + 1 + level)  # noqa: E731
        sums, valid, last = pipelined_sums(m, terms, shape, p.tree_levels, advance,
                                           s2_valid, s2_last)
        if p.split:
            accumulate(m, self.o, sums, ["pos", "neg"], unsigned(p.acc_bits), advance, valid, last)
        else:
            accumulate(m, self.o, [sums[0] + sums[1]], ["diff"], signed(p.acc_bits + 1),
                       advance, valid, last)
        return m

    def _kept(self, fa, pa, ua):
        """Stage 1 of a ``k = 2`` lane: ``|a|`` as the ``W``-bit word of its kept powers."""
        p = self.params
        powers = [Mux(fa[t], Const(1, p.width) << pa[t], 0) for t in range(p.k)]
        kept = powers[0] | powers[1]
        if p.signed_digits:
            # 2^p1 - 2^p2 (positive: p2 < p1) is the run of ones p2 .. p1 - 1, a
            # difference of two thermometer codes: no carry chain, where a
            # subtractor would put one in every lane
            run = Cat((pa[1] <= i) & (i < pa[0]) for i in range(p.width))
            kept = Mux(ua, run, kept)
        return kept[:p.width]

    def _lane_product(self, regs):
        """Stage 2 of a ``k = 2`` lane: the product's magnitude from stage 1's registers,
        ``lod(a) * lod(b)`` = the sum over ``b``'s kept bits ``q`` of ``lod(a) << q``."""
        p = self.params
        shifted = [Mux(regs["fb"][t], (regs["a"] << regs["pb"][t])[:p.product_bits], 0)
                   for t in range(p.k)]
        if p.signed_digits:
            # one adder with a carry in: a - b = a + ~b + 1
            ub = regs["ub"]
            return shifted[0] + Mux(ub, ~shifted[1], shifted[1]) + ub
        return shifted[0] + shifted[1]


class LogDotAreaFloor(LogDotProduct):
    """What :class:`LogDotProduct` (``k = 2``, encoded operands) costs without its lane products.

    **Not a predictor**: an area reference for ``exdisc bench eager``. It has
    the same registers, adder tree and accumulators as the unit at the same
    parameters, but stage 1 registers the operand fields as they arrive and
    stage 2 passes them on as the lane's "product" (both folded to width by
    exclusive-ors, one gate per surplus bit). A ``k = 2`` unit on this
    pipeline costs at least this much whatever its lane product, so the
    floor bounds what a cheaper lane product could ever save. (Where the
    operand fields are narrower than ``W``, the floor has fewer flip-flops
    than the unit: still a lower bound.)

    Members
    -------
    i, o : as :class:`LogDotProduct`
    """

    def __new__(cls, params=None, *, src_loc_at=0, **kwargs):
        # checked before the object exists, so that a rejected floor is not an unused
        # elaboratable
        p = resolve_params(LogDotParams, params, kwargs)
        if p.k != 2:
            raise ValueError(f"parameter 'k' of an area floor must be 2, not {p.k!r}")
        if not p.encoded:
            raise ValueError("parameter 'encoded' of an area floor must be True (integer "
                             f"operands have detection logic in the lanes), not {p.encoded!r}")
        return super().__new__(cls, params, src_loc_at=src_loc_at + 1, **kwargs)

    def _kept(self, fa, pa, ua):
        return _fold(Cat(*pa, fa, ua), self.params.width)

    def _lane_product(self, regs):
        fields = [regs["a"], *regs["pb"], *regs["fb"], regs.get("ub", Const(0, 1))]
        return _fold(Cat(*fields), self.params.product_bits)


def _fold(bits, width):
    """``bits`` exclusive-ored onto ``width`` bits (bit ``i`` of the result from
    bits ``i``, ``i + width``, ...), so that every input bit stays observable."""
    out = [bits[i] for i in range(min(width, len(bits)))]
    for i in range(width, len(bits)):
        out[i % width] = out[i % width] ^ bits[i]
    return Cat(*out, Const(0, max(0, width - len(bits))))


def pipelined_sums(m, term_lists, shape, levels, advance, valid, last, name="t"):
    """Adder trees over each list of ``term_lists``, a register every ``levels`` levels.

    ``shape(level)`` is the shape of a sum after ``level`` tree levels (one
    bit more per level is enough). All registers load on ``advance``;
    ``valid`` and ``last`` travel with the sums. Returns ``(sums, valid,
    last)`` after the final register.
    """
    level = 0
    while len(term_lists[0]) > 1:
        term_lists = [[sum(t[i:i + 2]) for i in range(0, len(t), 2)] for t in term_lists]
        level += 1
        if level % levels == 0 or len(term_lists[0]) == 1:
            stage = f"{name}{level}"
            regs = [[Signal(shape(level), name=f"{stage}_{j}_{i}") for i in range(len(t))]
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
