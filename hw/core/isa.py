"""The core's descriptors as Amaranth layouts.

The format is that of :mod:`exdisc.golden.core_isa` (documented in
``docs/core.md``), bit for bit: 128 bits, the operation in ``[3:0]``, the pop
and push masks in ``[7:4]`` and ``[11:8]``, the operation's fields upwards
from bit 12. ``hw``
imports nothing of the golden models, so the field table is written out here
again; ``tests/test_core_decode.py`` checks the two tables are the same.
"""

from amaranth.hdl import Shape, unsigned
from amaranth.lib import data, enum

from ..nonlinear import Op as Fn


__all__ = ["DESCRIPTOR_BITS", "Op", "DENSE_OPS", "EXION_OPS", "DISC_OPS", "KV_OPS", "SPARSE_GEMMS",
           "Buffer", "Fn", "Init", "Queue", "Error", "HEADER", "FIELDS", "QUEUE_OF", "layout"]

DESCRIPTOR_BITS = 128


class Op(enum.Enum, shape=4):
    LOAD = 1
    STORE = 2
    GEMM = 3
    NONLINEAR = 4
    SET = 5
    ADD = 6
    FINISH = 7
    GEMM_OS = 8
    GEMM_IS = 9
    MASKGEN = 10
    GATHER = 11
    SCATTER = 12
    KV_GATHER = 13
    KV_SCATTER = 14


#: The dense core's operations; ExionCore runs :data:`EXION_OPS` too.
DENSE_OPS = (Op.LOAD, Op.STORE, Op.GEMM, Op.NONLINEAR, Op.SET, Op.ADD, Op.FINISH)
EXION_OPS = (Op.GEMM_OS, Op.GEMM_IS, Op.MASKGEN)
#: DiscCore's operations: transfers by an index list, of external memory and
#: of the K/V store.
DISC_OPS = (Op.GATHER, Op.SCATTER, Op.KV_GATHER, Op.KV_SCATTER)
KV_OPS = (Op.KV_GATHER, Op.KV_SCATTER)
#: The GEMM queue's sparse operations: a GEMM's fields up to ``init``, then the mask's.
SPARSE_GEMMS = (Op.GEMM_OS, Op.GEMM_IS)


class Buffer(enum.Enum, shape=2):
    ACT = 0
    WGT = 1
    ACC = 2
    MASK = 3


class Init(enum.Enum, shape=2):
    ZERO = 0
    BIAS = 1
    ACCUMULATE = 2
    SUBTRACT = 3


class Queue(enum.Enum, shape=2):
    LOAD = 0
    GEMM = 1
    VECTOR = 2
    STORE = 3


class Error(enum.Enum, shape=4):
    """The core's sticky error code (as :class:`exdisc.golden.core.Error`)."""
    NONE = 0
    BAD_OP = 1
    BAD_TOKEN = 2
    BAD_BUFFER = 3
    BAD_RANGE = 4
    BAD_SHAPE = 5
    DEADLOCK = 6
    OVERLAP = 7
    BAD_INDEX = 8
    DUPLICATE = 9
    NO_MASK = 10


QUEUE_OF = {Op.LOAD: Queue.LOAD, Op.STORE: Queue.STORE, Op.GEMM: Queue.GEMM,
            Op.NONLINEAR: Queue.VECTOR, Op.SET: Queue.VECTOR, Op.ADD: Queue.VECTOR,
            Op.FINISH: Queue.STORE, Op.GEMM_OS: Queue.GEMM, Op.GEMM_IS: Queue.GEMM,
            Op.MASKGEN: Queue.VECTOR, Op.GATHER: Queue.LOAD, Op.SCATTER: Queue.STORE,
            Op.KV_GATHER: Queue.LOAD, Op.KV_SCATTER: Queue.LOAD}

HEADER = (("op", 4), ("pop", 4), ("push", 4))

_ROW, _COL, _DIM = 12, 9, 9
_REGION = (("buffer", 2), ("row", _ROW), ("col", _COL), ("rows", _ROW), ("cols", _COL),
           ("dram", 32), ("stride", 20))
_INDEXED = _REGION[:-1] + (("stride", 16), ("idx_row", _ROW), ("limit", _ROW))
_KV = tuple(("base", bits) if name == "dram" else (name, bits) for name, bits in _INDEXED)
_SPARSE_GEMM = (("a_row", _ROW), ("a_col", _COL), ("b_row", _ROW), ("b_col", _COL), ("b_t", 1),
                ("c_row", _ROW), ("c_col", _COL), ("m", _DIM), ("n", _DIM), ("k", _DIM),
                ("init", 2), ("mask_row", _ROW), ("mask_col", _COL), ("invert", 1),
                ("condensed", 1))

FIELDS = {
    Op.LOAD: _REGION,
    Op.STORE: _REGION,
    Op.GEMM: (("a_row", _ROW), ("a_col", _COL), ("b_row", _ROW), ("b_col", _COL),
              ("b_t", 1), ("c_row", _ROW), ("c_col", _COL), ("m", _DIM), ("n", _DIM),
              ("k", _DIM), ("init", 2), ("bias_row", _ROW)),
    Op.NONLINEAR: (("fn", 3), ("src_row", _ROW), ("src_col", _COL), ("dst_buffer", 2),
                   ("dst_row", _ROW), ("dst_col", _COL), ("rows", _ROW), ("length", _DIM),
                   ("row_scale", 1), ("aux_row", _ROW)),
    Op.SET: (("mult", 16), ("shift", 6), ("mult2", 16), ("shift2", 6), ("theta", 32),
             ("pre", 5)),
    Op.ADD: (("dst_row", _ROW), ("dst_col", _COL), ("src_row", _ROW), ("src_col", _COL),
             ("gate_row", _ROW), ("gate_col", _COL), ("rows", _ROW), ("length", _DIM),
             ("shift", 6)),
    Op.FINISH: (),
    Op.GEMM_OS: _SPARSE_GEMM,
    Op.GEMM_IS: _SPARSE_GEMM,
    Op.MASKGEN: (("src_row", _ROW), ("src_col", _COL), ("dst_row", _ROW), ("dst_col", _COL),
                 ("rows", _ROW), ("length", _DIM), ("threshold", 32)),
    Op.GATHER: _INDEXED,
    Op.SCATTER: _INDEXED,
    Op.KV_GATHER: _KV,
    Op.KV_SCATTER: _KV,
}

_SHAPES = {"buffer": Buffer, "init": Init, "fn": unsigned(3)}


def layout(op):
    """The :class:`~amaranth.lib.data.StructLayout` of ``op``'s descriptors,
    header included, padded to :data:`DESCRIPTOR_BITS`. ``fn`` is left a
    plain 3-bit field: values above the non-linear unit's operations are
    malformed, not unrepresentable."""
    members = {"op": unsigned(4)}
    members.update({name: unsigned(bits) for name, bits in HEADER[1:]})
    for name, bits in FIELDS[Op(op)]:
        members[name] = _SHAPES.get(name, unsigned(bits))
        if name == "dst_buffer":
            members[name] = Buffer
    used = sum(Shape.cast(s).width for s in members.values())
    members["_pad"] = unsigned(DESCRIPTOR_BITS - used)
    return data.StructLayout(members)
