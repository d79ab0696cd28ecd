"""The core's golden model: any descriptor program, bit for bit, in NumPy.

The core has four on-chip buffers (:class:`~.core_isa.Buffer`), rows of
:attr:`CoreConfig.width` elements each: ``ACT`` and ``WGT`` int8, ``ACC``
int32, ``MASK`` bits, and beside them a *row-scale* memory of ``(row_mult,
row_shift)`` pairs (one per ``MASK`` row) and the non-linear unit's constants
and adaLN gain and bias vectors. External memory is a byte array per sample.
A program runs on a batch of samples at once: the same descriptors, each
sample's own external memory and buffers.

What each operation does (fields in :data:`.core_isa.FIELDS`):

``LOAD``/``STORE``
    ``rows`` rows of ``cols`` elements between a buffer at ``(row, col)`` and
    external memory, row ``r`` at byte ``dram + r * stride``; int8 elements are
    one byte, int32 four (little-endian), mask bits eight to a byte (bit ``j``
    of a byte is element ``j``; ``col`` and ``cols`` multiples of 8).
``GEMM``
    ``C = init + A @ B``: ``A`` the ``m x k`` region of ``ACT`` at ``(a_row,
    a_col)``; ``B`` the ``k x n`` region of ``WGT`` at ``(b_row, b_col)``, or
    with ``b_t`` its transpose stored as ``n`` rows of ``k``; ``C`` the ``m x n``
    region of ``ACC`` at ``(c_row, c_col)``, wrapping at 32 bits. ``init``:
    zero, the row ``ACC[bias_row, c_col:c_col + n]`` for every row, or ``C``.
``SET``
    The constants of the ``NONLINEAR`` descriptors that follow (as the
    unit's command: ``mult``/``shift``, ``mult2``/``shift2``, ``theta``,
    ``pre``).
``NONLINEAR``
    ``rows`` rows of ``length`` int32 values from ``ACC`` at ``(src_row,
    src_col)`` through :mod:`.nonlinear` to the int8 buffer ``dst_buffer`` at
    ``(dst_row, dst_col)``. Softmax also writes each row's keep mask to
    ``MASK[aux_row + i, 0:length]`` and its ``P V`` multiplier to the
    row-scale memory at ``aux_row + i``; requantize with ``row_scale`` reads
    its multiplier there instead of from ``SET``. ``LOAD_GAIN``/``LOAD_BIAS``
    take one row (gains as the low 16 bits of each word, signed) and write
    nothing to the buffers.
``ADD``
    ``ACC[dst] = saturate(ACC[dst] + rshift_round(ACC[src] * gate, shift))``,
    over ``rows x length``, the gate per column ``j`` the low 18 bits
    (signed) of ``ACC[gate_row, gate_col + j]``: the residual stream's
    gated add.
``FINISH``
    Ends the program.
``GEMM_OS`` / ``GEMM_IS`` (ExionCore, ``CoreConfig.exion``)
    A GEMM's ``A``, ``B`` and ``C`` (``init`` zero, ``C``, or ``SUBTRACT``:
    ``C`` less the product; no bias) under
    the mask ``MASK[mask_row + i, mask_col + j]``, or its complement with
    ``invert``. Output-sparse: ``C[i, j]`` is computed only where the mask
    holds (``j`` over ``n``) and keeps its value elsewhere: FC1 of a sparse
    FFN-Reuse step, masked ``Q K^T``. Input-sparse: ``A[i, j]`` counts as 0
    where the mask does not hold (``j`` over ``k``): FC2 of a sparse step
    (``(Hn * M) @ W2``), the cached partial (``(H * ~M) @ W2``, with
    ``invert``), ``P V`` under an attention mask.

    With ``condensed``, both work in the order of each row tile's kept
    columns (row tiles of ``CoreConfig.array_rows`` rows from the first row;
    a row tile keeps the mask's columns set in any of its rows): the
    output-sparse GEMM writes the tile's ``s``-th kept column ``j_s`` of the
    product (every row of the tile, ``init`` added) to ``C``'s column ``s``,
    and writes nothing past the tile's kept columns; the input-sparse GEMM
    takes its step ``s`` from ``A``'s column ``s`` and ``B``'s row ``j_s``,
    ``A[i, s]`` counting as 0 where row ``i`` does not keep ``j_s``. FC1 of
    a sparse step then leaves its outputs condensed, GELU runs on them as
    they are, and FC2 reads them condensed: the same sums in another order.
``MASKGEN`` (ExionCore)
    ``MASK[dst_row + i, dst_col + j] = ACC[src_row + i, src_col + j] >
    threshold`` over ``rows x length``: FFN-Reuse's mask from FC1's
    pre-activation accumulators (``threshold`` signed).

``GATHER`` / ``SCATTER`` (DiscCore, ``CoreConfig.disc``)
    A ``LOAD``'s or ``STORE``'s region, but row ``r`` of it from or to
    external memory at byte ``dram + t_r * stride``, where ``t_r =
    ACC[idx_row, r]`` is a token index: a table of ``limit`` rows (the token
    cache of a layer) read or written by token. Every index of the list is
    checked before the first byte moves: an index below 0 or at ``limit`` or
    above is ``BAD_INDEX``; a scatter's indices must rise strictly, and one
    that does not (a row the scatter would write twice, or a list out of
    order) is ``DUPLICATE``. Either stops the core at that descriptor with
    nothing of its transfer done.
``KV_GATHER`` / ``KV_SCATTER`` (DiscCore, both in the load queue)
    The same by a list of token indices, but on chip: row ``r`` of the
    region (``ACT`` or ``WGT``) from or to the K/V store's elements ``base +
    t_r * stride`` to ``+ cols - 1`` (the store is :attr:`CoreConfig.kv_bytes`
    int8 elements, banked behind the hash bank router in the RTL). The
    stride is a power of two, and a scatter's at least ``cols``, so that
    with strictly rising indices no element is written twice and the
    router's lanes may write in any order. The index list is checked as a
    gather's or a scatter's.

A malformed descriptor sets a sticky :class:`Error` with the descriptor's
index. Beside each descriptor's own checks (:func:`validate`), the decoder
keeps one fact about the program so far: which ``MASK`` rows some earlier
descriptor writes (a ``LOAD`` or ``GATHER`` into ``MASK``, ``MASKGEN``, a
softmax's keep mask). A sparse GEMM whose mask rows are not all among them
is ``NO_MASK``: a program that would skip work by whatever a mask buffer
held before it (:func:`accepted`). The core takes no descriptor after a
malformed one (those before it still run), so nothing is written outside
the program's regions. A bad index list is found only when its descriptor
runs: the core then starts no other descriptor, so
it too writes nothing outside the program's regions, but which of the
descriptors the queues had already started run to their end depends on
timing; the golden model, which runs one descriptor at a time, has run
those before it in its order.

The decoder hands descriptors to their queues in program order, and each
queue holds :attr:`CoreConfig.queue_depth` of them. A program deadlocks
when every queue's head waits (for a token, or for room to push one) and
the decoder can hand nothing on: its next descriptor's queue is full, or it
has handed on ``FINISH``. Then the core stops with ``DEADLOCK`` and the
index of the earliest waiting head. A token's room can be freed only by a
descriptor that is decoded, so a program that gives many tokens long before
they are taken, or fills a queue with descriptors that wait on ones behind
them, deadlocks where unbounded queues would not; whether it does is a
property of the program (the queues and token pairs form a Kahn network
with bounded channels, which is determinate), not of the order in which
ready queues run, so the golden model and the RTL agree on it.

A program means what its descriptors do one after the other in program
order (``run(..., order="program")``). The queues run concurrently as far as
their tokens let them; the golden model picks the next descriptor by a fixed
priority of the queues (``order``). A program whose result under its tokens
differs from its meaning, or depends on the priority, lacks a token; the
tests compare both for every compiled program. :func:`with_tokens` gives a
program the tokens its footprints (:func:`footprint`) call for.
"""

import enum
from dataclasses import dataclass, field, fields

import numpy as np

from . import nonlinear as nl
from .core_isa import (DENSE_OPS, DISC_OPS, EXION_OPS, FIELDS, INDEXED, KV_OPS, QUEUE_OF, Buffer, Fn,
                       Init, Op, Queue, decode, encode)

__all__ = ["CoreConfig", "Error", "CoreError", "Result", "validate", "accepted", "footprint",
           "with_tokens", "deadlock", "run"]

ACC_BITS = 32
GATE_BITS = 18


class Error(enum.IntEnum):
    NONE = 0
    BAD_OP = 1        # not an operation of the core, or a non-linear function it lacks
    BAD_TOKEN = 2     # a token bit toward a queue that does not exist
    BAD_BUFFER = 3    # a buffer the operation cannot use
    BAD_RANGE = 4     # a region outside its buffer or the external memory
    BAD_SHAPE = 5     # a zero or too large dimension, an unknown GEMM init
    DEADLOCK = 6      # every queue waits and the decoder can hand nothing on
    OVERLAP = 7       # a descriptor would read what it has itself written
    BAD_INDEX = 8     # a gather's or scatter's token index outside its table
    DUPLICATE = 9     # a scatter's index not above the one before it
    NO_MASK = 10      # a sparse GEMM's mask rows, written by no descriptor before it


class CoreError(Exception):
    """Raised by :func:`run` with ``check=True``: the core stopped with ``error``
    at descriptor ``index``."""

    def __init__(self, error, index, detail):
        super().__init__(f"descriptor {index}: {error.name}: {detail}")
        self.error, self.index, self.detail = error, index, detail


def _pos_int(name, v, lo=1, hi=1 << 12):
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"{name}: expected an integer, got {v!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{name}: expected an integer in [{lo}, {hi}], got {v!r}")


@dataclass(frozen=True)
class CoreConfig:
    """The buffers the golden model gives a program (``CoreParams`` of the
    RTL names the same sizes).

    Members
    -------
    width : int
        Elements per buffer row (at most 511, the widest GEMM dimension).
    act_rows, wgt_rows, acc_rows, mask_rows : int
        Rows of each buffer (``mask_rows`` also sizes the row-scale memory).
    max_len : int
        The longest non-linear row (the unit's ``max_len``).
    token_depth : int
        Tokens each of the four token queues holds; a push waits for room.
    queue_depth : int
        Descriptors each of the four queues holds, decoded and not yet
        started; the decoder, which hands descriptors on in program order,
        waits for room in the next one's queue.
    dram_bytes : int
        External memory per sample; loads and stores must stay inside it.
    exion : bool
        ExionCore: the core runs :data:`~.core_isa.EXION_OPS` (else they
        are ``BAD_OP``, as on the dense core).
    disc : bool
        DiscCore: the core runs :data:`~.core_isa.DISC_OPS`.
    array_rows : int
        The engine's rows ``R`` (1 to 64): the row tiles of a condensed
        sparse GEMM.
    kv_bytes : int
        DiscCore's K/V store: int8 elements on chip (a power of two, 64 to
        2**16), which ``KV_GATHER`` and ``KV_SCATTER`` read and write.
    fmt : nonlinear.Format
    """
    width: int = 256
    act_rows: int = 1024
    wgt_rows: int = 1024
    acc_rows: int = 2048
    mask_rows: int = 512
    max_len: int = 256
    token_depth: int = 8
    queue_depth: int = 16
    dram_bytes: int = 1 << 20
    exion: bool = False
    disc: bool = False
    array_rows: int = 16
    kv_bytes: int = 1 << 15
    fmt: nl.Format = field(default=nl.DEFAULT)

    def __post_init__(self):
        _pos_int("width", self.width, 8, 511)
        for name in ("act_rows", "wgt_rows", "acc_rows", "mask_rows"):
            _pos_int(name, getattr(self, name), 1, 1 << 12)
        _pos_int("max_len", self.max_len, 1, self.width)
        _pos_int("token_depth", self.token_depth, 1, 1 << 10)
        _pos_int("queue_depth", self.queue_depth, 1, 64)
        _pos_int("dram_bytes", self.dram_bytes, 1, 1 << 32)
        _pos_int("array_rows", self.array_rows, 1, 64)
        _pos_int("kv_bytes", self.kv_bytes, 64, 1 << 16)
        if self.kv_bytes & (self.kv_bytes - 1):
            raise ValueError(f"kv_bytes: expected a power of two, got {self.kv_bytes!r}")
        for name in ("exion", "disc"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name}: expected a bool, got {getattr(self, name)!r}")
        if not isinstance(self.fmt, nl.Format):
            raise TypeError(f"fmt: expected a nonlinear.Format, got {self.fmt!r}")

    def rows(self, buffer):
        return {Buffer.ACT: self.act_rows, Buffer.WGT: self.wgt_rows,
                Buffer.ACC: self.acc_rows, Buffer.MASK: self.mask_rows}[Buffer(buffer)]

    def as_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "fmt"}


#: Bytes per element of each buffer in external memory (MASK: bits, 1/8).
ELEMENT_BYTES = {Buffer.ACT: 1, Buffer.WGT: 1, Buffer.ACC: 4}


@dataclass
class Result:
    """What a program left: each sample's external memory, the buffers, the
    error and the descriptor it names, whether FINISH was reached, the work
    done, and ``masks``: the inputs each ``GEMM_IS`` kept (``{index: [samples,
    m, k] booleans}``), which its cycles depend on
    (:func:`exdisc.golden.core_cycles.estimate`), and DiscCore's K/V store
    (``kv``, ``int8 [samples, kv_bytes]``)."""
    dram: np.ndarray
    buffers: dict
    error: Error
    index: int
    finished: bool
    stats: dict
    masks: dict
    kv: np.ndarray = None


# -- checking descriptors -------------------------------------------------
class _Bad(Exception):
    def __init__(self, error, detail):
        self.error, self.detail = error, detail


def _require(ok, error, detail):
    if not ok:
        raise _Bad(error, detail)


def _region(cfg, buffer, row, col, rows, cols, what):
    _require(rows >= 1 and cols >= 1, Error.BAD_SHAPE, f"{what}: {rows} x {cols}")
    _require(row + rows <= cfg.rows(buffer) and col + cols <= cfg.width, Error.BAD_RANGE,
             f"{what}: rows {row}..{row + rows - 1}, columns {col}..{col + cols - 1} of "
             f"{Buffer(buffer).name} ({cfg.rows(buffer)} x {cfg.width})")


def _check(cfg, op, f):
    """Raise :class:`_Bad` if the decoded descriptor is malformed."""
    _require(isinstance(op, Op), Error.BAD_OP, f"operation {op}")
    _require(op in DENSE_OPS or (op in EXION_OPS and cfg.exion) or (op in DISC_OPS and cfg.disc),
             Error.BAD_OP, f"{op.name}: an {'ExionCore' if op in EXION_OPS else 'DiscCore'} "
             "operation, and this core is not one")
    own = 1 << int(QUEUE_OF[op])
    _require(not (f["pop"] | f["push"]) & own, Error.BAD_TOKEN,
             f"{op.name}: a token from or to its own queue ({QUEUE_OF[op].name})")
    if op in (Op.LOAD, Op.STORE) + INDEXED:
        buf = Buffer(f["buffer"])
        _region(cfg, buf, f["row"], f["col"], f["rows"], f["cols"], op.name)
        if buf == Buffer.MASK:
            _require(f["col"] % 8 == 0 and f["cols"] % 8 == 0, Error.BAD_SHAPE,
                     "mask regions start and end on a byte")
        if op in INDEXED:
            _check_indexed(cfg, op, f)
        end = f["dram"] + _span(f)
        _require(end <= cfg.dram_bytes, Error.BAD_RANGE,
                 f"{op.name}: external bytes up to {end}, beyond {cfg.dram_bytes}")
    elif op in KV_OPS:
        _check_kv(cfg, op, f)
    elif op == Op.GEMM:
        m, n = f["m"], f["n"]
        _gemm_regions(cfg, "GEMM", f)
        if f["init"] == Init.BIAS:
            _region(cfg, Buffer.ACC, f["bias_row"], f["c_col"], 1, n, "GEMM bias")
            # the engine writes C a tile at a time, and reads the bias for each
            _require(not f["c_row"] <= f["bias_row"] < f["c_row"] + m, Error.OVERLAP,
                     f"GEMM bias row {f['bias_row']} inside C's rows {f['c_row']}.."
                     f"{f['c_row'] + m - 1}")
    elif op in (Op.GEMM_OS, Op.GEMM_IS):
        _check_sparse_gemm(cfg, op, f)
    elif op == Op.MASKGEN:
        _region(cfg, Buffer.ACC, f["src_row"], f["src_col"], f["rows"], f["length"],
                "MASKGEN source")
        _region(cfg, Buffer.MASK, f["dst_row"], f["dst_col"], f["rows"], f["length"],
                "MASKGEN mask")
    elif op == Op.NONLINEAR:
        _require(f["fn"] in tuple(Fn), Error.BAD_OP, f"non-linear function {f['fn']}")
        fn, rows, length = Fn(f["fn"]), f["rows"], f["length"]
        _require(1 <= length <= cfg.max_len, Error.BAD_SHAPE,
                 f"{fn.name}: length {length}, the unit takes 1..{cfg.max_len}")
        _region(cfg, Buffer.ACC, f["src_row"], f["src_col"], rows, length, f"{fn.name} source")
        if fn in (Fn.LOAD_GAIN, Fn.LOAD_BIAS):
            _require(rows == 1, Error.BAD_SHAPE, f"{fn.name}: {rows} rows, loads take one")
        else:
            _require(f["dst_buffer"] in (Buffer.ACT, Buffer.WGT), Error.BAD_BUFFER,
                     f"{fn.name}: writes int8 rows to ACT or WGT, not "
                     f"{Buffer(f['dst_buffer']).name}")
            _region(cfg, f["dst_buffer"], f["dst_row"], f["dst_col"], rows, length,
                    f"{fn.name} destination")
        _require(not f["row_scale"] or fn == Fn.REQUANT, Error.BAD_SHAPE,
                 f"{fn.name}: row scales are for requantize")
        if fn == Fn.SOFTMAX or f["row_scale"]:
            _region(cfg, Buffer.MASK, f["aux_row"], 0, rows, length, f"{fn.name} mask/scales")
    elif op == Op.ADD:
        rows, length = f["rows"], f["length"]
        _region(cfg, Buffer.ACC, f["dst_row"], f["dst_col"], rows, length, "ADD destination")
        _region(cfg, Buffer.ACC, f["src_row"], f["src_col"], rows, length, "ADD source")
        _region(cfg, Buffer.ACC, f["gate_row"], f["gate_col"], 1, length, "ADD gates")
        # the unit adds a vector at a time: what it reads must not be what it
        # has already written, except each element's own destination
        dst = (Buffer.ACC, f["dst_row"], rows, f["dst_col"], length)
        same = (f["src_row"], f["src_col"]) == (f["dst_row"], f["dst_col"])
        _require(same or not overlap(dst, (Buffer.ACC, f["src_row"], rows, f["src_col"], length)),
                 Error.OVERLAP, "ADD source overlaps its destination, not element for element")
        _require(not overlap(dst, (Buffer.ACC, f["gate_row"], 1, f["gate_col"], length)),
                 Error.OVERLAP, "ADD gates inside its destination")


def _row_bytes(f):
    """Bytes of one row of a transfer's region in external memory."""
    buf = Buffer(f["buffer"])
    return f["cols"] // 8 if buf == Buffer.MASK else f["cols"] * ELEMENT_BYTES[buf]


def _span(f):
    """Bytes of external memory from a transfer's ``dram`` to its last byte's
    end: its rows, or an indexed transfer's whole table."""
    rows = f["limit"] if f["op"] in INDEXED + KV_OPS else f["rows"]
    return (rows - 1) * f["stride"] + _row_bytes(f)


def _check_indexed(cfg, op, f):
    """A gather's or scatter's index list: at most a row of ``ACC``, and a
    table of at least one row (the rows' own range is a transfer's)."""
    _require(f["rows"] <= cfg.width, Error.BAD_SHAPE,
             f"{op.name}: {f['rows']} rows; its index list is one row of ACC, "
             f"at most {cfg.width}")
    _require(f["limit"] >= 1, Error.BAD_SHAPE, f"{op.name}: a table of 0 rows")
    _region(cfg, Buffer.ACC, f["idx_row"], 0, 1, f["rows"], f"{op.name} index list")
    # a gather would overwrite its own list as it goes
    _require(op != Op.GATHER or f["buffer"] != Buffer.ACC or
             not f["row"] <= f["idx_row"] < f["row"] + f["rows"] or f["col"] >= f["rows"],
             Error.OVERLAP, "GATHER into its own index list")


def _check_kv(cfg, op, f):
    """A transfer of the K/V store: int8 rows (``ACT`` or ``WGT``), an index
    list as a gather's, a stride that is a power of two (the router's
    addresses are shifts, not products), a scatter's rows that do not
    overlap in the store, and the table inside the store."""
    _require(f["buffer"] in (Buffer.ACT, Buffer.WGT), Error.BAD_BUFFER,
             f"{op.name}: int8 rows of ACT or WGT, not {Buffer(f['buffer']).name}")
    _region(cfg, Buffer(f["buffer"]), f["row"], f["col"], f["rows"], f["cols"], op.name)
    _check_indexed(cfg, op, f)
    stride = f["stride"]
    _require(stride >= 1 and not stride & (stride - 1), Error.BAD_SHAPE,
             f"{op.name}: stride {stride}, not a power of two")
    _require(op != Op.KV_SCATTER or stride >= f["cols"], Error.BAD_SHAPE,
             f"KV_SCATTER: stride {stride} below its {f['cols']} columns (rows would overlap)")
    end = f["base"] + _span(f)
    _require(end <= cfg.kv_bytes, Error.BAD_RANGE,
             f"{op.name}: K/V store elements up to {end}, beyond {cfg.kv_bytes}")


def _gemm_regions(cfg, name, f):
    """The checks of a GEMM's ``A``, ``B`` and ``C`` (and its shape)."""
    m, n, k = f["m"], f["n"], f["k"]
    _require(min(m, n, k) >= 1, Error.BAD_SHAPE, f"{name} {m} x {n} x {k}")
    _require(f["init"] != Init.SUBTRACT or name != Op.GEMM.name, Error.BAD_SHAPE,
             f"{name} init {f['init']}")
    _region(cfg, Buffer.ACT, f["a_row"], f["a_col"], m, k, f"{name} A")
    if f["b_t"]:
        _region(cfg, Buffer.WGT, f["b_row"], f["b_col"], n, k, f"{name} B (transposed)")
    else:
        _region(cfg, Buffer.WGT, f["b_row"], f["b_col"], k, n, f"{name} B")
    _region(cfg, Buffer.ACC, f["c_row"], f["c_col"], m, n, f"{name} C")


def _mask_shape(op, f):
    """The rows and columns of a sparse GEMM's mask: ``m x n`` or ``m x k``."""
    return f["m"], f["n"] if op == Op.GEMM_OS else f["k"]


def _check_sparse_gemm(cfg, op, f):
    _gemm_regions(cfg, op.name, f)
    _require(f["init"] != Init.BIAS, Error.BAD_SHAPE,
             f"{op.name}: init is zero, accumulate or subtract (a sparse GEMM has no bias row)")
    _region(cfg, Buffer.MASK, f["mask_row"], f["mask_col"], *_mask_shape(op, f),
            f"{op.name} mask")


def validate(cfg, word):
    """``(error, detail)`` of one descriptor on ``cfg``'s core: ``Error.NONE``
    and ``""`` when it is well formed. When several checks fail, the first in
    the order of :data:`.core_isa.FIELDS`' operations' checks names it (the
    RTL decoder reports the same)."""
    op, f = decode(word)
    try:
        f = dict(f, op=op)
        _check(cfg, op, f)
    except _Bad as bad:
        return bad.error, bad.detail
    return Error.NONE, ""


def accepted(program, cfg=None):
    """What the decoder makes of ``program`` (descriptors as integers):
    ``(decoded, (error, index, detail))``, ``decoded`` the ``(index, op,
    fields)`` it hands on, in program order, and
    the first malformed descriptor's error (``Error.NONE``, ``-1`` and ``""``
    if none). A descriptor is malformed by :func:`validate`, or, if it passes
    that, when it is a sparse GEMM whose mask rows no descriptor before it
    writes (``NO_MASK``; whole rows: a write of some of a row's columns
    counts for the row)."""
    cfg = cfg or CoreConfig()
    written = np.zeros(cfg.mask_rows, dtype=bool)
    decoded = []
    for i, word in enumerate(program):
        bad, why = validate(cfg, int(word))
        op, f = decode(int(word))
        if bad == Error.NONE and op in (Op.GEMM_OS, Op.GEMM_IS):
            rows = slice(f["mask_row"], f["mask_row"] + f["m"])
            if not written[rows].all():
                missing = rows.start + int(np.argmin(written[rows]))
                bad, why = Error.NO_MASK, (f"{op.name}: mask row {missing}, which no "
                                           "descriptor before it writes")
        if bad != Error.NONE:
            return decoded, (bad, i, why)
        for space, row, rows, _, _ in footprint(op, f)[1]:
            if space == Buffer.MASK:
                written[row:row + rows] = True
        decoded.append((i, op, f))
    return decoded, (Error.NONE, -1, "")


def footprint(op, f):
    """``(reads, writes)`` of a decoded, well-formed descriptor: rectangles
    ``(space, row, rows, col, cols)`` of the buffers (``space`` a
    :class:`Buffer`), of external memory (``"dram"``, bytes as one row), of
    the row-scale memory (``"scales"``) and of the non-linear unit's state
    (``"unit"``: its constants, gains and biases)."""
    r, w = [], []
    if op in (Op.LOAD, Op.STORE) + INDEXED:
        buf = Buffer(f["buffer"])
        rect = (buf, f["row"], f["rows"], f["col"], f["cols"])
        ext = ("dram", 0, 1, f["dram"], _span(dict(f, op=op)))
        (r, w) = ([ext], [rect]) if op in (Op.LOAD, Op.GATHER) else ([rect], [ext])
        if op in INDEXED:
            r.append((Buffer.ACC, f["idx_row"], 1, 0, f["rows"]))
    elif op in KV_OPS:
        rect = (Buffer(f["buffer"]), f["row"], f["rows"], f["col"], f["cols"])
        kv = ("kv", 0, 1, f["base"], _span(dict(f, op=op)))
        (r, w) = ([kv], [rect]) if op == Op.KV_GATHER else ([rect], [kv])
        r.append((Buffer.ACC, f["idx_row"], 1, 0, f["rows"]))
    elif op in (Op.GEMM, Op.GEMM_OS, Op.GEMM_IS):
        m, n, k = f["m"], f["n"], f["k"]
        b = (n, k) if f["b_t"] else (k, n)
        c = (Buffer.ACC, f["c_row"], m, f["c_col"], n)
        r = [(Buffer.ACT, f["a_row"], m, f["a_col"], k),
             (Buffer.WGT, f["b_row"], b[0], f["b_col"], b[1])]
        if f["init"] == Init.BIAS and op == Op.GEMM:
            r.append((Buffer.ACC, f["bias_row"], 1, f["c_col"], n))
        elif f["init"] in (Init.ACCUMULATE, Init.SUBTRACT):
            r.append(c)
        if op != Op.GEMM:
            r.append((Buffer.MASK, f["mask_row"], _mask_shape(op, f)[0], f["mask_col"],
                      _mask_shape(op, f)[1]))
        w = [c]
    elif op == Op.MASKGEN:
        r = [(Buffer.ACC, f["src_row"], f["rows"], f["src_col"], f["length"])]
        w = [(Buffer.MASK, f["dst_row"], f["rows"], f["dst_col"], f["length"])]
    elif op == Op.SET:
        w = [("unit", 0, 1, 0, 1)]
    elif op == Op.NONLINEAR:
        fn, rows, length = Fn(f["fn"]), f["rows"], f["length"]
        r = [(Buffer.ACC, f["src_row"], rows, f["src_col"], length), ("unit", 0, 1, 0, 1)]
        if fn in (Fn.LOAD_GAIN, Fn.LOAD_BIAS):
            w = [("unit", 0, 1, 0, 1)]
        else:
            w = [(Buffer(f["dst_buffer"]), f["dst_row"], rows, f["dst_col"], length)]
        if fn == Fn.SOFTMAX:
            w += [(Buffer.MASK, f["aux_row"], rows, 0, length), ("scales", f["aux_row"], rows, 0, 1)]
        if f["row_scale"]:
            r.append(("scales", f["aux_row"], f["rows"], 0, 1))
    elif op == Op.ADD:
        rows, length = f["rows"], f["length"]
        dst = (Buffer.ACC, f["dst_row"], rows, f["dst_col"], length)
        r = [dst, (Buffer.ACC, f["src_row"], rows, f["src_col"], length),
             (Buffer.ACC, f["gate_row"], 1, f["gate_col"], length)]
        w = [dst]
    return r, w


def overlap(a, b):
    """Whether two :func:`footprint` rectangles share an element."""
    return (a[0] == b[0] and a[1] < b[1] + b[2] and b[1] < a[1] + a[2]
            and a[3] < b[3] + b[4] and b[3] < a[3] + a[4])


def with_tokens(program):
    """``program`` with the tokens that order every conflict (a read after a
    write, a write after a read or a write) between descriptors of different
    queues, and no more; each queue keeps its order, and tokens the program
    had are replaced.

    A descriptor ``d`` must start after each earlier (in program order)
    descriptor ``p`` of another queue whose footprint conflicts with its own,
    unless that is already so: through ``d``'s own queue, or through tokens
    (vector clocks of what each descriptor is known to follow). Tokens of a
    pair of queues are taken in the order they are given, so ``d`` takes a
    token given by the last such ``p`` of each queue; every token given is
    taken by exactly one descriptor."""
    decoded = [decode(int(word)) for word in program]
    queue_of = [int(QUEUE_OF[op]) for op, _ in decoded]
    prints = [footprint(op, f) for op, f in decoded]
    position, counts = [], [0] * len(Queue)
    for q in queue_of:
        position.append(counts[q])
        counts[q] += 1
    pops, pushes = [0] * len(program), [0] * len(program)
    clock = []                          # per descriptor: the last position of each queue it follows
    last_of = {}                        # queue -> its latest descriptor so far
    covered = {}                        # (from, to) -> position of the last token's giver
    for i in range(len(program)):
        b = queue_of[i]
        known = list(clock[last_of[b]]) if b in last_of else [-1] * len(Queue)
        known[b] = position[i]
        need = {}
        reads_i, writes_i = prints[i]
        for j in range(i):
            if queue_of[j] == b:
                continue
            reads_j, writes_j = prints[j]
            if any(overlap(x, y) for x in writes_j for y in reads_i + writes_i) or \
                    any(overlap(x, y) for x in reads_j for y in writes_i):
                need[queue_of[j]] = j
        # the latest need first: what it brings in may cover the others
        for a, j in sorted(need.items(), key=lambda e: -e[1]):
            if known[a] >= position[j]:
                continue
            pair = (a, b)
            if covered.get(pair, -1) >= position[j]:
                raise AssertionError("a token taken out of order")  # pragma: no cover
            covered[pair] = position[j]
            pushes[j] |= 1 << b
            pops[i] |= 1 << a
            known = [max(u, v) for u, v in zip(known, clock[j])]
        clock.append(known)
        last_of[b] = i
    return [encode(op, **dict(f, pop=pop, push=push))
            for (op, f), pop, push in zip(decoded, pops, pushes)]


# -- running ---------------------------------------------------------------
def _wrap(v, bits=ACC_BITS):
    half = np.int64(1) << (bits - 1)
    return ((v + half) & ((np.int64(1) << bits) - 1)) - half


def _start(prod, c, init):
    """A GEMM's sums from its initial values: ``prod`` (int64) alone, added
    to ``c``, or subtracted from it (a bias is added by the caller)."""
    if init == Init.ACCUMULATE:
        return prod + c.astype(np.int64)
    if init == Init.SUBTRACT:
        return c.astype(np.int64) - prod
    return prod


class _Machine:
    def __init__(self, cfg, dram):
        self.cfg = cfg
        self.dram = dram
        b, w = dram.shape[0], cfg.width
        self.buf = {Buffer.ACT: np.zeros((b, cfg.act_rows, w), np.int8),
                    Buffer.WGT: np.zeros((b, cfg.wgt_rows, w), np.int8),
                    Buffer.ACC: np.zeros((b, cfg.acc_rows, w), np.int32),
                    Buffer.MASK: np.zeros((b, cfg.mask_rows, w), bool)}
        self.row_mult = np.zeros((b, cfg.mask_rows), np.int64)
        self.row_shift = np.zeros((b, cfg.mask_rows), np.int64)
        self.gain = np.zeros((b, cfg.max_len), np.int64)
        self.bias = np.zeros((b, cfg.max_len), np.int64)
        self.const = dict.fromkeys((name for name, _ in FIELDS[Op.SET]), 0)
        self.stats = {"macs": 0, "nonlinear_rows": 0, "load_bytes": 0, "store_bytes": 0,
                      "add_values": 0, "kv_elements": 0,
                      "descriptors": {op.name: 0 for op in Op}}
        self.masks = {}
        self.kv = np.zeros((b, cfg.kv_bytes), np.int8)

    def execute(self, index, op, f):
        self.stats["descriptors"][op.name] += 1
        self.index = index
        getattr(self, "_" + op.name.lower())(f)

    def _transfer_bytes(self, f, index=None):
        """The buffer, bytes a row, and ``[samples or 1, rows, bytes]`` the
        external addresses of a transfer (``index``: each sample's row
        indices, else ``0..rows-1``)."""
        buf = Buffer(f["buffer"])
        nbytes = _row_bytes(f)
        rows = np.arange(f["rows"])[None] if index is None else index
        return buf, nbytes, f["dram"] + f["stride"] * rows[..., None] + np.arange(nbytes)

    def _index(self, op, f):
        """Each sample's index list of a gather or scatter, checked."""
        t = self.buf[Buffer.ACC][:, f["idx_row"], :f["rows"]].astype(np.int64)
        bad = (t < 0) | (t >= f["limit"])
        if bad.any():
            s, r = np.argwhere(bad)[0]
            raise _Bad(Error.BAD_INDEX, f"{op.name}: sample {s}, index {r} is {t[s, r]}, "
                                        f"the table has {f['limit']} rows")
        if op in (Op.SCATTER, Op.KV_SCATTER):
            bad = np.diff(t, axis=1) <= 0
            if bad.any():
                s, r = np.argwhere(bad)[0]
                raise _Bad(Error.DUPLICATE, f"{op.name}: sample {s}, index {r + 1} is "
                                            f"{t[s, r + 1]}, not above {t[s, r]}")
        return t

    def _gather(self, f):
        self._load(f, self._index(Op.GATHER, f))

    def _scatter(self, f):
        self._store(f, self._index(Op.SCATTER, f))

    def _kv_elements(self, op, f):
        """The region (a view) and ``[samples, rows, cols]`` the K/V store's
        elements of a ``KV_GATHER`` or ``KV_SCATTER``."""
        t = self._index(op, f)
        at = f["base"] + f["stride"] * t[..., None] + np.arange(f["cols"])
        region = self.buf[Buffer(f["buffer"])][:, f["row"]:f["row"] + f["rows"],
                                                f["col"]:f["col"] + f["cols"]]
        self.stats["kv_elements"] += f["rows"] * f["cols"]
        return region, at

    def _kv_gather(self, f):
        region, at = self._kv_elements(Op.KV_GATHER, f)
        region[...] = np.take_along_axis(self.kv[:, None], at, axis=2)

    def _kv_scatter(self, f):
        region, at = self._kv_elements(Op.KV_SCATTER, f)
        np.put_along_axis(self.kv[:, None], at, region.copy(), axis=2)

    def _load(self, f, index=None):
        buf, nbytes, at = self._transfer_bytes(f, index)
        raw = np.take_along_axis(self.dram[:, None], np.broadcast_to(
            at, (len(self.dram),) + at.shape[1:]), axis=2)       # [B, rows, nbytes]
        if buf == Buffer.MASK:
            vals = np.unpackbits(raw, axis=-1, bitorder="little").astype(bool)
        elif buf == Buffer.ACC:
            vals = raw.copy().view("<i4")
        else:
            vals = raw.view(np.int8)
        self.buf[buf][:, f["row"]:f["row"] + f["rows"], f["col"]:f["col"] + f["cols"]] = vals
        self.stats["load_bytes"] += f["rows"] * nbytes

    def _store(self, f, index=None):
        buf, nbytes, at = self._transfer_bytes(f, index)
        vals = self.buf[buf][:, f["row"]:f["row"] + f["rows"], f["col"]:f["col"] + f["cols"]]
        if buf == Buffer.MASK:
            raw = np.packbits(vals, axis=-1, bitorder="little")
        elif buf == Buffer.ACC:
            raw = np.ascontiguousarray(vals, dtype="<i4").view(np.uint8)
        else:
            raw = vals.view(np.uint8)
        np.put_along_axis(self.dram[:, None], np.broadcast_to(at, raw.shape), raw, axis=2)
        self.stats["store_bytes"] += f["rows"] * nbytes

    def _operands(self, f):
        """A GEMM's ``A`` and ``B`` (``B`` as ``k x n``) and its ``C`` (a view)."""
        m, n, k = f["m"], f["n"], f["k"]
        a = self.buf[Buffer.ACT][:, f["a_row"]:f["a_row"] + m, f["a_col"]:f["a_col"] + k]
        if f["b_t"]:
            b = self.buf[Buffer.WGT][:, f["b_row"]:f["b_row"] + n,
                                     f["b_col"]:f["b_col"] + k].swapaxes(1, 2)
        else:
            b = self.buf[Buffer.WGT][:, f["b_row"]:f["b_row"] + k, f["b_col"]:f["b_col"] + n]
        c = self.buf[Buffer.ACC][:, f["c_row"]:f["c_row"] + m, f["c_col"]:f["c_col"] + n]
        return a, b, c

    @staticmethod
    def _product(a, b, c, init):
        """``init + a @ b`` in int64 (``init``: zero or ``c``; ``c - a @ b``
        to subtract)."""
        # exact in float32: every partial sum is an integer below 128 * 128 * 511 < 2**24
        prod = np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.int64)
        return _start(prod, c, init)

    def _mask(self, op, f):
        rows, cols = _mask_shape(op, f)
        mask = self.buf[Buffer.MASK][:, f["mask_row"]:f["mask_row"] + rows,
                                     f["mask_col"]:f["mask_col"] + cols]
        return mask ^ bool(f["invert"])

    def _gemm(self, f):
        a, b, c = self._operands(f)
        prod = self._product(a, b, c, f["init"])
        if f["init"] == Init.BIAS:
            prod += self.buf[Buffer.ACC][:, f["bias_row"]:f["bias_row"] + 1,
                                         f["c_col"]:f["c_col"] + f["n"]]
        c[...] = _wrap(prod)
        self.stats["macs"] += f["m"] * f["n"] * f["k"]

    def _row_tiles(self, keep):
        """Each sample's row tiles of a condensed GEMM's mask: ``(sample,
        rows, columns)``, the columns some row of the tile keeps."""
        R = self.cfg.array_rows
        for s in range(keep.shape[0]):
            for u in range(0, keep.shape[1], R):
                yield s, slice(u, u + R), np.flatnonzero(keep[s, u:u + R].any(axis=0))

    def _gemm_os(self, f):
        a, b, c = self._operands(f)
        keep = self._mask(Op.GEMM_OS, f)
        self.masks[self.index] = keep
        if f["condensed"]:
            # a row tile's kept columns in order, from C's first column on
            full = self._product(a, b, c, Init.ZERO)
            for s, rows, cols in self._row_tiles(keep):
                c[s, rows, :cols.size] = _wrap(_start(full[s, rows][:, cols],
                                                      c[s, rows, :cols.size], f["init"]))
        else:
            c[...] = np.where(keep, _wrap(self._product(a, b, c, f["init"])), c)
        # the counts are per sample: a mask's outputs, on the samples' mean
        self.stats["macs"] += keep.sum() / keep.shape[0] * f["k"]

    def _gemm_is(self, f):
        a, b, c = self._operands(f)
        keep = self._mask(Op.GEMM_IS, f)
        self.masks[self.index] = keep
        if f["condensed"]:
            # a row tile's step s takes A's column s and B's row of the tile's
            # s-th kept column
            prod = np.zeros(c.shape, np.int64)
            for s, rows, cols in self._row_tiles(keep):
                kept = np.where(keep[s, rows][:, cols], a[s, rows, :cols.size], 0)
                prod[s, rows] = self._product(kept, b[s, cols], 0, Init.ZERO)
            c[...] = _wrap(_start(prod, c, f["init"]))
        else:
            c[...] = _wrap(self._product(np.where(keep, a, 0), b, c, f["init"]))
        self.stats["macs"] += keep.sum() / keep.shape[0] * f["n"]

    def _maskgen(self, f):
        rows, length = f["rows"], f["length"]
        src = self.buf[Buffer.ACC][:, f["src_row"]:f["src_row"] + rows,
                                   f["src_col"]:f["src_col"] + length]
        threshold = f["threshold"] - (1 << 32) * (f["threshold"] >> 31)
        self.buf[Buffer.MASK][:, f["dst_row"]:f["dst_row"] + rows,
                              f["dst_col"]:f["dst_col"] + length] = src > threshold

    def _set(self, f):
        self.const.update({name: f[name] for name, _ in FIELDS[Op.SET]})

    def _nonlinear(self, f):
        fn, rows, length, c = Fn(f["fn"]), f["rows"], f["length"], self.const
        fmt = self.cfg.fmt
        x = self.buf[Buffer.ACC][:, f["src_row"]:f["src_row"] + rows,
                                 f["src_col"]:f["src_col"] + length]
        aux = slice(f["aux_row"], f["aux_row"] + rows)
        if fn == Fn.LOAD_GAIN:
            self.gain[:, :length] = _wrap(x[:, 0].astype(np.int64), fmt.mult_bits)
            return
        if fn == Fn.LOAD_BIAS:
            self.bias[:, :length] = x[:, 0]
            return
        if fn == Fn.SOFTMAX:
            y, keep, rm, rs = nl.softmax(x, c["mult"], c["shift"], c["mult2"], c["shift2"],
                                         c["theta"], fmt)
            self.buf[Buffer.MASK][:, aux, :length] = keep
            self.row_mult[:, aux], self.row_shift[:, aux] = rm, rs
        elif fn == Fn.GELU:
            y = nl.gelu(x, c["mult"], c["shift"], c["mult2"], c["shift2"], fmt)
        elif fn == Fn.LAYERNORM:
            y = nl.layer_norm(x, c["pre"], self.gain[:, None, :length],
                              self.bias[:, None, :length], c["shift2"], fmt)
        elif f["row_scale"]:
            y = nl.requantize(x, self.row_mult[:, aux, None], self.row_shift[:, aux, None], fmt)
        else:
            y = nl.requantize(x, c["mult"], c["shift"], fmt)
        self.buf[Buffer(f["dst_buffer"])][:, f["dst_row"]:f["dst_row"] + rows,
                                          f["dst_col"]:f["dst_col"] + length] = y
        self.stats["nonlinear_rows"] += rows

    def _add(self, f):
        rows, length = f["rows"], f["length"]
        acc = self.buf[Buffer.ACC]
        dst = acc[:, f["dst_row"]:f["dst_row"] + rows, f["dst_col"]:f["dst_col"] + length]
        src = acc[:, f["src_row"]:f["src_row"] + rows, f["src_col"]:f["src_col"] + length]
        gate = _wrap(acc[:, f["gate_row"]:f["gate_row"] + 1,
                         f["gate_col"]:f["gate_col"] + length].astype(np.int64), GATE_BITS)
        dst[...] = nl.saturate(dst.astype(np.int64) + nl.rshift_round(src.astype(np.int64) * gate,
                                                                      f["shift"]), ACC_BITS)
        self.stats["add_values"] += rows * length

    def _finish(self, f):
        pass


#: The token queues: one for each ordered pair of queues, (from, to).
_TOKENS = [(a, b) for a in Queue for b in Queue if a != b]


def _token_moves(queue, f):
    """``(pops, pushes)``: the token queues (``(from, to)``) a descriptor takes
    from and gives to."""
    pops = [(q, queue) for q in Queue if f["pop"] >> int(q) & 1]
    pushes = [(queue, q) for q in Queue if f["push"] >> int(q) & 1]
    return pops, pushes


def _schedule(decoded, cfg, order, execute):
    """The decoder and the four queues on ``decoded`` (``(index, op,
    fields)`` in program order): ``execute(index, op, fields)`` for each descriptor
    as it runs. Returns ``(finished, waiting, handed)``: whether ``FINISH``
    ran, the indices of the queue heads left waiting, and how many
    descriptors the decoder handed on."""
    queues = {q: [] for q in Queue}
    tokens = dict.fromkeys(_TOKENS, 0)
    handed, finished = 0, False
    while True:
        # the decoder hands on, in program order, while the next one's queue has room
        while handed < len(decoded) and \
                len(queues[QUEUE_OF[decoded[handed][1]]]) < cfg.queue_depth:
            i, op, f = decoded[handed]
            queues[QUEUE_OF[op]].append((i, op, f))
            handed += 1
        for q in order:
            if not queues[q]:
                continue
            i, op, f = queues[q][0]
            pops, pushes = _token_moves(q, f)
            if any(tokens[t] == 0 for t in pops) or \
                    any(tokens[t] >= cfg.token_depth for t in pushes):
                continue
            for t in pops:
                tokens[t] -= 1
            execute(i, op, f)
            for t in pushes:
                tokens[t] += 1
            queues[q].pop(0)
            finished |= op == Op.FINISH
            break
        else:
            return finished, [queues[q][0][0] for q in Queue if queues[q]], handed


def deadlock(program, cfg=None):
    """The index of the earliest descriptor left waiting if ``program`` (well
    formed, ending in ``FINISH``) deadlocks on ``cfg``'s core, else None;
    nothing is computed (see :func:`run`)."""
    cfg = cfg or CoreConfig()
    decoded = [(i, *decode(int(w))) for i, w in enumerate(program)]
    _, waiting, _ = _schedule(decoded, cfg, tuple(Queue), lambda i, op, f: None)
    return min(waiting) if waiting else None


def run(program, dram, cfg=None, *, order=tuple(Queue), check=False):
    """Run ``program`` (descriptors as integers, up to its ``FINISH``) on
    external memory ``dram`` (``uint8 [bytes]`` or ``[samples, bytes]``; a
    copy is changed). ``order``: the queues' priority when more than one
    can run, or ``"program"``: one descriptor after the other in program
    order, tokens ignored (what a program means; a program whose queues,
    under their tokens, leave anything else lacks a token). With ``check``,
    an error raises :class:`CoreError`."""
    cfg = cfg or CoreConfig()
    if not isinstance(cfg, CoreConfig):
        raise TypeError(f"cfg: expected a CoreConfig, got {cfg!r}")
    dram = np.array(dram, dtype=np.uint8, copy=True)
    if dram.ndim == 1:
        dram = dram[None]
    if dram.ndim != 2 or dram.shape[1] != cfg.dram_bytes:
        raise ValueError(f"dram: expected shape [samples, {cfg.dram_bytes}], got {dram.shape}")
    in_order = isinstance(order, str) and order == "program"
    if not in_order and sorted(order) != sorted(Queue):
        raise ValueError(f"order: expected the four queues in some order or 'program', "
                         f"got {order!r}")
    program = [int(d) for d in program]
    machine = _Machine(cfg, dram)
    decoded, (error, index, detail) = accepted(program, cfg)
    finished_at = next((i for i, op, _ in decoded if op == Op.FINISH), None)
    if finished_at is not None and finished_at != len(program) - 1:
        raise ValueError(f"program: FINISH at descriptor {finished_at} of {len(program)}; "
                         "a program ends with its FINISH")

    try:
        if in_order:
            # the program's meaning: every descriptor after the one before it
            for i, op, f in decoded:
                machine.execute(i, op, f)
            finished, waiting, handed = finished_at is not None, [], len(decoded)
        else:
            finished, waiting, handed = _schedule(decoded, cfg, order, machine.execute)
        finished = finished and not waiting
        # the decoder meets a malformed descriptor only if it hands on every one before it
        if waiting and (handed < len(decoded) or finished_at is not None):
            error, index, detail = Error.DEADLOCK, min(waiting), "waits for a token or its room"
    except _Bad as bad:
        # a bad index list, found as its descriptor runs: nothing more runs;
        # a malformed descriptor after it, which the decoder may meet first,
        # does not hide it
        if error == Error.NONE or machine.index < index:
            error, index, detail = bad.error, machine.index, bad.detail
        finished = False
    if check and error != Error.NONE:
        raise CoreError(error, index, detail)
    return Result(dram=machine.dram, buffers=machine.buf, error=error, index=index,
                  finished=finished, stats=machine.stats, masks=machine.masks, kv=machine.kv)
