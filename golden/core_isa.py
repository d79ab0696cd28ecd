"""The core's descriptors: 128-bit commands, their fields and their encoding.

A program is a sequence of descriptors on the core's one control stream. Each
descriptor goes to one of four queues that run concurrently, in order within
a queue: *load* (``LOAD``), *GEMM* (``GEMM``: the engine), *vector*
(``NONLINEAR``, ``SET``, ``ADD``: the non-linear unit and the residual adder)
and *store* (``STORE``, ``FINISH``). Queues order their work against each
other with dependency tokens, as VTA does (Moreau et al., 2019), but between
any two queues rather than neighbours in a chain: a token queue for each
ordered pair; a descriptor's ``pop`` mask (one bit per queue, by
:class:`Queue` value) waits for and takes a token from each queue named, and
its ``push`` mask gives one to each queue named when it is done. A bit for
the descriptor's own queue is malformed.

Every descriptor is :data:`DESCRIPTOR_BITS` wide. Bits ``[3:0]`` hold the
operation, ``[7:4]`` the pop mask, ``[11:8]`` the push mask, and the
operation's fields follow from bit 12 upwards in the order :data:`FIELDS`
lists them (the first field in the lowest bits); unused high bits are zero.
Operations ``8..10`` are ExionCore's (:data:`EXION_OPS`: output-sparse and
input-sparse GEMM tiles under a mask, the FFN-Reuse mask), which a core
runs only when it is configured for them (``CoreConfig.exion``); ``11`` to
``14`` are DiscCore's (:data:`DISC_OPS`: rows of external memory, and of the
on-chip K/V store, gathered and scattered by a list of token indices,
``CoreConfig.disc``); the dense core implements :data:`DENSE_OPS`. ``15`` is
reserved.

Buffers are two-dimensional: rows of :attr:`CoreConfig.width` elements,
addressed by ``(row, col)``. ``ACT`` and ``WGT`` hold int8 operands, ``ACC``
int32 accumulators (and the residual stream, biases, adaLN gains and gates),
``MASK`` one bit per element (ST's keep masks). See :mod:`.core` for what
each operation does, and ``docs/core.md`` for a worked example.
"""

import enum

__all__ = ["DESCRIPTOR_BITS", "Op", "DENSE_OPS", "EXION_OPS", "DISC_OPS", "INDEXED", "KV_OPS", "Buffer",
           "Fn", "Init", "Queue",
           "HEADER", "FIELDS",
           "QUEUE_OF", "tokens", "encode", "decode", "field_offsets"]

DESCRIPTOR_BITS = 128


class Op(enum.IntEnum):
    """What a descriptor does (bits ``[3:0]``; ``0`` and ``8..15`` are not
    operations of the dense core)."""
    LOAD = 1
    STORE = 2
    GEMM = 3
    NONLINEAR = 4
    SET = 5
    ADD = 6
    FINISH = 7
    #: ExionCore: a GEMM that computes only the outputs its mask names
    GEMM_OS = 8
    #: ExionCore: a GEMM that skips the reduction steps its mask clears
    GEMM_IS = 9
    #: ExionCore: a mask from accumulators above a threshold (FFN-Reuse's)
    MASKGEN = 10
    #: DiscCore: rows of external memory into a buffer, by a list of token indices
    GATHER = 11
    #: DiscCore: rows of a buffer to external memory, by a list of token indices
    SCATTER = 12
    #: DiscCore: rows of the on-chip K/V store into a buffer, by a list of
    #: token indices, through the hash bank router
    KV_GATHER = 13
    #: DiscCore: rows of a buffer into the K/V store, by a list of token indices
    KV_SCATTER = 14


#: The dense core's operations; :data:`EXION_OPS` are ExionCore's.
DENSE_OPS = frozenset(op for op in Op if op <= Op.FINISH)
EXION_OPS = frozenset((Op.GEMM_OS, Op.GEMM_IS, Op.MASKGEN))
DISC_OPS = frozenset((Op.GATHER, Op.SCATTER, Op.KV_GATHER, Op.KV_SCATTER))
#: The transfers of external memory by an index list (a region's fields, then the list's).
INDEXED = (Op.GATHER, Op.SCATTER)
#: The transfers of the K/V store by an index list (both in the load queue).
KV_OPS = (Op.KV_GATHER, Op.KV_SCATTER)


class Buffer(enum.IntEnum):
    ACT = 0
    WGT = 1
    ACC = 2
    MASK = 3


class Fn(enum.IntEnum):
    """The non-linear unit's operations (as ``hw.nonlinear.Op``)."""
    SOFTMAX = 0
    GELU = 1
    LAYERNORM = 2
    REQUANT = 3
    LOAD_GAIN = 4
    LOAD_BIAS = 5


class Init(enum.IntEnum):
    """How a GEMM starts its accumulators: from zero, from a bias row
    (``ACC[bias_row, c_col + j]`` for every row), or from what ``C`` holds;
    ``SUBTRACT`` (sparse GEMMs only): ``C`` less the product."""
    ZERO = 0
    BIAS = 1
    ACCUMULATE = 2
    SUBTRACT = 3


class Queue(enum.IntEnum):
    LOAD = 0
    GEMM = 1
    VECTOR = 2
    STORE = 3


QUEUE_OF = {Op.LOAD: Queue.LOAD, Op.STORE: Queue.STORE, Op.GEMM: Queue.GEMM,
            Op.NONLINEAR: Queue.VECTOR, Op.SET: Queue.VECTOR, Op.ADD: Queue.VECTOR,
            Op.FINISH: Queue.STORE, Op.GEMM_OS: Queue.GEMM, Op.GEMM_IS: Queue.GEMM,
            Op.MASKGEN: Queue.VECTOR, Op.GATHER: Queue.LOAD, Op.SCATTER: Queue.STORE,
            Op.KV_GATHER: Queue.LOAD, Op.KV_SCATTER: Queue.LOAD}

#: Bits ``[11:0]`` of every descriptor.
HEADER = (("op", 4), ("pop", 4), ("push", 4))


def tokens(*queues):
    """A pop or push mask naming ``queues``."""
    return sum(1 << int(q) for q in set(queues))

_ROW, _COL, _DIM = 12, 9, 9
_REGION = (("buffer", 2), ("row", _ROW), ("col", _COL), ("rows", _ROW), ("cols", _COL),
           ("dram", 32), ("stride", 20))

# a LOAD's or STORE's region with a 16-bit stride (a token's row), then the
# index list: ACC[idx_row, 0:rows], each index below ``limit``
_INDEXED = _REGION[:-1] + (("stride", 16), ("idx_row", _ROW), ("limit", _ROW))
# the same bits, with the K/V store's element address ``base`` for ``dram``
_KV = tuple(("base", bits) if name == "dram" else (name, bits) for name, bits in _INDEXED)

_SPARSE_GEMM = (("a_row", _ROW), ("a_col", _COL), ("b_row", _ROW), ("b_col", _COL), ("b_t", 1),
                ("c_row", _ROW), ("c_col", _COL), ("m", _DIM), ("n", _DIM), ("k", _DIM),
                ("init", 2), ("mask_row", _ROW), ("mask_col", _COL), ("invert", 1),
                ("condensed", 1))

#: Each operation's fields after the header, lowest bits first.
FIELDS = {
    # a region of a buffer from or to external memory: ``rows`` rows of
    # ``cols`` elements, row r at byte ``dram + r * stride``
    Op.LOAD: _REGION,
    Op.STORE: _REGION,
    # C[M, N] (ACC) = init + A[M, K] (ACT) @ B[K, N] (WGT); B is read as its
    # transpose (row n holds column n) when b_t is set
    Op.GEMM: (("a_row", _ROW), ("a_col", _COL), ("b_row", _ROW), ("b_col", _COL),
              ("b_t", 1), ("c_row", _ROW), ("c_col", _COL), ("m", _DIM), ("n", _DIM),
              ("k", _DIM), ("init", 2), ("bias_row", _ROW)),
    # rows of ACC through the non-linear unit into ACT or WGT
    Op.NONLINEAR: (("fn", 3), ("src_row", _ROW), ("src_col", _COL), ("dst_buffer", 2),
                   ("dst_row", _ROW), ("dst_col", _COL), ("rows", _ROW), ("length", _DIM),
                   ("row_scale", 1), ("aux_row", _ROW)),
    # the non-linear unit's constants for the NONLINEAR descriptors that follow
    Op.SET: (("mult", 16), ("shift", 6), ("mult2", 16), ("shift2", 6), ("theta", 32),
             ("pre", 5)),
    # ACC[dst] = saturate(ACC[dst] + rshift_round(ACC[src] * gate, shift)), the
    # gate per column from ACC[gate_row, gate_col + j]
    Op.ADD: (("dst_row", _ROW), ("dst_col", _COL), ("src_row", _ROW), ("src_col", _COL),
             ("gate_row", _ROW), ("gate_col", _COL), ("rows", _ROW), ("length", _DIM),
             ("shift", 6)),
    Op.FINISH: (),
    # ExionCore. A sparse GEMM is a GEMM (no bias: init is zero or C) under
    # the mask MASK[mask_row + i, mask_col + j], or its complement with
    # ``invert``: GEMM_OS computes C[i, j] only where the mask holds (i over
    # m, j over n; C keeps its value elsewhere), GEMM_IS takes A[i, j] as 0
    # where it does not (j over k); ``condensed``: in the order of each row
    # tile's kept columns (golden.core says how)
    Op.GEMM_OS: _SPARSE_GEMM,
    Op.GEMM_IS: _SPARSE_GEMM,
    # MASK[dst] = ACC[src] > threshold (a signed 32-bit threshold)
    Op.MASKGEN: (("src_row", _ROW), ("src_col", _COL), ("dst_row", _ROW), ("dst_col", _COL),
                 ("rows", _ROW), ("length", _DIM), ("threshold", 32)),
    # DiscCore. Row r of the region from or to external memory at byte
    # ``dram + ACC[idx_row, r] * stride``: a table of ``limit`` rows (a
    # token cache) read or written by token index. Every index is checked
    # before the first byte moves; a scatter's indices rise strictly, so that
    # no row of the table is written twice
    Op.GATHER: _INDEXED,
    Op.SCATTER: _INDEXED,
    # DiscCore's K/V store (``CoreConfig.kv_bytes`` int8 elements on chip,
    # banked behind the hash bank router): row r of the region (ACT or WGT)
    # from or to the store's elements ``base + ACC[idx_row, r] * stride``
    # onwards. ``stride`` is a power of two; a scatter's is at least ``cols``
    # and its indices rise strictly, so that no element is written twice
    Op.KV_GATHER: _KV,
    Op.KV_SCATTER: _KV,
}


def field_offsets(op):
    """``{name: (offset, bits)}`` of every field of ``op``, the header's included."""
    out, at = {}, 0
    for name, bits in HEADER + FIELDS[Op(op)]:
        out[name] = (at, bits)
        at += bits
    if at > DESCRIPTOR_BITS:  # pragma: no cover - a property of the tables above
        raise AssertionError(f"{Op(op).name}: {at} bits")
    return out


def encode(op, **fields):
    """A descriptor as an integer. Fields left out are zero; an unknown field
    or a value that does not fit its field is a ``ValueError``."""
    try:
        op = Op(op)
    except ValueError:
        raise ValueError(f"op: expected one of {[o.name for o in Op]}, got {op!r}") from None
    layout = field_offsets(op)
    word = int(op)
    for name, value in fields.items():
        if name not in layout or name == "op":
            raise ValueError(f"{op.name}: no field {name!r}; its fields: "
                             f"{', '.join(n for n in layout if n != 'op')}")
        offset, bits = layout[name]
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int) and not hasattr(value, "__index__"):
            raise TypeError(f"{op.name}.{name}: expected an integer, got {value!r}")
        value = int(value)
        if not 0 <= value < 1 << bits:
            raise ValueError(f"{op.name}.{name}: expected an integer in [0, {(1 << bits) - 1}], "
                             f"got {value!r}")
        word |= value << offset
    return word


def decode(word):
    """``(op, fields)`` of a descriptor; ``op`` is the raw 4-bit code (an
    :class:`Op` when it is one) and ``fields`` holds the header's token bits
    and, for a known operation, its fields."""
    if not isinstance(word, int) or not 0 <= word < 1 << DESCRIPTOR_BITS:
        raise ValueError(f"descriptor: expected a {DESCRIPTOR_BITS}-bit unsigned integer, "
                         f"got {word!r}")
    code = word & 0xF
    try:
        op = Op(code)
    except ValueError:
        return code, {name: (word >> off) & ((1 << bits) - 1)
                      for name, (off, bits) in _header_offsets().items() if name != "op"}
    return op, {name: (word >> off) & ((1 << bits) - 1)
                for name, (off, bits) in field_offsets(op).items() if name != "op"}


def _header_offsets():
    return field_offsets(Op.FINISH)
