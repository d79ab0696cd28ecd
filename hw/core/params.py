"""Parameters of the core."""

import dataclasses

from ..params import Params, check_choice, check_int, param
from ..router import HASHES, RouterParams


__all__ = ["CoreParams", "ExionParams", "DiscParams"]


@dataclasses.dataclass(frozen=True)
class CoreParams(Params):
    """The core's buffers and limits (the golden model's ``CoreConfig`` names
    the same sizes, field for field).

    Members
    -------
    width : int
        Elements per buffer row (8 to 511).
    act_rows, wgt_rows, acc_rows, mask_rows : int
        Rows of each buffer (1 to 4096).
    max_len : int
        The longest non-linear row (at most ``width``).
    token_depth : int
        Tokens each of the four dependency-token queues holds.
    queue_depth : int
        Descriptors each of the four queues holds (1 to 64).
    dram_bytes : int
        External memory the program may load from and store to.
    array_rows, array_cols : int
        The systolic engine's ``R x C`` (1 to 64 each).
    nl_lanes : int
        Values per beat of the non-linear unit.

    The buffers are :attr:`banks` memories wide, and the external streams
    carry :attr:`bus_bytes` bytes a beat.
    """
    width: int = param(256, "elements per buffer row")
    act_rows: int = param(1024, "rows of the int8 activation buffer")
    wgt_rows: int = param(1024, "rows of the int8 weight buffer")
    acc_rows: int = param(2048, "rows of the int32 accumulator buffer")
    mask_rows: int = param(512, "rows of the mask buffer (and of the row scales)")
    max_len: int = param(256, "longest non-linear row")
    token_depth: int = param(8, "tokens each dependency queue holds")
    queue_depth: int = param(16, "descriptors each queue holds")
    dram_bytes: int = param(1 << 20, "bytes of external memory the program may use")
    array_rows: int = param(16, "engine rows R")
    array_cols: int = param(16, "engine columns C")
    nl_lanes: int = param(16, "values per beat of the non-linear unit")

    def __post_init__(self):
        check_int("width", self.width, min=8, max=511)
        for name in ("act_rows", "wgt_rows", "acc_rows", "mask_rows"):
            check_int(name, getattr(self, name), min=1, max=1 << 12)
        check_int("max_len", self.max_len, min=1, max=self.width)
        check_int("token_depth", self.token_depth, min=1, max=1 << 10)
        check_int("queue_depth", self.queue_depth, min=1, max=64)
        check_int("dram_bytes", self.dram_bytes, min=1, max=1 << 32)
        check_int("array_rows", self.array_rows, min=1, max=64)
        check_int("array_cols", self.array_cols, min=1, max=64)
        check_int("nl_lanes", self.nl_lanes, min=1, max=64)

    @property
    def banks(self):
        """Memories across each buffer, the elements of one vector access: the
        power of two that covers the engine's rows and columns and the
        non-linear unit's lanes."""
        return 1 << (max(self.array_rows, self.array_cols, self.nl_lanes) - 1).bit_length()

    @property
    def bus_bytes(self):
        """Bytes per beat of the load and store streams: one vector of
        int32 accumulators."""
        return 4 * self.banks

    def rows(self, buffer):
        """Rows of a buffer, by its :class:`~.isa.Buffer` value."""
        return (self.act_rows, self.wgt_rows, self.acc_rows, self.mask_rows)[int(buffer)]

    @property
    def exion(self):
        """Whether the core runs ExionCore's operations (:class:`ExionParams`)."""
        return False

    @property
    def disc(self):
        """Whether the core runs DiscCore's operations (:class:`DiscParams`)."""
        return False


@dataclasses.dataclass(frozen=True)
class ExionParams(CoreParams):
    """ExionCore's parameters: the core's, and a core that also runs
    ExionCore's operations (``GEMM_OS``, ``GEMM_IS``, ``MASKGEN``), with the
    GEMM unit reading masks from ``MASK``.

    Members
    -------
    (those of :class:`CoreParams`)
    """

    @property
    def exion(self):
        return True


@dataclasses.dataclass(frozen=True)
class DiscParams(CoreParams):
    """DiscCore's parameters: the core's, and a core that also runs DiscCore's
    operations (``GATHER``, ``SCATTER``: rows of external memory by a list
    of token indices in ``ACC``; ``KV_GATHER``, ``KV_SCATTER``: rows of the
    on-chip K/V store, through the hash bank router) and ExionCore's sparse
    GEMMs (ST's reuse step masks its scores with the output-sparse one).

    Members
    -------
    (those of :class:`CoreParams`, and)
    kv_bytes : int
        int8 elements of the K/V store (a power of two, 64 to 2**16).
    kv_banks : int
        The router's single-port banks (a power of two, 1 to 64); its lanes
        are :attr:`banks`, one per element of a buffer's vector.
    kv_hash : str
        The router's bank hash, ``"xor"`` or ``"modulo"``.
    """
    kv_bytes: int = param(1 << 15, "int8 elements of the K/V store (a power of two)")
    kv_banks: int = param(16, "the K/V store's router banks (a power of two)")
    kv_hash: str = param("xor", "the K/V store's bank hash", choices=HASHES)

    def __post_init__(self):
        super().__post_init__()
        check_int("kv_bytes", self.kv_bytes, min=64, max=1 << 16)
        if self.kv_bytes & (self.kv_bytes - 1):
            raise ValueError(f"parameter 'kv_bytes' must be a power of two, "
                             f"not {self.kv_bytes!r}")
        check_int("kv_banks", self.kv_banks, min=1, max=64)
        if self.kv_banks & (self.kv_banks - 1):
            raise ValueError(f"parameter 'kv_banks' must be a power of two, "
                             f"not {self.kv_banks!r}")
        if self.kv_bytes < 2 * self.kv_banks:
            raise ValueError(f"parameter 'kv_bytes' must hold two rows of each of the "
                             f"{self.kv_banks} banks, not {self.kv_bytes!r}")
        check_choice("kv_hash", self.kv_hash, HASHES)

    @property
    def kv_router(self):
        """The K/V store's :class:`~exdisc.hw.router.RouterParams`: a lane per
        element of a vector, a byte a word."""
        return RouterParams(lanes=self.banks, banks=self.kv_banks,
                            addr_width=self.kv_bytes.bit_length() - 1, data_width=8,
                            tag_width=1, hash=self.kv_hash)

    @property
    def exion(self):
        return True

    @property
    def disc(self):
        return True
