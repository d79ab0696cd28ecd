"""ExionCore's sparse GEMMs in the GEMM unit: the scan that lists each row
tile's kept columns, and the fetch of a condensed pass's weight columns into
the pass store."""

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Mux, Signal
from amaranth.lib import data
from amaranth.lib.memory import Memory
from amaranth.utils import ceil_log2

from .buffer import READ_LATENCY
from .walk import lane_enables


__all__ = ["scan", "fetch", "depth", "STORE_PASSES"]

#: Passes the pass store holds: the fetch runs up to three passes ahead of
#: the engine, so that a pass's fetch overlaps the passes before it.
STORE_PASSES = 4


def depth(p):
    """Entries of a list half, and words of a pass store part: the longest
    ``k`` or ``n`` (a row of a buffer), a power of two, at least a vector."""
    return max(1 << ceil_log2(p.width), p.banks)


def scan(m, p, d, start, on, length, port, s, go, written):
    """The scan: a column of a row tile's mask a cycle (``length`` columns
    from ``s.mask_col``, rows from ``s.mask_row``; kept where the mask,
    inverted with ``s.invert``, holds in a row below ``d.m``), into one half
    of a list of ``(k, rows)``: each kept column and the rows that keep it.
    ``on``: at ``start``, whether the descriptor scans; ``go``: the engine
    took the first beat of a row tile, so the next row tile may be scanned
    into the half the one before it used, once this one's scan has ended
    (a condensed ``GEMM_OS``'s engine may begin a row tile from a list
    still being written: see :func:`fetch`).

    **A list is kept for the next descriptors.** Each half remembers the
    region it lists (its tag: first row, column, length, inversion, rows
    enabled). A row tile whose region a half lists is not scanned again:
    the half is committed in the next cycle. FFN-Reuse's FC2 scans the
    region FC1 scanned before it, so it finds FC1's lists. A write into
    ``MASK`` that may touch a half's region (``written``, the buffer's
    write, its row and column range by vector, whatever its enables) drops
    the half's tag. A descriptor's first row tile is found in either half,
    else scanned into the half its queue used less recently; the next row
    tiles alternate, as the engine reads one half while the other is
    filled. The first row tile is looked up in the cycle after ``start``,
    on the registered descriptor.

    Returns ``rd`` (the list's read port, addressed ``Cat(entry, half)``),
    ``count`` (the entries of each half), ``committed`` (row tiles whose
    list is complete and readable), ``written`` (entries of the row tile
    being scanned that are readable), ``lookup`` (the cycle the first row
    tile is looked up) and ``first`` (in that cycle, its half)."""
    R, nb = p.array_rows, p.banks
    n = depth(p)
    entry = data.StructLayout({"k": 9, "rows": R})
    m.submodules.step_list = mem = Memory(shape=entry, depth=2 * n, init=[])
    wr, rd = mem.write_port(), mem.read_port()

    scanning, waiting = Signal(), Signal()
    so, sj = Signal(12), Signal(9)
    sj_last = sj == length - 1
    m.d.comb += [port.valid.eq(scanning), port.vertical.eq(1),
                 port.row.eq(s.mask_row + so), port.col.eq(s.mask_col + sj)]
    read = scanning & port.ready
    with m.If(read):
        m.d.sync += sj.eq(Mux(sj_last, 0, sj + 1))
        with m.If(sj_last):
            m.d.sync += [scanning.eq(0), waiting.eq(so + R < d.m), so.eq(so + R)]

    # a row tile begins: the descriptor's first, or the next once the engine
    # has taken the first beat of the one before
    tag = data.StructLayout({"row": 13, "col": 9, "length": 9, "invert": 1, "en": R})
    tags = [Signal(tag, name=f"list_tag{h}") for h in range(2)]
    listed = [Signal(name=f"list_valid{h}") for h in range(2)]
    cur, wh = Signal(), Signal()            # the latest row tile's half; the half scanned
    lookup, want = Signal(), Signal(tag)
    m.d.sync += lookup.eq(start & on)
    m.d.comb += [want.row.eq(s.mask_row + so), want.col.eq(s.mask_col), want.length.eq(length),
                 want.invert.eq(s.invert), want.en.eq(lane_enables(d.m - so, R))]
    match = [listed[h] & (tags[h].as_value() == want.as_value()) for h in range(2)]
    # a condensed GEMM_OS's engine may take a row tile's first beat while
    # the tile is still being scanned (the fetch streams the list): the
    # next row tile's scan then waits for this one's end
    begin, hit, half, went = Signal(), Signal(), Signal(), Signal()
    m.d.comb += [begin.eq(lookup | ((go | went) & waiting)),
                 hit.eq(Mux(lookup, match[0] | match[1], Mux(cur, match[0], match[1]))),
                 half.eq(Mux(lookup & (match[0] | match[1]), ~match[0], ~cur))]
    with m.If(go & ~waiting):
        m.d.sync += went.eq(1)
    with m.If(start | begin):
        m.d.sync += went.eq(0)
    with m.If(start):
        m.d.sync += [scanning.eq(0), waiting.eq(0), so.eq(0), sj.eq(0)]
    with m.If(begin):
        m.d.sync += [cur.eq(half), waiting.eq(0)]
        with m.If(hit):
            m.d.sync += [waiting.eq(so + R < d.m), so.eq(so + R)]
        with m.Else():
            m.d.sync += [scanning.eq(1), wh.eq(half)]
            for h in range(2):
                with m.If(half == h):
                    m.d.sync += [tags[h].eq(want), listed[h].eq(0)]

    # the half travels with the reads: the next row tile's scan may begin
    # before this one's last reads are written
    stage = data.StructLayout({"valid": 1, "last": 1, "k": 9, "en": R, "half": 1})
    line = [Signal(stage, name=f"scan_tag{i}") for i in range(READ_LATENCY)]
    m.d.sync += [line[0].valid.eq(read), line[0].last.eq(sj_last), line[0].k.eq(sj),
                 line[0].en.eq(lane_enables(d.m - so, R)), line[0].half.eq(wh)]
    m.d.sync += [b.eq(a) for a, b in zip(line, line[1:])]
    tail = line[-1]
    kept = Signal(R)
    m.d.comb += kept.eq(Cat(port.rdata[r] ^ s.invert for r in range(R)) & tail.en)
    put = tail.valid & kept.any()
    wc = Signal(range(n + 1))
    count = [Signal(range(n + 1), name=f"step_count{h}") for h in range(2)]
    m.d.comb += [wr.addr.eq(Cat(wc[:ceil_log2(n)], tail.half)), wr.data.k.eq(tail.k),
                 wr.data.rows.eq(kept), wr.en.eq(put)]
    m.d.sync += wc.eq(wc + put)
    # a half is readable a cycle after its last write has settled, or after
    # it was found
    done, committed = Signal(), Signal(12)
    m.d.sync += [done.eq((tail.valid & tail.last) | (begin & hit)),
                 committed.eq(committed + done)]
    with m.If(tail.valid & tail.last):
        m.d.sync += wc.eq(0)
        for h in range(2):
            with m.If(tail.half == h):
                m.d.sync += [count[h].eq(wc + put), listed[h].eq(1)]
    with m.If(start):
        m.d.sync += [wc.eq(0), committed.eq(0)]

    _drop_touched(m, tags, listed, written, R, nb)
    return SimpleNamespace(rd=rd, count=count, committed=committed, written=wc, lookup=lookup,
                           first=half)


def _drop_touched(m, tags, listed, written, rows, banks):
    """Clear ``listed`` of each half whose region (``rows`` rows from its
    tag's) a write into ``MASK`` may touch: the vector's rows and columns,
    ``banks`` long, whatever its enables."""
    w_rows = Mux(written.vertical, banks, 1)
    w_cols = Mux(written.vertical, 1, banks)
    for t, ok in zip(tags, listed):
        touch = (written.valid & (written.row < t.row + rows) & (t.row < written.row + w_rows) &
                 (written.col < t.col + t.length) & (t.col < written.col + w_cols))
        with m.If(touch):
            m.d.sync += ok.eq(0)


def fetch(m, p, d, start, lst, port, go):
    """A condensed ``GEMM_OS``'s weights: for each pass (``C`` consecutive
    entries of a row tile's list, the last pass of a tile possibly fewer, a
    tile that keeps nothing one pass of none), each slot's column of ``B``
    (``ceil(k / banks)`` reads of ``port``, down ``WGT``'s column or, with
    ``d.b_t``, along its row) into one of :data:`STORE_PASSES` parts of
    the pass store: ``banks`` memories, element ``(slot, kk)`` in memory
    ``(slot + kk) mod banks`` at ``kk``, so that a slot's read and a
    reduction step's ``C`` slots each touch every memory once. A pass's
    fetch runs when its part is free (the engine has taken the first beat
    of the pass that used it before, ``go`` counting them) and its entries
    are listed: the row tile's whole list, or, while the row tile is still
    scanned, the pass's ``C`` entries and one more (so the pass is full and
    not the tile's last). It starts after a cycle in which the list's
    address settles: in the cycle the pass before it ends, if that one was
    of the same row tile and the pass is listed by then. Streaming the list
    so takes FC1's scan of ``n`` columns off the first pass's way.

    Returns ``stores`` (each memory's read port, addressed ``Cat(kk,
    part)``), ``fetched`` (passes complete and readable), ``addr`` (the
    list's read address the fetch needs), and for each part of the store
    its pass's slots (``used``) and whether that pass ends its row tile
    (``end``), which the feed and the write-back follow."""
    C, nb, n = p.array_cols, p.banks, depth(p)
    stores = []
    writes = []
    for b in range(nb):
        mem = Memory(shape=8, depth=STORE_PASSES * n, init=[])
        m.submodules[f"pass_store{b}"] = mem
        writes.append(mem.write_port())
        stores.append(mem.read_port())

    chunks = Signal(range(n // nb + 2))            # reads a slot takes
    m.d.comb += chunks.eq((d.k + nb - 1) >> ceil_log2(nb))
    # the row tile the fetch is in: its list half, and its entries before the pass
    th, trow = Signal(), Signal(12)
    credits, armed, running = Signal(range(STORE_PASSES + 1)), Signal(), Signal()
    slot, chunk, base = Signal(range(C + 1)), Signal(range(n // nb + 2)), Signal(range(n + 1))
    used = Signal(range(C + 1))
    ph = Signal(ceil_log2(STORE_PASSES))            # the part being written
    rest = Mux(th, lst.count[1], lst.count[0]) - base
    # While the row tile is scanned, a pass whose entries are listed and
    # followed by another is full and not the tile's last: it need not wait
    # for the scan's end. (The scan is of the fetch's row tile: the next
    # one's begins after the engine has taken this one's first beat.)
    complete = lst.committed != trow
    ready = complete | (lst.written > base + C)
    ready_next = complete | (lst.written > base + 2 * C)
    m.d.comb += used.eq(Mux(complete & (rest < C), rest, C))
    last_slot = slot + 1 >= used
    last_chunk = chunk + 1 == chunks
    # the list is read one cycle ahead: the entry of the slot being fetched
    read, addr = Signal(), Signal.like(lst.rd.addr)
    m.d.comb += addr.eq(Cat((base + slot + (read & last_chunk))[:ceil_log2(n)], th))
    j = lst.rd.data.k
    issue = running & (used != 0)
    m.d.comb += [port.valid.eq(issue), port.vertical.eq(~d.b_t),
                 port.row.eq(Mux(d.b_t, d.b_row + j, d.b_row + (chunk << ceil_log2(nb)))),
                 port.col.eq(Mux(d.b_t, d.b_col + (chunk << ceil_log2(nb)), d.b_col + j))]
    m.d.comb += read.eq(issue & port.ready)
    pass_done, row_end = Signal(), Signal()
    m.d.comb += [pass_done.eq((running & (used == 0)) | (read & last_slot & last_chunk)),
                 row_end.eq(complete & (rest <= C))]
    with m.If(read):
        m.d.sync += chunk.eq(Mux(last_chunk, 0, chunk + 1))
        with m.If(last_chunk):
            m.d.sync += slot.eq(slot + 1)
    # each part's pass, for the feed: its slots, and whether it ends its row tile
    part_used = Array(Signal(range(C + 1), name=f"part_used{i}") for i in range(STORE_PASSES))
    part_end = Array(Signal(name=f"part_end{i}") for i in range(STORE_PASSES))
    arm = Signal()
    m.d.comb += arm.eq((credits != 0) & Mux(running, pass_done & ~row_end & ready_next,
                                            ~armed & ready))
    with m.If(arm):
        m.d.sync += armed.eq(1)
    with m.If(armed):
        m.d.sync += [armed.eq(0), running.eq(1)]
    m.d.sync += credits.eq(credits + go - arm)
    with m.If(pass_done):
        m.d.sync += [running.eq(0), slot.eq(0), chunk.eq(0), ph.eq(ph + 1),
                     base.eq(Mux(row_end, 0, base + C)),
                     part_used[ph].eq(used), part_end[ph].eq(row_end)]
        with m.If(row_end):
            m.d.sync += [th.eq(~th), trow.eq(trow + 1)]
    with m.If(start):
        m.d.sync += [trow.eq(0), credits.eq(STORE_PASSES - 1), armed.eq(0),
                     running.eq(0), slot.eq(0), chunk.eq(0), base.eq(0), ph.eq(0)]
    with m.If(lst.lookup):
        m.d.sync += th.eq(lst.first)

    # the read vector into the store, rotated to each memory's element
    tag = data.StructLayout({"valid": 1, "last": 1, "slot": range(C + 1), "chunk": chunk.shape(),
                             "part": ph.shape()})
    line = [Signal(tag, name=f"fetch_tag{i}") for i in range(READ_LATENCY)]
    m.d.sync += [line[0].valid.eq(read), line[0].last.eq(pass_done), line[0].slot.eq(slot),
                 line[0].chunk.eq(chunk), line[0].part.eq(ph)]
    m.d.sync += [b.eq(a) for a, b in zip(line, line[1:])]
    tail = line[-1]
    kk0 = tail.chunk << ceil_log2(nb)
    for b, w in enumerate(writes):
        e = Signal(range(nb), name=f"fetch_e{b}")
        m.d.comb += e.eq(b - tail.slot - kk0)
        m.d.comb += [w.en.eq(tail.valid), w.data.eq(port.rdata[e]),
                     w.addr.eq(Cat((kk0 + e)[:ceil_log2(n)], tail.part))]
    # a pass is readable a cycle after its last write has settled (a pass
    # without slots: as soon as its tag comes through)
    settled, fetched = Signal(), Signal(12)
    m.d.sync += [settled.eq(tail.last), fetched.eq(fetched + settled)]
    with m.If(start):
        m.d.sync += fetched.eq(0)
    return SimpleNamespace(stores=stores, fetched=fetched, addr=addr, used=part_used,
                           end=part_end)
