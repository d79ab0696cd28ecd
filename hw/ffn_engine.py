"""The FFN-Reuse engine: the systolic array with its output path (cached
partial sums and the recompute-mask generator)."""

import dataclasses

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .mask_gen import threshold_halves
from .params import resolve_params
from .queue import LATENCY as QUEUE_LATENCY, QueueParams, StreamQueue, count_reaches
from .systolic import SystolicArray, SystolicParams


__all__ = ["FFNEngineParams", "FFNEngine"]


# Rows the output queue holds beyond those in flight: a row's credit comes
# back 11 cycles after it is taken (join, sum, the queue's 7, the pop and the
# registered pop), so 16 keep one row per cycle with a consumer that keeps up.
OUT_QUEUE_DEPTH = 16


@dataclasses.dataclass(frozen=True)
class FFNEngineParams(SystolicParams):
    """Parameters of :class:`FFNEngine`: those of the array
    (:class:`exdisc.hw.systolic.SystolicParams`, validated there).

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
        the array's latency, the output path's two registers and its
        output queue's latency."""
        return super().latency + 2 + QUEUE_LATENCY


class FFNEngine(wiring.Component):
    """The array of :class:`exdisc.hw.systolic.SystolicArray` with FFN-Reuse's output path.

    Each result row of the array is joined with one ``aux`` beat (the host's
    partial-sum and threshold buffers, row by row) and leaves on ``o`` as

    * ``row[c] = (partial[c] if add else 0) + (-acc[c] if negate else acc[c])``,
      wrapped to ``acc_width`` bits: plain results (neither flag), the
      sparse step's FC2 ``P + S`` (``add``), and at the dense step the cached
      ``P = dense - masked`` (both, ``partial`` the dense FC2 row);
    * ``mask`` bit ``c`` = ``acc[c] > threshold[c]``, as
      :class:`exdisc.hw.mask_gen.MaskGenerator`: the recompute mask, written while
      the dense step's FC1 drains;

    exactly as :func:`exdisc.golden.ffn_reuse.output_rows`. The input ports are the
    array's and behave as there.

    Throughput one row per cycle; latency :attr:`FFNEngineParams.latency`
    (the array's, two register stages, the join and the adds and half
    compares, and an output queue; the stages never hold: a row is taken
    only when the queue has room reserved for it).

    Members
    -------
    a, b, sel : In(stream.Signature(...))
        The array's inputs (:class:`exdisc.hw.systolic.SystolicArray`; ``sel`` only
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

        # Two register stages, so that no carry chain follows the array's
        # output or precedes the output queue: the join, then the adds and
        # the halves of the mask compares. They never stall: a row is taken
        # only against a credit, a free entry of the output queue, and the
        # consumer's ready reaches only that queue. Stages that held under
        # backpressure would make ready the enable of every flip-flop of the
        # stages, a net across the whole engine.
        m.submodules.out_queue = out = StreamQueue(QueueParams(
            width=len(self.o.payload.as_value()), depth=OUT_QUEUE_DEPTH))
        m.d.comb += [self.o.valid.eq(out.r.valid), self.o.payload.eq(out.r.payload),
                     out.r.ready.eq(self.o.ready)]
        res, aux = engine.o, self.aux
        credits = Signal(range(OUT_QUEUE_DEPTH + 1), init=OUT_QUEUE_DEPTH)
        room, popped = Signal(init=1), Signal()
        take = res.valid & aux.valid & room
        m.d.comb += [res.ready.eq(aux.valid & room), aux.ready.eq(res.valid & room)]
        m.d.sync += [
            popped.eq(self.o.valid & self.o.ready),
            credits.eq(credits - take + popped),
            room.eq(~count_reaches(credits, popped, take, 0)),
        ]
        j_valid, s_valid = Signal(name="joined_valid"), Signal(name="summed_valid")
        j_row = Signal.like(res.payload, name="joined_row", reset_less=True)
        j_aux = Signal.like(aux.payload, name="joined_aux", reset_less=True)
        s_row = Signal(p.o_layout, name="summed_row", reset_less=True)
        halves = [[Signal(name=f"summed_{k}{c}", reset_less=True)
                   for k in ("gt_hi", "eq_hi", "gt_lo")] for c in range(p.cols)]
        # the flags once per column: one copy would drive every adder bit of the row
        flags = [Signal(2, name=f"joined_flags{c}", reset_less=True) for c in range(p.cols)]
        m.d.sync += [j_valid.eq(take), j_row.eq(res.payload), j_aux.eq(aux.payload),
                     s_valid.eq(j_valid), s_row.last.eq(j_row.last)]
        m.d.sync += [f.eq(Cat(aux.payload.add, aux.payload.negate)) for f in flags]
        for c in range(p.cols):
            acc, add, negate = j_row.row[c], flags[c][0], flags[c][1]
            base = Mux(add, j_aux.partial[c], 0)
            # -acc as ~acc + 1: one carry chain per column for both signs
            flip = negate.replicate(p.acc_width)
            m.d.sync += s_row.row[c].eq(base + (acc.as_unsigned() ^ flip) + negate)
            m.d.sync += [reg.eq(v) for reg, v in
                         zip(halves[c], threshold_halves(acc, j_aux.threshold[c]))]
        row = data.View(p.out_layout, out.w.payload)
        m.d.comb += [
            out.w.valid.eq(s_valid),
            row.row.eq(s_row.row),
            row.mask.eq(Cat(*[gt | (eq & lo) for gt, eq, lo in halves])),
            row.last.eq(s_row.last),
        ]
        return m
