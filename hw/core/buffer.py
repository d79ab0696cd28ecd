"""A two-dimensional on-chip buffer read and written a vector at a time, along
a row or down a column, by several clients."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..params import check_int


__all__ = ["BankedBuffer", "ReadPort", "WritePort", "READ_LATENCY", "request_layout"]

#: Cycles from a granted read request to its ``rvalid``: the request
#: registered, the memories read, the vector rotated into a register.
READ_LATENCY = 3


def request_layout(row_bits, col_bits):
    """A granted request, registered: ``valid``, ``row``, ``col``, ``vertical``."""
    return data.StructLayout({"valid": 1, "row": row_bits, "col": col_bits, "vertical": 1})


class ReadPort(wiring.Signature):
    """One client's read port (from the client's side).

    Members
    -------
    valid : Out(1)
        A request; taken in a cycle when ``ready`` (the arbiter's grant).
    row, col : Out
        The first element of the vector.
    vertical : Out(1)
        The vector runs down the column from ``(row, col)``, else along the row.
    ready : In(1)
        The request is granted this cycle.
    rvalid : In(1)
        ``rdata`` holds the vector of the request granted
        :data:`READ_LATENCY` cycles before. There is no backpressure: a
        client requests only what it has room for.
    rdata : In(ArrayLayout)
        Element ``j`` of the vector: ``(row, col + j)`` or ``(row + j, col)``.
    """

    def __init__(self, row_bits, col_bits, elem_bits, banks):
        super().__init__({
            "valid": Out(1), "row": Out(row_bits), "col": Out(col_bits), "vertical": Out(1),
            "ready": In(1), "rvalid": In(1),
            "rdata": In(data.ArrayLayout(unsigned(elem_bits), banks))})


class WritePort(wiring.Signature):
    """One client's write port (from the client's side): a vector as for
    :class:`ReadPort`, ``en`` naming the elements written. A write granted
    in a cycle is seen by every read granted from the next cycle on."""

    def __init__(self, row_bits, col_bits, elem_bits, banks):
        super().__init__({
            "valid": Out(1), "row": Out(row_bits), "col": Out(col_bits), "vertical": Out(1),
            "data": Out(data.ArrayLayout(unsigned(elem_bits), banks)), "en": Out(banks),
            "ready": In(1)})


class BankedBuffer(wiring.Component):
    """``rows x width`` elements of ``elem_bits`` in ``banks`` memories one
    element wide, skewed: element ``(r, c)`` lives in bank ``(r + c) mod
    banks`` at address ``r * words + c // banks`` (``words`` the next power
    of two of ``ceil(width / banks)``). Any ``banks`` consecutive elements of
    a row, or of a column, lie in different banks, so that one vector along
    either direction is read or written per cycle: GEMM reads activations
    down columns and weights along rows (or down columns, transposed), every
    other client along rows.

    Each cycle one read and one write are granted, each to the first client
    in its list (``reads``, ``writes``) with a request: the engine's clients
    come first, so that they are never refused. Clients of lower priority
    wait.

    A vertical vector past the last row, or a horizontal one past the last
    column, reads elements of no meaning; clients ignore them, and never
    enable a write outside the buffer (the descriptors are checked first).

    Latency: a read's data :data:`READ_LATENCY` cycles after its grant.
    Throughput: a read and a write each cycle.

    Parameters
    ----------
    rows, width, elem_bits, banks : int
        ``banks`` a power of two.
    reads, writes : sequence of str
        The clients' names, highest priority first.
    watched : bool
        Whether the buffer shows its writes (``written``).

    Members
    -------
    r_<name> : In(ReadPort)
    w_<name> : In(WritePort)
    written : Out(StructLayout)
        With ``watched``: the vector the banks write this cycle (``valid``,
        ``row``, ``col``, ``vertical``), a write granted the cycle before. A
        client that keeps what it has read (ExionCore's lists of kept
        columns) watches it.
    """

    def __init__(self, *, rows, width, elem_bits, banks, reads, writes, watched=False):
        check_int("rows", rows, min=1, max=1 << 16)
        check_int("width", width, min=1, max=1 << 12)
        check_int("elem_bits", elem_bits, min=1, max=64)
        check_int("banks", banks, min=1, max=256)
        if banks & (banks - 1):
            raise ValueError(f"banks: expected a power of two, got {banks!r}")
        if not isinstance(watched, bool):
            raise TypeError(f"watched: expected a bool, got {watched!r}")
        self.rows, self.width, self.elem_bits, self.banks = rows, width, elem_bits, banks
        self.watched = watched
        self.reads, self.writes = tuple(reads), tuple(writes)
        shape = (self.row_bits, self.col_bits, elem_bits, banks)
        super().__init__({**{f"r_{n}": In(ReadPort(*shape)) for n in self.reads},
                          **{f"w_{n}": In(WritePort(*shape)) for n in self.writes},
                          **({"written": Out(request_layout(self.row_bits, self.col_bits))}
                             if watched else {})})

    @property
    def row_bits(self):
        return max(1, ceil_log2(self.rows))

    @property
    def col_bits(self):
        return max(1, ceil_log2(self.width))

    @property
    def word_bits(self):
        """Address bits of a row's words in a bank."""
        return ceil_log2(-(-self.width // self.banks))

    @property
    def depth(self):
        """Elements each bank holds."""
        return self.rows << self.word_bits

    def port_shape(self):
        return self.row_bits, self.col_bits, self.elem_bits, self.banks

    def elaborate(self, platform):
        m = Module()
        n = self.banks
        reads = [getattr(self, f"r_{c}") for c in self.reads]
        writes = [getattr(self, f"w_{c}") for c in self.writes]
        _grant(m, reads)
        _grant(m, writes)

        # stage 1: the granted request registered
        rq = self._request(m, reads, "rq")
        wq = self._request(m, writes, "wq")
        if self.watched:
            m.d.comb += self.written.eq(wq)
        wdata = Signal(data.ArrayLayout(unsigned(self.elem_bits), n))
        wen = Signal(n)
        m.d.sync += wen.eq(0)
        for p in writes:
            with m.If(p.ready):
                m.d.sync += [wdata.eq(p.data), wen.eq(p.en)]
        r_client = Signal(len(reads))
        m.d.sync += r_client.eq(Cat(p.ready for p in reads))

        # stage 2: the banks read and written; stage 3: the vector rotated back
        rshift = Signal(ceil_log2(n) if n > 1 else 1)
        r_client2 = Signal(len(reads))
        m.d.sync += [rshift.eq(rq.row + rq.col), r_client2.eq(r_client)]
        out = Signal(data.ArrayLayout(unsigned(self.elem_bits), n))
        got = []
        for b in range(n):
            mem = Memory(shape=unsigned(self.elem_bits), depth=self.depth, init=[])
            m.submodules[f"bank{b}"] = mem
            rp, wp = mem.read_port(), mem.write_port()
            m.d.comb += rp.addr.eq(self._address(rq, b))
            m.d.comb += wp.addr.eq(self._address(wq, b))
            j = self._element(wq, b)
            m.d.comb += [wp.data.eq(wdata[j]), wp.en.eq(wen.bit_select(j, 1))]
            got.append(rp.data)
        # element j of the vector is in bank (row + col + j) mod n
        for j in range(n):
            m.d.sync += out[j].eq(_rotate_pick(got, rshift, j))
        r_client3 = Signal(len(reads))
        m.d.sync += r_client3.eq(r_client2)
        for i, p in enumerate(reads):
            m.d.comb += [p.rvalid.eq(r_client3[i]), p.rdata.eq(out)]
        return m

    def _request(self, m, ports, name):
        """The granted request of ``ports``, registered."""
        q = Signal(request_layout(self.row_bits, self.col_bits), name=name)
        m.d.sync += q.valid.eq(0)
        for p in ports:
            with m.If(p.ready):
                m.d.sync += [q.valid.eq(1), q.row.eq(p.row), q.col.eq(p.col),
                             q.vertical.eq(p.vertical)]
        return q

    def _element(self, q, b):
        """Which element of ``q``'s vector bank ``b`` holds."""
        n = self.banks
        if n == 1:
            return Const(0, 1)
        return (Const(b, ceil_log2(n)) - (q.row + q.col))[:ceil_log2(n)]

    def _address(self, q, b):
        """Bank ``b``'s address for ``q``'s vector."""
        j = self._element(q, b)
        wb, rb = self.word_bits, self.row_bits
        shift = ceil_log2(self.banks)
        horiz = Cat(((q.col + j) >> shift)[:wb], q.row)
        vert = Cat((q.col >> shift)[:wb], (q.row + j)[:rb])
        return Mux(q.vertical, vert, horiz)


def _rotate_pick(got, shift, j):
    """``got[(shift + j) mod len(got)]``."""
    n = len(got)
    if n == 1:
        return got[0]
    sel = (shift + j)[:ceil_log2(n)]
    out = got[0]
    for b in range(1, n):
        out = Mux(sel == b, got[b], out)
    return out


def _grant(m, ports):
    """Grant the first port of ``ports`` with a request."""
    taken = Const(0, 1)
    for p in ports:
        m.d.comb += p.ready.eq(p.valid & ~taken)
        taken = taken | p.valid
