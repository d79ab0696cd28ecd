"""Counters that walk a buffer region a vector at a time, shared by the
core's units."""

from amaranth.hdl import Const, Mux, Signal
from amaranth.utils import ceil_log2


__all__ = ["RegionWalk", "lane_enables"]


def lane_enables(left, lanes):
    """The enables of lanes ``j < left`` of a vector of ``lanes``."""
    k = ceil_log2(lanes + 1)
    return Mux(left >= lanes, (1 << lanes) - 1, (Const(1, lanes + 1) << left[:k]) - 1)


class RegionWalk:
    """``rows`` rows of ``length`` elements in steps of ``step``: ``row``
    (from 0), ``col`` (the step's first column, from ``origin``), ``left``
    (elements of the row from ``col`` on), ``last_in_row`` and ``last`` (of
    the region). :meth:`start` and :meth:`advance` add their statements to a
    module."""

    def __init__(self, step, length, rows, name, origin=0):
        self.step, self.length, self.rows, self.origin = step, length, rows, origin
        self.row = Signal(12, name=f"{name}_row")
        self.col = Signal(10, name=f"{name}_col")
        self.left = Signal(10, name=f"{name}_left")
        self.last_in_row = self.left <= step
        self.last = self.last_in_row & (self.row == rows - 1)

    def start(self, m, origin=None):
        """From the region's first step (``origin``: the first column, if
        not the one given at construction, e.g. from a descriptor arriving)."""
        m.d.sync += [self.row.eq(0), self.col.eq(self.origin if origin is None else origin),
                     self.left.eq(self.length)]

    def advance(self, m):
        with m.If(self.last_in_row):
            m.d.sync += [self.row.eq(self.row + 1), self.col.eq(self.origin),
                         self.left.eq(self.length)]
        with m.Else():
            m.d.sync += [self.col.eq(self.col + self.step), self.left.eq(self.left - self.step)]
