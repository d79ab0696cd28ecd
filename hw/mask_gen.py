"""FFN-Reuse's mask generator on the engine's output path."""

import dataclasses

from amaranth.hdl import Cat, Module, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import Params, check_int, param, resolve_params


__all__ = ["MaskGenParams", "MaskGenerator", "above_threshold", "threshold_halves"]


@dataclasses.dataclass(frozen=True)
class MaskGenParams(Params):
    """Parameters of :class:`MaskGenerator`.

    Members
    -------
    cols : int
        Accumulators per result row ``C`` (1 to 64): the engine's columns.
    acc_width : int
        Signed accumulator width (2 to 48); thresholds are one bit wider
        (:func:`exdisc.golden.mask_gen.threshold_for_width`).
    """
    cols: int = param(16, "accumulators per row C")
    acc_width: int = param(32, "signed accumulator width")

    def __post_init__(self):
        check_int("cols", self.cols, min=1, max=64)
        check_int("acc_width", self.acc_width, min=2, max=48)

    @property
    def in_layout(self):
        return data.StructLayout({
            "acc": data.ArrayLayout(signed(self.acc_width), self.cols),
            "threshold": data.ArrayLayout(signed(self.acc_width + 1), self.cols),
            "last": 1,
        })

    @property
    def out_layout(self):
        return data.StructLayout({"mask": self.cols, "last": 1})

    @property
    def latency(self):
        return 1


def above_threshold(acc, threshold, cols):
    """Bit ``c`` set where ``acc[c] > threshold[c]`` (signed; the thresholds
    one bit wider, :func:`exdisc.golden.mask_gen.threshold_for_width`)."""
    return Cat(*[acc[c] > threshold[c] for c in range(cols)])


def threshold_halves(acc, threshold):
    """``acc > threshold`` in two steps, for a register between them: returns
    ``(gt_hi, eq_hi, gt_lo)`` of the upper (signed) and lower (unsigned)
    halves; ``gt_hi | (eq_hi & gt_lo)`` is the compare."""
    h = len(acc) // 2
    n = len(threshold) - h
    # signed as unsigned with the sign bit flipped: one carry chain, no sign fix-up
    hi_a = Cat(acc[h:], acc[-1].replicate(n - (len(acc) - h))) ^ (1 << (n - 1))
    hi_t = threshold[h:] ^ (1 << (n - 1))
    return hi_a > hi_t, hi_a == hi_t, acc[:h] > threshold[:h]


class MaskGenerator(wiring.Component):
    """Writes FFN-Reuse's bitmask of a dense step from FC1 accumulators.

    Each input beat is one result row of the engine (``C`` FC1
    accumulators, before bias and GELU) with the integer threshold of each
    column (:func:`exdisc.golden.mask_gen.fc1_integer_threshold`); bit ``c`` of the
    output is ``acc[c] > threshold[c]`` (:func:`exdisc.golden.mask_gen.fc1_mask`), the
    positions FC1 recomputes in the next sparse steps. ``last`` passes
    through. One row per cycle, latency 1 (a registered output that holds
    under backpressure).

    Members
    -------
    i : In(stream.Signature(in_layout))
        Result rows and thresholds.
    o : Out(stream.Signature(out_layout))
        Mask rows.
    """

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(MaskGenParams, params, kwargs)
        super().__init__({
            "i": In(stream.Signature(params.in_layout)),
            "o": Out(stream.Signature(params.out_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        row = self.i.payload
        free = ~self.o.valid | self.o.ready
        m.d.comb += self.i.ready.eq(free)
        with m.If(free):
            m.d.sync += [
                self.o.valid.eq(self.i.valid),
                self.o.payload.mask.eq(above_threshold(row.acc, row.threshold, p.cols)),
                self.o.payload.last.eq(row.last),
            ]
        return m
