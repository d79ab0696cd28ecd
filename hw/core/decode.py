"""The core's descriptor decoder: checks each descriptor and hands it to its queue."""

import functools
import operator

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import resolve_params
from .isa import (DENSE_OPS, DESCRIPTOR_BITS, DISC_OPS, EXION_OPS, KV_OPS, SPARSE_GEMMS, Buffer,
                  Error, Fn, Init, Op, Queue, layout)
from .params import CoreParams


__all__ = ["Decoder", "INDEX_BITS"]

#: Width of a descriptor's index in its program.
INDEX_BITS = 16


def _first(cases, default):
    """The value of the first ``(flag, value)`` whose flag is set, else
    ``default``: a balanced tree of multiplexers, as deep as the log of the
    cases (a chain as long as the checks is too deep for Amaranth's
    Python simulator to compile)."""
    if not cases:
        return default
    if len(cases) == 1:
        return Mux(cases[0][0], cases[0][1], default)
    half = len(cases) // 2
    low = functools.reduce(operator.or_, (flag for flag, _ in cases[:half]))
    return Mux(low, _first(cases[:half], default), _first(cases[half:], default))


class Decoder(wiring.Component):
    """Checks each descriptor of a program against the core's buffers and
    hands it, with its index in the program, to the load, GEMM, vector or
    store queue.

    A malformed descriptor (an unknown operation or non-linear function, a
    token bit for the descriptor's own queue, a rectangle outside its
    buffer, a load or store outside external memory, a zero or too large
    dimension, a descriptor that would read what it has written; on
    ExionCore, a sparse GEMM whose mask rows no descriptor before it writes)
    sets the sticky ``error`` with the descriptor's index, and no
    descriptor is taken after it: the ones before it are handed on, it and
    those after it never are. When several checks fail, the code is that of
    the first in the order :func:`exdisc.golden.core.validate` makes them.

    Throughput: one descriptor every five cycles (taken; products; checks;
    decision; handed on, the queue's ``ready`` in the fifth at the earliest).
    The descriptors it decodes drive operations of tens to thousands of
    cycles.

    Members
    -------
    i : In(stream.Signature(DESCRIPTOR_BITS))
        The program's descriptors.
    load, gemm, vector, store : Out(stream.Signature(entry_layout))
        Each queue's descriptors (``word``) and their ``index``.
    error : Out(error_layout)
        ``code`` (:class:`~.isa.Error`) and the ``index`` of the descriptor
        that set it. Sticky until reset.
    busy : Out(1)
        A descriptor is being checked or waits for its queue.
    blocked : Out(1)
        A checked descriptor waits for room in its queue.
    """

    entry_layout = data.StructLayout({"word": unsigned(DESCRIPTOR_BITS),
                                      "index": unsigned(INDEX_BITS)})
    error_layout = data.StructLayout({"code": Error, "index": unsigned(INDEX_BITS)})

    def __init__(self, params=None, **kwargs):
        self.params = resolve_params(CoreParams, params, kwargs)
        entry = stream.Signature(self.entry_layout)
        super().__init__({"i": In(stream.Signature(DESCRIPTOR_BITS)), "load": Out(entry),
                          "gemm": Out(entry), "vector": Out(entry), "store": Out(entry),
                          "error": Out(self.error_layout), "busy": Out(1),
                          "blocked": Out(1)})

    def elaborate(self, platform):
        m = Module()
        word = Signal(DESCRIPTOR_BITS)
        index = Signal(INDEX_BITS)
        # 0 empty; 1 taken; 2 products ready; 3 checks ready; 4 handed on
        stage = Signal(range(5))
        stopped = Signal()
        m.d.comb += [stopped.eq(self.error.code != Error.NONE), self.busy.eq(stage != 0)]

        m.d.comb += self.i.ready.eq((stage == 0) & ~stopped)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [word.eq(self.i.payload), stage.eq(1)]
        with m.If((stage == 1) | (stage == 2)):
            m.d.sync += stage.eq(stage + 1)

        accept = Signal()               # stage 3's descriptor passed every check
        checks = self._checks(m, word, accept)
        flags = Signal(len(checks))
        m.d.sync += flags.eq(Cat(bad for bad, _ in checks))

        # the first failed check of the descriptor's operation names the error
        code = _first([(flags[n], c.value) for n, (_, c) in enumerate(checks)],
                      Const(Error.NONE.value, Error.as_shape()))
        op = word[:4]
        queue = Mux(self._load_queue(op), Queue.LOAD.value,
                    Mux(self._store_queue(op), Queue.STORE.value,
                        Mux(self._gemm_queue(op), Queue.GEMM.value, Queue.VECTOR.value)))
        m.d.comb += accept.eq((stage == 3) & (code == Error.NONE.value))
        with m.If(stage == 3):
            with m.If(code != Error.NONE.value):
                m.d.sync += [self.error.code.eq(code), self.error.index.eq(index),
                             stage.eq(0)]
            with m.Else():
                m.d.sync += stage.eq(4)
        outs = {Queue.LOAD: self.load, Queue.GEMM: self.gemm, Queue.VECTOR: self.vector,
                Queue.STORE: self.store}
        for q, port in outs.items():
            m.d.comb += [port.payload.word.eq(word), port.payload.index.eq(index),
                         port.valid.eq((stage == 4) & (queue == q.value))]
            with m.If(port.valid & ~port.ready):
                m.d.comb += self.blocked.eq(1)
            with m.If(port.valid & port.ready):
                m.d.sync += [stage.eq(0), index.eq(index + 1)]
        return m

    def _load_queue(self, op):
        """Whether ``op`` is one of the load queue's operations."""
        out = op == Op.LOAD.value
        if self.params.disc:
            for o in (Op.GATHER,) + KV_OPS:
                out = out | (op == o.value)
        return out

    def _store_queue(self, op):
        """Whether ``op`` is one of the store queue's operations."""
        out = (op == Op.STORE.value) | (op == Op.FINISH.value)
        return out | (op == Op.SCATTER.value) if self.params.disc else out

    def _gemm_queue(self, op):
        """Whether ``op`` is one of the GEMM queue's operations."""
        out = op == Op.GEMM.value
        if self.params.exion:
            for o in SPARSE_GEMMS:
                out = out | (op == o.value)
        return out

    def _checks(self, m, word, accept):
        """``(bad, code)`` of every check, each ``bad`` true only for the
        operation it belongs to, in the golden model's order per operation;
        the products and sums behind them registered (``*_q``) a stage before
        the flags, so that each flag is a compare."""
        p = self.params
        op = word[:4]
        ops = DENSE_OPS + (EXION_OPS if p.exion else ()) + (DISC_OPS if p.disc else ())
        views = {o: data.View(layout(o), word) for o in ops}
        is_op = {o: op == o.value for o in ops}
        out = [(~functools.reduce(operator.or_, is_op.values()), Error.BAD_OP)]

        # no token from or to the descriptor's own queue
        own = Mux(self._load_queue(op), 1 << Queue.LOAD.value,
                  Mux(self._store_queue(op), 1 << Queue.STORE.value,
                      Mux(self._gemm_queue(op), 1 << Queue.GEMM.value,
                          1 << Queue.VECTOR.value)))
        out.append((((word[4:8] | word[8:12]) & own) != 0, Error.BAD_TOKEN))

        def region(when, rows_of, row, col, rows, cols, shape=True):
            """Shape (non-zero) then range: ``row + rows <= rows_of`` and
            ``col + cols <= width``."""
            checks = []
            if shape:
                checks.append((when & ((rows == 0) | (cols == 0)), Error.BAD_SHAPE))
            checks.append((when & ((row + rows > rows_of) | (col + cols > p.width)),
                           Error.BAD_RANGE))
            return checks

        # LOAD and STORE (and DiscCore's GATHER and SCATTER): the region, whole
        # bytes of a mask, (the index list,) external memory
        for o in (Op.LOAD, Op.STORE) + ((Op.GATHER, Op.SCATTER) if p.disc else ()):
            v = views[o]
            rows_of = Mux(v.buffer == Buffer.ACT, p.act_rows,
                          Mux(v.buffer == Buffer.WGT, p.wgt_rows,
                              Mux(v.buffer == Buffer.ACC, p.acc_rows, p.mask_rows)))
            out += region(is_op[o], rows_of, v.row, v.col, v.rows, v.cols)
            is_mask = v.buffer == Buffer.MASK
            out.append((is_op[o] & is_mask & ((v.col[:3] != 0) | (v.cols[:3] != 0)),
                        Error.BAD_SHAPE))
            table = v.rows
            if o in DISC_OPS:
                out += self._index_checks(o, v, is_op[o], region)
                table = v.limit
            nbytes = Mux(is_mask, v.cols >> 3,
                         Mux(v.buffer == Buffer.ACC, v.cols << 2, v.cols))
            span = Signal(unsigned(33), name=f"{o.name.lower()}_span_q")
            m.d.sync += span.eq((table - 1) * v.stride)
            end = Signal(unsigned(35), name=f"{o.name.lower()}_end_q")
            m.d.sync += end.eq(v.dram + nbytes)
            out.append((is_op[o] & (end + span > p.dram_bytes), Error.BAD_RANGE))

        # GEMM, and ExionCore's sparse GEMMs, whose fields up to init are a GEMM's
        g = views[Op.GEMM]
        gemm = is_op[Op.GEMM]
        any_gemm = self._gemm_queue(op)
        out.append((any_gemm & ((g.m == 0) | (g.n == 0) | (g.k == 0)), Error.BAD_SHAPE))
        # subtracting is for ExionCore's sparse GEMMs
        out.append((gemm & (g.init == Init.SUBTRACT), Error.BAD_SHAPE))
        out += region(any_gemm, p.act_rows, g.a_row, g.a_col, g.m, g.k, shape=False)
        b_rows, b_cols = Mux(g.b_t, g.n, g.k), Mux(g.b_t, g.k, g.n)
        out += region(any_gemm, p.wgt_rows, g.b_row, g.b_col, b_rows, b_cols, shape=False)
        out += region(any_gemm, p.acc_rows, g.c_row, g.c_col, g.m, g.n, shape=False)
        out += region(gemm & (g.init == Init.BIAS), p.acc_rows, g.bias_row, g.c_col, 1, g.n,
                      shape=False)
        out.append((gemm & (g.init == Init.BIAS) & (g.bias_row >= g.c_row) &
                    (g.bias_row < g.c_row + g.m), Error.OVERLAP))

        nl = views[Op.NONLINEAR]
        nlo = is_op[Op.NONLINEAR]
        out.append((nlo & (nl.fn > Fn.LOAD_BIAS.value), Error.BAD_OP))
        out.append((nlo & ((nl.length == 0) | (nl.length > p.max_len)), Error.BAD_SHAPE))
        out += region(nlo, p.acc_rows, nl.src_row, nl.src_col, nl.rows, nl.length)
        loads = (nl.fn == Fn.LOAD_GAIN.value) | (nl.fn == Fn.LOAD_BIAS.value)
        out.append((nlo & loads & (nl.rows != 1), Error.BAD_SHAPE))
        int8_dst = (nl.dst_buffer == Buffer.ACT) | (nl.dst_buffer == Buffer.WGT)
        out.append((nlo & ~loads & ~int8_dst, Error.BAD_BUFFER))
        dst_rows = Mux(nl.dst_buffer == Buffer.ACT, p.act_rows, p.wgt_rows)
        out += region(nlo & ~loads, dst_rows, nl.dst_row, nl.dst_col, nl.rows, nl.length,
                      shape=False)
        out.append((nlo & nl.row_scale & (nl.fn != Fn.REQUANT.value), Error.BAD_SHAPE))
        aux = nlo & ((nl.fn == Fn.SOFTMAX.value) | nl.row_scale)
        out += region(aux, p.mask_rows, nl.aux_row, 0, nl.rows, nl.length, shape=False)

        a = views[Op.ADD]
        add = is_op[Op.ADD]
        out += region(add, p.acc_rows, a.dst_row, a.dst_col, a.rows, a.length)
        out += region(add, p.acc_rows, a.src_row, a.src_col, a.rows, a.length, shape=False)
        out += region(add, p.acc_rows, a.gate_row, a.gate_col, 1, a.length, shape=False)

        def overlap(row, rows, col, other_row, other_rows, other_col):
            """Rectangles of ``a.length`` columns sharing an element."""
            return ((row < other_row + other_rows) & (other_row < row + rows) &
                    (col < other_col + a.length) & (other_col < col + a.length))
        same = (a.src_row == a.dst_row) & (a.src_col == a.dst_col)
        out.append((add & ~same & overlap(a.src_row, a.rows, a.src_col, a.dst_row, a.rows,
                                          a.dst_col), Error.OVERLAP))
        out.append((add & overlap(a.gate_row, 1, a.gate_col, a.dst_row, a.rows, a.dst_col),
                    Error.OVERLAP))
        if p.disc:
            for o in KV_OPS:
                out += self._kv_checks(m, o, views[o], is_op[o], region)
        if p.exion:
            out += self._exion_checks(views, is_op, region)
            out += self._mask_checks(m, views, is_op, accept)
        return out

    def _mask_checks(self, m, views, is_op, accept):
        """ExionCore's one check of the program so far, last of all: a sparse
        GEMM's mask rows must all be written by descriptors before it (a
        ``LOAD`` or ``GATHER`` into ``MASK``, ``MASKGEN``, a softmax's keep
        mask). ``mask_written`` holds a bit per row, set by each accepted
        writer over its rows; the rows a descriptor names are registered a
        stage before the flag, as the other checks' sums."""
        p = self.params
        load, gen, nl = views[Op.LOAD], views[Op.MASKGEN], views[Op.NONLINEAR]
        writers = [(is_op[Op.LOAD] & (load.buffer == Buffer.MASK), load.row, load.rows),
                   (is_op[Op.MASKGEN], gen.dst_row, gen.rows),
                   (is_op[Op.NONLINEAR] & (nl.fn == Fn.SOFTMAX.value), nl.aux_row, nl.rows)]
        if p.disc:
            g = views[Op.GATHER]
            writers.append((is_op[Op.GATHER] & (g.buffer == Buffer.MASK), g.row, g.rows))
        readers = [(is_op[o], views[o].mask_row, views[o].m) for o in SPARSE_GEMMS]
        cases = [(flag, Cat(row, rows)) for flag, row, rows in writers + readers]
        row_rows = _first(cases, Const(0, 2 * len(load.row)))
        row, rows = row_rows[:len(load.row)], row_rows[len(load.row):]
        end = row + rows

        span_q = Signal(p.mask_rows, name="mask_span_q")
        writes_q = Signal(name="mask_writes_q")
        m.d.sync += [span_q.eq(Cat((row <= i) & (end > i) for i in range(p.mask_rows))),
                     writes_q.eq(functools.reduce(operator.or_, (f for f, _, _ in writers)))]
        written = Signal(p.mask_rows, name="mask_written")
        with m.If(accept & writes_q):
            m.d.sync += written.eq(written | span_q)
        reads = functools.reduce(operator.or_, (f for f, _, _ in readers))
        return [(reads & ((span_q & ~written) != 0), Error.NO_MASK)]

    def _kv_checks(self, m, o, v, is_op, region):
        """A transfer of the K/V store: int8 rows, the region, the index
        list, a stride that is a power of two (a scatter's at least its
        columns), and the table inside the store."""
        p = self.params
        out = [(is_op & ~((v.buffer == Buffer.ACT) | (v.buffer == Buffer.WGT)),
                Error.BAD_BUFFER)]
        out += region(is_op, Mux(v.buffer == Buffer.ACT, p.act_rows, p.wgt_rows),
                      v.row, v.col, v.rows, v.cols)
        out += self._index_checks(o, v, is_op, region)
        out.append((is_op & ((v.stride == 0) | ((v.stride & (v.stride - 1)) != 0)),
                    Error.BAD_SHAPE))
        if o == Op.KV_SCATTER:
            out.append((is_op & (v.stride < v.cols), Error.BAD_SHAPE))
        # the table's last element, as a sum of registered products
        span = Signal(unsigned(29), name=f"{o.name.lower()}_span_q")
        end = Signal(unsigned(33), name=f"{o.name.lower()}_end_q")
        m.d.sync += [span.eq((v.limit - 1) * v.stride), end.eq(v.base + v.cols)]
        out.append((is_op & (end + span > p.kv_bytes), Error.BAD_RANGE))
        return out

    def _index_checks(self, o, v, is_op, region):
        """A gather's or scatter's index list: at most a row of ``ACC``, a
        table of at least a row, the list's row in ``ACC``, and a gather not
        into its own list."""
        p = self.params
        out = [(is_op & (v.rows > p.width), Error.BAD_SHAPE),
               (is_op & (v.limit == 0), Error.BAD_SHAPE)]
        out += region(is_op, p.acc_rows, v.idx_row, 0, 1, v.rows, shape=False)
        if o == Op.GATHER:
            out.append((is_op & (v.buffer == Buffer.ACC) & (v.idx_row >= v.row) &
                        (v.idx_row < v.row + v.rows) & (v.col < v.rows), Error.OVERLAP))
        return out

    def _exion_checks(self, views, is_op, region):
        """ExionCore's checks after a GEMM's: a sparse GEMM has no bias, and
        its mask (``m x n`` for ``GEMM_OS``, ``m x k`` for ``GEMM_IS``) lies in
        ``MASK``; ``MASKGEN``'s source in ``ACC``, its destination in ``MASK``."""
        p = self.params
        out = []
        for o in SPARSE_GEMMS:
            s = views[o]
            out.append((is_op[o] & (s.init == Init.BIAS), Error.BAD_SHAPE))
            cols = s.n if o == Op.GEMM_OS else s.k
            out += region(is_op[o], p.mask_rows, s.mask_row, s.mask_col, s.m, cols, shape=False)
        g, gen = views[Op.MASKGEN], is_op[Op.MASKGEN]
        out += region(gen, p.acc_rows, g.src_row, g.src_col, g.rows, g.length)
        out += region(gen, p.mask_rows, g.dst_row, g.dst_col, g.rows, g.length)
        return out


