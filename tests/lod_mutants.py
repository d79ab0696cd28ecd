"""Deliberately broken leading-one detectors: the checks must reject them."""

from amaranth.hdl import Cat, Const, Mux

from exdisc.hw.lod import LeadingOneDetector, _merge


def _merge_wrong_second(hi, lo, k):
    # Takes the second one from `lo` whenever `lo` has any, even if `hi`
    # holds two: wrong only when both halves are populated enough.
    node = _merge(hi, lo, k)
    if k == 2:
        node.pos[1] = Mux(lo.found[0], Cat(lo.pos[0], Const(0, 1)), node.pos[1])
    return node


class WrongSecondLOD(LeadingOneDetector):
    _merge = staticmethod(_merge_wrong_second)
