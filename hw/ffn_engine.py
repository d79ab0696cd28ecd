"""The FFN-Reuse engine: the systolic array with its output path (cached
partial sums and the recompute-mask generator)."""

import dataclasses

from amaranth.hdl import Cat, Module, Mux, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .mask_gen import above_threshold
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
        the array's latency and the output register."""
        return super().latency + 1


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
    (the array's and one output register, which holds under backpressure).

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

    replicated_registers = SystolicArray.replicated_registers

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

        res, aux = engine.o, self.aux
        free = ~self.o.valid | self.o.ready
        m.d.comb += [res.ready.eq(free & aux.valid), aux.ready.eq(free & res.valid)]
        acc, side = res.payload.row, aux.payload
        rows = []
        for c in range(p.cols):
            base = Mux(side.add, side.partial[c], 0)
            # -acc as ~acc + 1: one carry chain per column for both signs
            flip = side.negate.replicate(p.acc_width)
            rows.append(base + (acc[c].as_unsigned() ^ flip) + side.negate)
        with m.If(free):
            m.d.sync += [
                self.o.valid.eq(res.valid & aux.valid),
                self.o.payload.row.eq(Cat(*[r[:p.acc_width] for r in rows])),
                self.o.payload.mask.eq(above_threshold(acc, side.threshold, p.cols)),
                self.o.payload.last.eq(res.payload.last),
            ]
        return m
