"""The cycle model of a descriptor program on the core.

An event schedule of the four queues under their tokens, with each
descriptor's cycles from its unit's structure. Each cost is what the RTL
core takes for the descriptor *alone*, with every outside stream always
offered and ready, and external memory answering a command in the cycle
after it (as the testbenches' host model does): on a program whose
descriptors do not overlap (each waits for the one before), the schedule's
cycles are the RTL's, and ``tests/test_core.py`` holds them to it. Where
descriptors overlap, the units share the buffers' ports (the GEMM unit
first), so the RTL's descriptors can take longer than here; ``exdisc bench
core`` sets both side by side, and the difference is the cycles lost to
buffer port conflicts.

Costs, with ``V`` the region's vectors of ``banks`` elements (``rows *
ceil(cols / banks)``):

``GEMM``
    ``ceil(m/R) * ceil(n/C)`` output tiles of ``k`` beats on an ``R x C``
    array, as :func:`.systolic.cycle_model` times them back to back, and
    :data:`GEMM_OVERHEAD` cycles (the first operands' read, the last
    write-back). The engine's beats are its busy cycles.
``NONLINEAR``
    ``b = ceil(length / lanes)`` beats a row: ``nonlinear_latency + max(b
    * (rows + 2), 2 * rows)``. The non-linear unit takes a row's beats one
    a cycle and a command every second cycle, and holds a row for two
    passes over it before its first output (``2 * b``); the latency of a
    row through the unit and the vector unit's reads and writes is the
    unit's own (it depends on the unit's parameters), taken from the RTL
    by :class:`Timing`'s ``nonlinear_latency``. A gain or bias load:
    ``LOAD_ROW_OVERHEAD + b``.
``ADD``
    Three reads a vector from one buffer (gate, source, destination):
    ``3 * V + ADD_OVERHEAD``.
``LOAD``
    A vector written a cycle, and a cycle to take each beat of
    ``bus_bytes`` (a row's beats end with it): ``V + beats + 2``.
``STORE``
    A vector read a cycle into beats: ``V + STORE_OVERHEAD``.
``GATHER`` / ``SCATTER`` (DiscCore)
    A ``LOAD``'s / ``STORE``'s, after the index list is read a vector a
    cycle and checked, and the first row's address computed:
    ``+ ceil(rows / banks) + GATHER_CHECK`` / ``SCATTER_CHECK``. The
    addresses then come one a cycle, ahead of the data.
``KV_GATHER`` / ``KV_SCATTER`` (DiscCore)
    The index list checked as a gather's (``ceil(rows / banks)``), then
    ``g = ceil(rows / banks)`` groups of ``banks`` rows, a column of a group
    a cycle (a group at least :data:`KV_GROUP` cycles, its bases' read from
    the list), and :data:`KV_GATHER_OVERHEAD` / :data:`KV_SCATTER_OVERHEAD`
    cycles through the router: ``ceil(rows / banks) + (g - 1) * max(cols,
    KV_GROUP) + cols + overhead``. That is the router without bank
    conflicts (each column's elements in different banks); lanes that meet
    at a bank wait, and the RTL takes longer (``exdisc bench disc`` reports
    the router's requests per lane per cycle).
``SET`` / ``FINISH``
    One cycle / two.
``GEMM_OS`` (ExionCore)
    A ``GEMM``'s: the unit runs every tile and step, masking outputs.
    Condensed: each row tile's ``s`` kept columns (its mask scanned as
    ``GEMM_IS``'s) in passes of ``C``, ``ceil(s / C)`` passes of ``k``
    beats (one pass of one beat if ``s = 0``). A pass's weights are fetched
    before its first beat, ``f = max(1, slots * ceil(k / banks))`` cycles.
    The fetches run one after another, up to ``STORE_PASSES - 1`` passes
    ahead of the engine, each once its entries of the row tile's list are
    written: the pass's ``C`` and the next (the scan has reached column
    ``j``, that of the row tile's ``(q + 1) C``-th kept column, for pass
    ``q``), or the whole list (``j = n``) for the tile's last pass. The
    first pass's fetch starts ``j + SCAN_FIRST`` cycles from the start and
    its first beat ``f + FETCH_FIRST`` later. A row tile's scan starts
    when the engine takes the previous row tile's first beat, or
    ``n + SCAN_AFTER`` after the previous scan's start if later (the
    constants ``FETCH_*`` below).
``GEMM_IS`` (ExionCore)
    A row tile's output tiles take only the reduction steps that its mask
    keeps for some row of the tile (``s``; one step if none), so the tiles
    are ``ceil(n/C)`` of ``max(s, 1)`` beats for each row tile. Before a row
    tile's first beat its mask is scanned, a column a cycle: the first row
    tile's from the start (``k + SCAN_FIRST`` cycles), each next one's from
    when the engine takes the first beat of the row tile before it (its
    first beat at least ``k + SCAN_NEXT`` cycles after that one's). The
    steps come from the mask the descriptor meets (``masks``, below); a
    descriptor without one is timed as if every step were kept. A row
    tile whose list the unit kept from a descriptor before (the same region
    of ``MASK``, not written since: :class:`_Lists`) is not scanned: it is
    ready ``FOUND`` cycles sooner than a scan beyond the scan's columns, in
    a condensed ``GEMM_OS`` as here.
``MASKGEN`` (ExionCore)
    A vector read and compared a cycle: ``V + MASKGEN_OVERHEAD``.

A descriptor reaches its queue :data:`DECODE_CYCLES` after the one before
it (the first :data:`DECODE_CYCLES` after the program starts), or when its
queue has room: :data:`ROOM_CYCLES` after the descriptor ``queue_depth``
places ahead of it in its queue started. It starts
when its queue is free, it is there, and every token it pops was given at
least a cycle before; its pushes are given when it ends.
"""

import math
from collections import defaultdict, deque
from dataclasses import dataclass

import numpy as np

from .core_isa import QUEUE_OF, Buffer, Fn, Op, Queue, decode
from .systolic import cycle_model

__all__ = ["Timing", "estimate", "input_steps", "kv_walk", "DECODE_CYCLES"]

#: Cycles between two descriptors out of the decoder (``hw.core.decode.Decoder``).
DECODE_CYCLES = 5
#: A token given at the end of a cycle starts its popper in the next.
TOKEN_CYCLES = 1
GEMM_OVERHEAD = 9
#: ``GEMM_IS``: cycles beyond ``k`` of the first row tile's scan, and from
#: a row tile's first beat to the next one's through the next scan.
SCAN_FIRST = 5
SCAN_NEXT = 9
#: A row tile whose list is kept (:class:`_Lists`) is committed this many
#: cycles sooner than its scan, beyond the scan's columns: the reads' latency.
FOUND = 3
#: A condensed ``GEMM_OS``'s fetch (``hw.core.condense.fetch``): the pass
#: store holds ``STORE_PASSES`` passes; cycles from the first scan's end to
#: the first beat beyond the fetch, from a fetch's start to its pass's
#: first beat beyond the fetch, between fetches of one row tile and of two,
#: from the engine's taking the first beat of the pass whose part of the
#: store a fetch reuses to its start, and from a row tile's first beat to
#: the start of the next row tile's fetch beyond the scan.
STORE_PASSES = 4
FETCH_FIRST = 6
FETCH_FEED = 8
FETCH_GAP = 1
FETCH_ROW_GAP = 2
FETCH_CREDIT = 3
FETCH_SCAN = 7
#: A row tile's scan waits for the scan before it: from that one's start
#: (the engine's time, as above) beyond its columns.
SCAN_AFTER = 1
ADD_OVERHEAD = 12
LOAD_OVERHEAD = 2
STORE_OVERHEAD = 6
MASKGEN_OVERHEAD = 6
GATHER_CHECK = 7
SCATTER_CHECK = 4
#: The K/V store's transfers (``hw.core.kv.KVUnit``): cycles a group of
#: rows takes at least, and beyond the list's check and the columns.
KV_GROUP = 3
KV_GATHER_OVERHEAD = 16
KV_SCATTER_OVERHEAD = 19
#: A gain or bias row: the unit takes it in without an output.
LOAD_ROW_OVERHEAD = 6
FINISH_CYCLES = 2
#: A queue's head that starts makes room for the decoder's next descriptor.
ROOM_CYCLES = 2
#: Bytes of an element of each buffer (``None``: one bit).
_ELEMENT_BYTES = {0: 1, 1: 1, 2: 4, 3: None}


@dataclass(frozen=True)
class Timing:
    """What the model knows of the core.

    Members
    -------
    rows, cols : int
        The engine's array.
    lanes : int
        The non-linear unit's lanes.
    banks : int
        Elements a buffer reads or writes per cycle (``CoreParams.banks``).
    bus_bytes : int
        Bytes per beat of the load and store streams (``CoreParams.bus_bytes``).
    nonlinear_latency : int
        A non-linear row's cycles beyond its beats (see ``NONLINEAR``
        above); the RTL's at 16 lanes and rows of 256 by default.
    queue_depth : int
        Descriptors a queue holds (``CoreParams.queue_depth``).
    """
    rows: int = 16
    cols: int = 16
    lanes: int = 16
    banks: int = 16
    bus_bytes: int = 64
    nonlinear_latency: int = 102
    queue_depth: int = 16

    def __post_init__(self):
        for name in ("rows", "cols", "lanes", "banks", "bus_bytes", "queue_depth"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        v = self.nonlinear_latency
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"nonlinear_latency: expected a non-negative integer, got {v!r}")


def _vectors(rows, cols, banks):
    return rows * math.ceil(cols / banks)


def input_steps(kept, rows):
    """``GEMM_IS``'s reduction steps in each row tile of ``rows``: the
    columns of ``kept`` (``m x k``, the inputs its mask keeps) set in some
    row of the tile."""
    kept = np.asarray(kept, bool)
    return [int(kept[u:u + rows].any(axis=0).sum()) for u in range(0, kept.shape[0], rows)]


def _condensed_cost(f, t, kept, found=None):
    """A condensed ``GEMM_OS``'s ``(cycles, engine beats)``: the engine's
    tiles (its passes) as :func:`.systolic.cycle_model` times them, each
    first beat held for its pass's fetch, the fetches one after the other
    and each waiting for its part of the pass store and for its entries of
    its row tile's list: the whole list, or while the tile is scanned, the
    pass's ``C`` entries and the next one (the scan has reached the column
    of the entry after the pass)."""
    R, C = t.rows, t.cols
    row_tiles = math.ceil(f["m"] / R)
    if kept is None:
        cols = [np.arange(f["n"])] * row_tiles
    else:
        kept = np.asarray(kept, bool)
        cols = [np.flatnonzero(kept[u:u + R].any(axis=0)) for u in range(0, kept.shape[0], R)]
    found = found or [False] * row_tiles
    chunks = math.ceil(f["k"] / t.banks)
    ks, fetches, row_of, pass_of, firsts = [], [], [], [], []
    for u, c in enumerate(cols):
        firsts.append(len(ks))
        for q in range(max(1, math.ceil(len(c) / C))):
            ks.append(f["k"] if len(c) else 1)
            fetches.append(max(1, min(C, len(c) - q * C) * chunks))
            row_of.append(u)
            pass_of.append(q)

    def listed(u, q):
        """Cycles from row tile ``u``'s scan to its pass ``q``'s entries."""
        c = cols[u]
        return int(c[(q + 1) * C]) if len(c) > (q + 1) * C else f["n"]

    # the first pass's fetch from the descriptor's start; the engine's time
    # begins at its first beat
    fetch0 = SCAN_FIRST - FOUND if found[0] else listed(0, 0) + SCAN_FIRST
    origin = fetch0 + fetches[0] + FETCH_FIRST
    scans = [SCAN_FIRST - FETCH_SCAN - origin]    # each row tile's scan, in the engine's time
    starts = []                                    # each fetch's first cycle

    def ready(i, first):
        if i == 0:
            starts.append(-fetches[0] - FETCH_FEED)
            return 0
        u, q = row_of[i], pass_of[i]
        new_row = u != row_of[i - 1]
        start = starts[-1] + fetches[i - 1] + (FETCH_ROW_GAP if new_row else FETCH_GAP)
        if i >= STORE_PASSES - 1:
            start = max(start, first[i - STORE_PASSES + 1] + FETCH_CREDIT)
        if new_row:
            # the scan begins when the engine has taken the row tile
            # before's first beat, and the scan before it has ended
            before = scans[-1] + f["n"] + SCAN_AFTER if not found[u - 1] else -math.inf
            scans.append(max(first[firsts[u - 1]], before))
        if found[u]:
            if new_row:
                start = max(start, scans[u] + FETCH_SCAN - FOUND)
        else:
            start = max(start, scans[u] + listed(u, q) + FETCH_SCAN)
        starts.append(start)
        return start + fetches[i] + FETCH_FEED

    engine = cycle_model(R, C, ks, ready=ready)
    return origin + engine["total"] + GEMM_OVERHEAD, sum(ks)


class _Lists:
    """The GEMM unit's two halves of kept-column lists
    (``hw.core.condense.scan``): each half's region (its tag) and when it
    was listed, the latest row tile's half, and the writes into ``MASK``
    (their start and the rectangle their vectors may touch), any of which,
    after a half was listed and before a descriptor starts, drops the
    half's tag. On a program whose writes into ``MASK`` are ordered against
    the sparse GEMMs that read what they write (as the tokens must order
    them), every such write has started by then in the schedule."""

    def __init__(self, t):
        self.t = t
        self.tags, self.listed, self.cur = [None, None], [0, 0], 0
        self.writes = []

    def write(self, op, f, start):
        """Note ``op``'s writes into ``MASK``, if it makes any."""
        t = self.t
        if op in (Op.LOAD, Op.GATHER) and f["buffer"] == Buffer.MASK:
            rect = (f["row"], f["rows"], f["col"], math.ceil(f["cols"] / t.banks) * t.banks)
        elif op == Op.MASKGEN:
            rect = (f["dst_row"], f["rows"], f["dst_col"],
                    math.ceil(f["length"] / t.banks) * t.banks)
        elif op == Op.NONLINEAR and f["fn"] == Fn.SOFTMAX:
            # the keep masks, a vector of the unit's lanes at a time from column 0
            rect = (f["aux_row"], f["rows"], 0,
                    (math.ceil(f["length"] / t.lanes) - 1) * t.lanes + t.banks)
        else:
            return
        self.writes.append((start, rect))

    def _kept(self, h, want, start):
        if self.tags[h] != want:
            return False
        row, col, length = want[0], want[1], want[2]
        for at, (r, rows, c, cols) in self.writes:
            if self.listed[h] <= at < start and r < row + self.t.rows and row < r + rows \
                    and c < col + length and col < c + cols:
                return False
        return True

    def find(self, op, f, start):
        """For each row tile of a sparse GEMM starting at ``start``, whether
        its list is kept (and the halves as the descriptor leaves them)."""
        R = self.t.rows
        length = f["n"] if op == Op.GEMM_OS else f["k"]
        found = []
        for u in range(math.ceil(f["m"] / R)):
            want = (f["mask_row"] + u * R, f["mask_col"], length, f["invert"],
                    min(R, f["m"] - u * R))
            kept = [self._kept(h, want, start) for h in range(2)]
            if u == 0:
                hit = any(kept)
                half = (0 if kept[0] else 1) if hit else 1 - self.cur
            else:
                half = 1 - self.cur
                hit = kept[half]
            if not hit:
                self.tags[half], self.listed[half] = want, start
            self.cur = half
            found.append(hit)
        return found


def kv_walk(rows, cols, banks):
    """Cycles a ``KV_GATHER`` or ``KV_SCATTER`` of ``rows x cols`` issues to
    the router's ``banks`` lanes without bank conflicts: its groups of
    ``banks`` rows a column a cycle, a group at least :data:`KV_GROUP`."""
    groups = math.ceil(rows / banks)
    return (groups - 1) * max(cols, KV_GROUP) + cols


def _cost(op, f, t, kept=None, found=None):
    """``(cycles, engine beats)`` of one descriptor, alone on the core
    (``kept``: a sparse GEMM's kept inputs, if known; ``found``: for each of
    its row tiles, whether its list was kept from a descriptor before)."""
    if op == Op.GEMM_IS:
        row_tiles, col_tiles = math.ceil(f["m"] / t.rows), math.ceil(f["n"] / t.cols)
        steps = [f["k"]] * row_tiles if kept is None else input_steps(kept, t.rows)
        found = found or [False] * row_tiles
        ks = [max(s, 1) for s in steps for _ in range(col_tiles)]
        after = {u * col_tiles: [((u - 1) * col_tiles,
                                  SCAN_NEXT - FOUND if found[u] else f["k"] + SCAN_NEXT)]
                 for u in range(1, row_tiles)}
        engine = cycle_model(t.rows, t.cols, ks, after=after)
        first = SCAN_FIRST - FOUND if found[0] else f["k"] + SCAN_FIRST
        return first + engine["total"] + GEMM_OVERHEAD, sum(ks)
    if op == Op.GEMM_OS and f["condensed"]:
        return _condensed_cost(f, t, kept, found)
    if op in (Op.GEMM, Op.GEMM_OS):
        # ExionCore's output-sparse GEMM runs dense tiles under its mask
        tiles = math.ceil(f["m"] / t.rows) * math.ceil(f["n"] / t.cols)
        return (cycle_model(t.rows, t.cols, [f["k"]] * tiles)["total"] + GEMM_OVERHEAD,
                tiles * f["k"])
    if op == Op.NONLINEAR:
        b = math.ceil(f["length"] / t.lanes)
        if f["fn"] in (Fn.LOAD_GAIN, Fn.LOAD_BIAS):
            return LOAD_ROW_OVERHEAD + b, 0
        return t.nonlinear_latency + max(b * (f["rows"] + 2), 2 * f["rows"]), 0
    if op == Op.ADD:
        return 3 * _vectors(f["rows"], f["length"], t.banks) + ADD_OVERHEAD, 0
    if op in (Op.GATHER, Op.SCATTER):
        check = math.ceil(f["rows"] / t.banks)
        plain = _cost(Op.LOAD if op == Op.GATHER else Op.STORE, f, t)[0]
        return plain + check + (GATHER_CHECK if op == Op.GATHER else SCATTER_CHECK), 0
    if op in (Op.KV_GATHER, Op.KV_SCATTER):
        overhead = KV_GATHER_OVERHEAD if op == Op.KV_GATHER else KV_SCATTER_OVERHEAD
        return math.ceil(f["rows"] / t.banks) + kv_walk(f["rows"], f["cols"], t.banks) \
            + overhead, 0
    if op in (Op.LOAD, Op.STORE):
        v = _vectors(f["rows"], f["cols"], t.banks)
        if op == Op.STORE:
            return v + STORE_OVERHEAD, 0
        elem = _ELEMENT_BYTES[f["buffer"]]
        row_bytes = -(-f["cols"] // 8) if elem is None else f["cols"] * elem
        beats = f["rows"] * math.ceil(row_bytes / t.bus_bytes)
        return v + beats + LOAD_OVERHEAD, 0
    if op == Op.MASKGEN:
        return _vectors(f["rows"], f["length"], t.banks) + MASKGEN_OVERHEAD, 0
    return (1 if op == Op.SET else FINISH_CYCLES), 0


def estimate(program, timing=None, masks=None):
    """The schedule's figures for ``program`` (well formed, ending in
    ``FINISH``), with ``masks`` (``{index: kept}``) the inputs each
    ``GEMM_IS`` keeps (``m x k`` booleans, as
    :attr:`exdisc.golden.core.Result.masks` records them for one sample):
    ``total`` cycles, ``engine_beats`` and ``engine_busy``
    (beats over total), each queue's busy cycles, cycles by operation, the
    cycles each queue spent waiting for tokens, the ``schedule``: per
    descriptor ``(index, queue, operation, start, end)``, and ``found``:
    per sparse GEMM, whether each row tile's list was kept from before."""
    t = timing or Timing()
    if not isinstance(t, Timing):
        raise TypeError(f"timing: expected a Timing, got {t!r}")
    masks = {} if masks is None else masks
    if not isinstance(masks, dict):
        raise TypeError(f"masks: expected a dict of descriptor index to kept inputs, "
                        f"got {masks!r}")
    queues = {q: deque() for q in Queue}
    queue_of = []
    for i, word in enumerate(program):
        op, f = decode(word)
        if not isinstance(op, Op):
            raise ValueError(f"program: descriptor {i} has no operation ({op})")
        queues[QUEUE_OF[op]].append((i, op, f))
        queue_of.append(QUEUE_OF[op])
    # the decoder hands descriptors on in order, each when its queue has room
    members = {q: [i for i, _, _ in queues[q]] for q in Queue}
    place = {i: n for q in Queue for n, i in enumerate(members[q])}
    arrival, started = [], {}

    def arrive():
        """Arrival times of the next descriptors, as far as they are known."""
        while len(arrival) < len(program):
            i = len(arrival)
            q, n = queue_of[i], place[len(arrival)]
            at = (arrival[-1] if arrival else 0) + DECODE_CYCLES
            if n >= t.queue_depth:
                ahead = members[q][n - t.queue_depth]
                if ahead not in started:
                    return
                at = max(at, started[ahead] + ROOM_CYCLES)
            arrival.append(at)

    free = dict.fromkeys(Queue, 0)
    lists, found_lists = _Lists(t), {}
    tokens = defaultdict(deque)            # (from, to) -> times the tokens were given
    busy, waits = defaultdict(int), defaultdict(int)
    by_op = defaultdict(int)
    schedule = []
    beats = 0
    end = 0
    while any(queues.values()):
        progressed = False
        for q in Queue:
            while queues[q]:
                arrive()
                i, op, f = queues[q][0]
                pops = [(p, q) for p in Queue if f["pop"] >> int(p) & 1]
                if i >= len(arrival) or any(not tokens[pair] for pair in pops):
                    break
                ready = max([arrival[i]] + [tokens[pair][0] + TOKEN_CYCLES for pair in pops])
                start = max(free[q], ready)
                started[i] = start
                waits[q.name.lower()] += max(0, ready - free[q])
                for pair in pops:
                    tokens[pair].popleft()
                found = None
                if op == Op.GEMM_IS or (op == Op.GEMM_OS and f["condensed"]):
                    found = found_lists[i] = lists.find(op, f, start)
                lists.write(op, f, start)
                cycles, b = _cost(op, f, t, masks.get(i), found)
                free[q] = start + cycles
                end = max(end, free[q])
                busy[q.name.lower()] += cycles
                name = op.name if op != Op.NONLINEAR else Fn(f["fn"]).name
                by_op[name] += cycles
                schedule.append((i, q.name.lower(), name, start, free[q]))
                beats += b
                for p in Queue:
                    if f["push"] >> int(p) & 1:
                        tokens[(q, p)].append(free[q])
                queues[q].popleft()
                progressed = True
        if not progressed:
            waiting = min(queues[q][0][0] for q in Queue if queues[q])
            raise ValueError(f"program: descriptor {waiting} waits for a token that nothing "
                             "gives, or for room behind descriptors that wait for it")
    return {"total": end, "engine_beats": beats, "engine_busy": beats / end if end else 0.0,
            "busy": dict(busy), "token_waits": dict(waits), "by_op": dict(by_op),
            "schedule": sorted(schedule), "found": found_lists, "timing": t.__dict__.copy()}
