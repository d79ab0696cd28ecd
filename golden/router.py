"""Golden model of the hash bank router and banked buffer, and its access traces.

Address mapping (``hardware.md``): with ``B = 2**b`` banks, address ``a``
lives in bank ``hash(a)`` at row ``a >> b``.

* ``modulo``: the low ``b`` bits of ``a``.
* ``xor``: the XOR of all ``b``-bit chunks of ``a``. Chunk 0 is the low
  bits and the other chunks are exactly the chunks of the row, so
  ``bank = (a mod B) ^ fold(row)`` and ``a mod B = bank ^ fold(row)``: the
  mapping is a bijection between addresses and (bank, row) pairs
  (:func:`address_of` is its inverse).

Memory semantics (:class:`BankedBufferModel`): every request takes effect
in one total order; a read returns the data of the last write to its
address before it in that order, or 0 if there was none (the banks start
cleared). The router guarantees that order only within one lane; requests
of different lanes to the same address may take effect in any order, so
testbenches order them with quiescent points.

Traces (:func:`gather`, :func:`strided`, :func:`uniform`) are per-lane
address lists; :func:`ctr_gather` and :func:`st_gather` cut them from the
real DiT sampling run (:mod:`exdisc.golden.trace`).
"""

import numpy as np


__all__ = ["HASHES", "bank_bits", "bank_of", "row_of", "address_of", "BankedBufferModel",
           "gather", "strided", "uniform", "ctr_rows", "st_rows", "ctr_gather", "st_gather",
           "bank_loads"]


HASHES = ("modulo", "xor")


def _check_banks(banks):
    if isinstance(banks, bool) or not isinstance(banks, int) or banks < 1 or banks & (banks - 1):
        raise ValueError(f"banks: expected a power of two >= 1, got {banks!r}")


def _check_hash(hash):
    if hash not in HASHES:
        raise ValueError(f"hash: expected one of {HASHES}, got {hash!r}")


def bank_bits(banks):
    _check_banks(banks)
    return banks.bit_length() - 1


def _fold(x, bits):
    """XOR of the ``bits``-bit chunks of the non-negative integers ``x``."""
    x = np.asarray(x, dtype=np.int64)
    out = np.zeros_like(x)
    if bits == 0:
        return out
    mask = (1 << bits) - 1
    while np.any(x):
        out ^= x & mask
        x = x >> bits
    return out


def bank_of(addr, banks, hash="xor"):
    """Bank of each address (int or array)."""
    _check_hash(hash)
    b = bank_bits(banks)
    a = np.asarray(addr, dtype=np.int64)
    if np.any(a < 0):
        raise ValueError("addr: addresses must be non-negative")
    out = a & (banks - 1) if hash == "modulo" else _fold(a, b)
    return int(out) if np.ndim(addr) == 0 else out


def row_of(addr, banks):
    """Row of each address inside its bank."""
    a = np.asarray(addr, dtype=np.int64)
    out = a >> bank_bits(banks)
    return int(out) if np.ndim(addr) == 0 else out


def address_of(bank, row, banks, hash="xor"):
    """Inverse of the mapping: the address stored at ``(bank, row)``."""
    _check_hash(hash)
    b = bank_bits(banks)
    bank = np.asarray(bank, dtype=np.int64)
    row = np.asarray(row, dtype=np.int64)
    low = bank if hash == "modulo" else bank ^ _fold(row, b)
    out = (row << b) | low
    return int(out) if out.ndim == 0 else out


class BankedBufferModel:
    """What each request of a sequence returns: the functional model of the buffer.

    Data is stored per bank and row through the mapping, so a mapping that
    is not a bijection shows up as reads that return another address's data.

    Parameters
    ----------
    banks : int
        ``B``, a power of two.
    hash : str
        ``"modulo"`` or ``"xor"``.
    addr_width, data_width : int
        Address and data bits; out-of-range values raise ``ValueError``.
    """

    def __init__(self, banks, hash="xor", addr_width=12, data_width=32):
        _check_hash(hash)
        self.banks, self.hash = banks, hash
        self.addr_width, self.data_width = addr_width, data_width
        if addr_width < bank_bits(banks):
            raise ValueError(f"addr_width: {addr_width!r} is narrower than the bank bits")
        self.store = {}

    def access(self, write, addr, data=0):
        """Apply one request; returns the read data (the written data for a write)."""
        if not 0 <= addr < 1 << self.addr_width:
            raise ValueError(f"addr: {addr!r} does not fit {self.addr_width} bits")
        key = (bank_of(addr, self.banks, self.hash), row_of(addr, self.banks))
        if write:
            if not 0 <= data < 1 << self.data_width:
                raise ValueError(f"data: {data!r} does not fit {self.data_width} bits")
            self.store[key] = data
            return data
        return self.store.get(key, 0)

    def run(self, requests):
        """Responses to ``(write, addr, data)`` requests applied in order."""
        return [self.access(*r) for r in requests]


def gather(rows, row_words, lanes, base=0):
    """Engine-feed gather: lane ``p`` fetches rows ``p, p + P, ...`` of ``rows``,
    each as its ``row_words`` consecutive words of a row-major buffer, so that
    at each step the lanes read the same word of ``P`` different rows (one
    column of a dense tile)."""
    out = [[] for _ in range(lanes)]
    for i, r in enumerate(rows):
        out[i % lanes].extend(base + int(r) * row_words + w for w in range(row_words))
    return out


def strided(stride, count, lanes, addr_width, base=0):
    """Request ``i`` (``count`` in all) reads ``(base + i * stride) mod 2**addr_width``
    on lane ``i mod P``."""
    out = [[] for _ in range(lanes)]
    for i in range(count):
        out[i % lanes].append((base + i * stride) % (1 << addr_width))
    return out


def uniform(count, lanes, addr_width, rng):
    """``count`` uniformly random addresses per lane."""
    return [[int(a) for a in rng.integers(0, 1 << addr_width, count)] for _ in range(lanes)]


def ctr_rows(fresh, tokens):
    """Row order of CTR's gathers: the fresh tokens of every step that reuses
    (not every token fresh), step after step."""
    return [int(t) for s in sorted(fresh) if len(fresh[s]) < tokens for t in fresh[s]]


def st_rows(kept, queries):
    """Row order of ST's gathers: for ``queries`` queries spread over the
    latest stored mask (the one the most reuse steps gather), each query's
    kept keys."""
    first = kept[max(kept)]
    picks = np.linspace(0, len(first) - 1, queries).round().astype(int)
    return [int(k) for q in picks for k in first[q]]


def ctr_gather(lanes, row_words, limit=None, **trace_args):
    """Per-lane gathers of CTR's fresh tokens (token-major buffer, ``row_words``
    words per token), from the DiT sampling run of :func:`exdisc.golden.trace.fresh_tokens`."""
    from .trace import fresh_tokens, model
    rows = ctr_rows(fresh_tokens(**trace_args), model().cfg.tokens)
    return _limit(gather(rows, row_words, lanes), limit)


def st_gather(lanes, row_words, queries=16, limit=None, head=0, **trace_args):
    """Per-lane gathers of the keys ST keeps (K buffer token-major with
    ``row_words`` words per key of one head), from :func:`exdisc.golden.trace.kept_keys`."""
    from .trace import kept_keys
    rows = st_rows(kept_keys(head=head, **trace_args), queries)
    return _limit(gather(rows, row_words, lanes), limit)


def _limit(lanes, limit):
    return lanes if limit is None else [seq[:limit] for seq in lanes]


def bank_loads(lanes, banks, hash):
    """Requests per bank over the whole trace (a hot bank caps throughput)."""
    addrs = np.concatenate([np.asarray(s, dtype=np.int64) for s in lanes if len(s)])
    return np.bincount(bank_of(addrs, banks, hash), minlength=banks)
