"""The FFN-Reuse engine: the systolic array with its output path (cached
partial sums and the recompute-mask generator)."""

import dataclasses

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .mask_gen import threshold_halves
from .params import resolve_params
from .systolic import SystolicArray, SystolicParams


__all__ = ["FFNEngineParams", "FFNEngine"]


@dataclasses.dataclass(frozen=True)
class FFNEngineParams(SystolicParams):
    """Parameters of :class:`FFNEngine`: those of the array
    (:class:`hw.systolic.SystolicParams`, validated there).

    Members
    -------
    engine : SystolicParams
        The array's own parameters.
    """

    @property
    def engine(self):
        return SystolicParams(**self.as_dict())

    @property
    def aux_layout(self):
        """What the output path needs beside one result row."""
        return data.StructLayout({
            "partial": data.ArrayLayout(signed(self.acc_width), self.cols),
            "threshold": data.ArrayLayout(signed(self.acc_width + 1), self.cols),
            "add": unsigned(1),
            "negate": unsigned(1),
        })

    @property
    def out_layout(self):
        return data.StructLayout({
            "row": data.ArrayLayout(signed(self.acc_width), self.cols),
            "mask": unsigned(self.cols),
            "last": unsigned(1),
        })

    @property
    def latency(self):
        """Cycles from a tile's last beat to its row 0 on ``o`` (no stalls):
        the array's latency and the output path's three registers."""
        return super().latency + 3


class FFNEngine(wiring.Component):
    """The array of :class:`hw.systolic.SystolicArray` with FFN-Reuse's output path.

    Each result row of the array is joined with one ``aux`` beat (the host's
    partial-sum and threshold buffers, row by row) and leaves on ``o`` as

    * ``row[c] = (partial[c] if add else 0) + (-acc[c] if negate else acc[c])``,
      wrapped to ``acc_width`` bits: plain results (neither flag), the
      sparse step's FC2 ``P + S`` (``add``), and at the dense step the cached
      ``P = dense - masked`` (both, ``partial`` the dense FC2 row);
    * ``mask`` bit ``c`` = ``acc[c] > threshold[c]``, as
      :class:`hw.mask_gen.MaskGenerator`: the recompute mask, written while
      the dense step's FC1 drains;

    exactly as :func:`golden.ffn_reuse.output_rows`. The input ports are the
    array's and behave as there.

    Throughput one row per cycle; latency :attr:`FFNEngineParams.latency`
    (the array's and three register stages: the join, the adds and half
    compares, the output; each holds under backpressure).

    Members
    -------
    a, b, sel : In(stream.Signature(...))
        The array's inputs (:class:`hw.systolic.SystolicArray`; ``sel`` only
        with merge lanes).
    aux : In(stream.Signature(aux_layout))
        One beat per result row, in the same order.
    o : Out(stream.Signature(out_layout))
        Output rows; ``last`` marks a tile's row ``R - 1``.
    """

    replicated_registers = (*SystolicArray.replicated_registers, "joined_flags*")

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(FFNEngineParams, params, kwargs)
        ports = {"a": In(stream.Signature(params.a_layout)),
                 "b": In(stream.Signature(params.b_layout))}
        if params.merged:
            ports["sel"] = In(stream.Signature(params.sel_layout))
        ports["aux"] = In(stream.Signature(params.aux_layout))
        ports["o"] = Out(stream.Signature(params.out_layout))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.engine = engine = SystolicArray(p.engine)
        for name in ("a", "b", "sel") if p.merged else ("a", "b"):
            wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(engine, name))

        # Three register stages, so that no carry chain follows the array's
        # LUT-RAM output or precedes the output register: the join, then the
        # adds and the halves of the mask compares, then the output.
        res, aux = engine.o, self.aux
        free = ~self.o.valid | self.o.ready
        j_valid, s_valid = Signal(name="joined_valid"), Signal(name="summed_valid")
        j_row = Signal.like(res.payload, name="joined_row")
        j_aux = Signal.like(aux.payload, name="joined_aux")
        s_row = Signal(p.o_layout, name="summed_row")
        halves = [[Signal(name=f"summed_{k}{c}") for k in ("gt_hi", "eq_hi", "gt_lo")]
                  for c in range(p.cols)]
        # the flags once per column: one copy drove every adder bit (4.3 ns)
        flags = [Signal(2, name=f"joined_flags{c}") for c in range(p.cols)]
        s_advance = ~s_valid | free
        j_advance = ~j_valid | s_advance
        m.d.comb += [res.ready.eq(j_advance & aux.valid), aux.ready.eq(j_advance & res.valid)]
        with m.If(j_advance):
            m.d.sync += [j_valid.eq(res.valid & aux.valid), j_row.eq(res.payload),
                         j_aux.eq(aux.payload)]
            m.d.sync += [f.eq(Cat(aux.payload.add, aux.payload.negate)) for f in flags]
        with m.If(s_advance):
            m.d.sync += [s_valid.eq(j_valid), s_row.last.eq(j_row.last)]
            for c in range(p.cols):
                acc, add, negate = j_row.row[c], flags[c][0], flags[c][1]
                base = Mux(add, j_aux.partial[c], 0)
                # -acc as ~acc + 1: one carry chain per column for both signs
                flip = negate.replicate(p.acc_width)
                m.d.sync += s_row.row[c].eq(base + (acc.as_unsigned() ^ flip) + negate)
                m.d.sync += [reg.eq(v) for reg, v in
                             zip(halves[c], threshold_halves(acc, j_aux.threshold[c]))]
        with m.If(free):
            m.d.sync += [
                self.o.valid.eq(s_valid),
                self.o.payload.row.eq(s_row.row),
                self.o.payload.mask.eq(Cat(*[gt | (eq & lo) for gt, eq, lo in halves])),
                self.o.payload.last.eq(s_row.last),
            ]
        return m
