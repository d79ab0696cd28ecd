"""Descriptor programs for the core's RTL tests, and the golden model's view
of a :class:`~exdisc.hw.core.params.CoreParams`."""

import dataclasses

import numpy as np

from exdisc.golden import core as gcore
from exdisc.golden.core_isa import (DISC_OPS, EXION_OPS, FIELDS, QUEUE_OF, Buffer, Init, Op,
                                    decode, encode, tokens)
from exdisc.hw.core.params import CoreParams


__all__ = ["golden_config", "random_descriptor", "random_program", "transfer_gemm_program",
           "indexed_program",
           "dump_bytes", "random_dram", "written_elsewhere", "serial", "descriptor_times"]


def golden_config(p):
    """The golden core model's :class:`~exdisc.golden.core.CoreConfig` for ``p``."""
    if not isinstance(p, CoreParams):
        raise TypeError(f"p: expected a CoreParams, got {p!r}")
    return gcore.CoreConfig(width=p.width, act_rows=p.act_rows, wgt_rows=p.wgt_rows,
                            acc_rows=p.acc_rows, mask_rows=p.mask_rows, max_len=p.max_len,
                            token_depth=p.token_depth, queue_depth=p.queue_depth,
                            dram_bytes=p.dram_bytes, exion=p.exion, disc=p.disc,
                            array_rows=p.array_rows,
                            **({"kv_bytes": p.kv_bytes} if p.disc else {}))


def _value(rng, name, bits, p, wild):
    """A field value near the limits of ``p`` (so that both well-formed and
    malformed descriptors come up), or with ``wild`` anything the field holds."""
    if wild:
        return int(rng.integers(0, 1 << bits))
    rows = max(p.act_rows, p.wgt_rows, p.acc_rows, p.mask_rows)
    if rng.random() < 0.5 and name not in ("dram", "stride") and (
            name.endswith(("row", "rows", "col", "cols", "length")) or name in "mnk"):
        # halves and neighbours of every limit, so that sums land on a
        # limit, just inside it and just past it
        limits = (p.act_rows, p.wgt_rows, p.acc_rows, p.mask_rows, p.width, p.max_len)
        edges = sorted({v for lim in limits for v in (lim // 2, lim // 2 + 1, lim - 1, lim)} |
                       {0, 1, 2, 4, 7, 8, 9, 12})
        edges = [v for v in edges if v < 1 << bits]
        return int(rng.choice(edges))
    near = {"row": rows, "rows": rows, "col": p.width, "cols": p.width, "m": p.width,
            "n": p.width, "k": p.width, "length": p.max_len + 2, "dram": p.dram_bytes,
            "stride": p.dram_bytes // 8, "base": getattr(p, "kv_bytes", 1 << 15)}
    for key, hi in near.items():
        if name == key or name.endswith("_" + key):
            return int(min(rng.integers(0, hi // 2 + 2), (1 << bits) - 1))
    if name in ("pop", "push"):
        return sum(1 << q for q in range(4) if rng.random() < 0.1)
    return int(rng.integers(0, 1 << bits))


def random_descriptor(rng, p, wild_prob=0.05):
    """One descriptor: any operation code (mostly the core's), fields near
    ``p``'s limits, now and then one field anything at all."""
    ops = [int(o) for o in Op if o <= Op.FINISH or (p.exion and o in EXION_OPS) or
           (p.disc and o in DISC_OPS)]
    code = int(rng.choice(ops)) if rng.random() < 0.95 else int(rng.integers(0, 16))
    if code not in {int(o) for o in Op}:
        return code | (int(rng.integers(0, 1 << 60)) << 8)
    op = Op(code)
    wild = int(rng.integers(0, len(FIELDS[op]) + 1)) if rng.random() < wild_prob else -1
    fields = {name: _value(rng, name, bits, p, n == wild)
              for n, (name, bits) in enumerate(FIELDS[op])}
    tokens = {name: _value(rng, name, 4, p, False) for name in ("pop", "push")}
    if op in (Op.LOAD, Op.STORE) and rng.random() < 0.3:
        # the last byte of the transfer on the end of external memory, or one past it
        nbytes = fields["cols"] // 8 if fields["buffer"] == 3 else \
            fields["cols"] * (4 if fields["buffer"] == 2 else 1)
        span = max(fields["rows"] - 1, 0) * fields["stride"] + nbytes
        fields["dram"] = min(max(p.dram_bytes - span + int(rng.integers(-1, 2)), 0),
                             (1 << 32) - 1)
    return encode(op, **fields, **tokens)


def random_program(rng, p, length, well_formed=False):
    """``length`` random descriptors; with ``well_formed``, only those the
    golden model accepts after the ones before (a sparse GEMM only after
    writes of its mask rows)."""
    cfg, out = golden_config(p), []
    while len(out) < length:
        word = random_descriptor(rng, p)
        if not well_formed or (gcore.validate(cfg, word)[0] == gcore.Error.NONE and
                               gcore.accepted(out + [word], cfg)[1][0] == gcore.Error.NONE):
            out.append(word)
    return out


def _region(rng, p, buffer, most=None):
    rows_of = p.rows(int(buffer))
    rows = int(rng.integers(1, min(rows_of, most or rows_of) + 1))
    row = int(rng.integers(0, rows_of - rows + 1))
    if buffer == Buffer.MASK:
        cols = 8 * int(rng.integers(1, p.width // 8 + 1))
        col = 8 * int(rng.integers(0, (p.width - cols) // 8 + 1))
    else:
        cols = int(rng.integers(1, p.width + 1))
        col = int(rng.integers(0, p.width - cols + 1))
    return row, col, rows, cols


def _transfer(rng, p, op, most_rows):
    buffer = Buffer(int(rng.integers(0, 4)))
    row, col, rows, cols = _region(rng, p, buffer, most_rows)
    nbytes = cols // 8 if buffer == Buffer.MASK else cols * (4 if buffer == Buffer.ACC else 1)
    stride = nbytes + int(rng.integers(0, 8))
    span = (rows - 1) * stride + nbytes
    dram = int(rng.integers(0, p.dram_bytes - span + 1))
    return encode(op, buffer=int(buffer), row=row, col=col, rows=rows, cols=cols, dram=dram,
                  stride=stride)


def random_gemm(rng, p, op=Op.GEMM):
    """A well-formed GEMM, or (``op``) an ExionCore sparse GEMM."""
    def dim(limit):
        return int(rng.integers(1, limit + 1))
    m = dim(min(p.act_rows, p.acc_rows, 3 * p.array_rows))
    n = dim(min(p.width, 3 * p.array_cols))
    k = dim(min(p.width, 2 * max(p.array_rows, p.array_cols) + 3))
    b_t = bool(rng.random() < 0.5)
    if b_t:
        n = min(n, p.wgt_rows)
    else:
        k = min(k, p.wgt_rows)
    init = Init(int(rng.integers(0, 3)))
    at = lambda size, extent: int(rng.integers(0, extent - size + 1))
    b_rows, b_cols = (n, k) if b_t else (k, n)
    c_row = at(m, p.acc_rows)
    outside = [r for r in range(p.acc_rows) if not c_row <= r < c_row + m]
    if init == Init.BIAS and not outside:
        init = Init.ACCUMULATE
    common = dict(a_row=at(m, p.act_rows), a_col=at(k, p.width), b_row=at(b_rows, p.wgt_rows),
                  b_col=at(b_cols, p.width), b_t=b_t, c_row=c_row, c_col=at(n, p.width), m=m,
                  n=n, k=k)
    if op != Op.GEMM:
        m = min(m, p.mask_rows)
        cols = n if op == Op.GEMM_OS else k
        return encode(op, **dict(common, m=m),
                      init=int(rng.choice([Init.ZERO, Init.ACCUMULATE, Init.SUBTRACT])),
                      mask_row=at(m, p.mask_rows), mask_col=at(cols, p.width),
                      invert=int(rng.random() < 0.5), condensed=int(rng.random() < 0.5))
    bias_row = int(rng.choice(outside)) if outside else 0
    return encode(Op.GEMM, **common, init=int(init), bias_row=bias_row)


def _maskgen(rng, p, most_rows):
    rows = int(rng.integers(1, min(p.acc_rows, p.mask_rows, most_rows) + 1))
    length = int(rng.integers(1, p.width + 1))
    at = lambda size, extent: int(rng.integers(0, extent - size + 1))
    # thresholds around zero, as FFN-Reuse's, and anywhere
    threshold = int(rng.integers(-1000, 1000)) if rng.random() < 0.7 else \
        int(rng.integers(-(1 << 31), 1 << 31))
    return encode(Op.MASKGEN, src_row=at(rows, p.acc_rows), src_col=at(length, p.width),
                  dst_row=at(rows, p.mask_rows), dst_col=at(length, p.width), rows=rows,
                  length=length, threshold=threshold % (1 << 32))


def dump_bytes(p):
    """External bytes :func:`transfer_gemm_program`'s closing stores of every
    buffer take."""
    return sum(p.rows(b) * _row_bytes(p, b) for b in Buffer)


def _row_bytes(p, b):
    return p.width // 8 if b == Buffer.MASK else p.width * (4 if b == Buffer.ACC else 1)


def transfer_gemm_program(rng, p, length, ops=(Op.LOAD, Op.GEMM, Op.STORE), most_rows=8,
                          window=None, fill=False):
    """Every buffer cleared (loaded whole from the top :func:`dump_bytes` of
    external memory, which the caller zeroes, one row repeated), then
    ``length`` well-formed random descriptors of ``ops`` (loads first, so
    that the buffers hold data), then a store of every buffer whole to the
    top of external memory (so that every word the program wrote is
    compared), then ``FINISH``, with the tokens their footprints call for.
    Random transfers stay below the top. With ``window`` (a
    :class:`CoreParams` with fewer rows and a narrower width), every region
    lies in its corner of the buffers, and only that is cleared and
    stored: large buffers checked in few cycles. With ``fill``, the buffers
    start from :func:`random_dram`'s random bytes instead (each loaded whole
    from address 0), so that every operand, accumulator and mask bit is
    random from the first descriptor on."""
    if window is not None:
        p = dataclasses.replace(window, dram_bytes=p.dram_bytes)
    low = p.dram_bytes - dump_bytes(p)
    if low < 64:
        raise ValueError(f"p: dram_bytes {p.dram_bytes} leaves no room below the buffer dump")
    room = dataclasses.replace(p, dram_bytes=low)
    if fill and any(p.rows(b) * _row_bytes(p, b) > low for b in Buffer):
        raise ValueError(f"p: dram_bytes {p.dram_bytes} has too few random bytes to fill a buffer")
    out = [encode(Op.LOAD, buffer=int(b), row=0, col=0, rows=p.rows(b), cols=p.width,
                  dram=0 if fill else low, stride=_row_bytes(p, b) if fill else 0)
           for b in Buffer]
    out += [_transfer(rng, room, Op.LOAD, most_rows) for _ in range(4)]
    while len(out) < length + len(Buffer):
        op = ops[int(rng.integers(0, len(ops)))]
        if op in (Op.GEMM, Op.GEMM_OS, Op.GEMM_IS):
            out.append(random_gemm(rng, p, op))
        elif op == Op.MASKGEN:
            out.append(_maskgen(rng, p, most_rows))
        else:
            out.append(_transfer(rng, room, op, most_rows))
    out += _dump(p, low)
    return gcore.with_tokens(out)


def indexed_program(rng, p, length, fault=None, window=None, kv=False):
    """DiscCore's gathers and scatters among loads and stores: ``(program,
    dram)``, as :func:`transfer_gemm_program` (buffers cleared, ``length``
    random descriptors, every buffer stored, ``FINISH``), each gather or
    scatter after a ``LOAD`` of its index list into a random row of
    ``ACC``. The lists lie in external memory below the buffer dump, where
    nothing else writes: a gather's any indices of its table, a scatter's
    rising. Tables of random rows, strides and places overlap the random
    transfers. ``fault``: the last gather or scatter gets a list with an
    index at or past its table's end (``"range"``) or, a scatter, a
    repeated index (``"duplicate"``). ``window``: as for
    :func:`transfer_gemm_program`. ``kv``: also ``KV_GATHER`` and
    ``KV_SCATTER`` of ``ACT`` and ``WGT`` rows, into and out of random tables
    of the K/V store, a gather's stride any power of two."""
    if window is not None:
        p = dataclasses.replace(window, dram_bytes=p.dram_bytes)
    low = p.dram_bytes - dump_bytes(p)
    lists = low - 4 * p.width * length
    if lists < 256:
        raise ValueError(f"p: dram_bytes {p.dram_bytes} leaves no room for {length} index lists")
    dram = random_dram(rng, p)
    room = dataclasses.replace(p, dram_bytes=lists)
    out = [encode(Op.LOAD, buffer=int(b), row=0, col=0, rows=p.rows(b), cols=p.width,
                  dram=low, stride=0) for b in Buffer]
    out += [_transfer(rng, room, Op.LOAD, 8) for _ in range(4)]
    ops = (Op.LOAD, Op.STORE, Op.GATHER, Op.SCATTER, Op.GATHER, Op.SCATTER)
    if kv:
        ops = (Op.LOAD, Op.STORE, Op.GATHER, Op.SCATTER) + (Op.KV_SCATTER, Op.KV_GATHER) * 2
    kinds = [ops[int(rng.integers(0, len(ops)))] for _ in range(length)]
    if fault is not None:
        scatter = Op.KV_SCATTER if kv else Op.SCATTER
        kinds[-1] = scatter if fault == "duplicate" else kinds[-1]
        if kinds[-1] not in DISC_OPS:
            kinds[-1] = Op.GATHER
    last = max(n for n, op in enumerate(kinds) if op in DISC_OPS) if fault else -1
    for n, op in enumerate(kinds):
        if op not in DISC_OPS:
            out.append(_transfer(rng, room, op, 8))
            continue
        on_chip = op in (Op.KV_GATHER, Op.KV_SCATTER)
        buffer = Buffer(int(rng.integers(0, 2 if on_chip else 4)))
        row, col, rows, cols = _region(rng, p, buffer, 8)
        nbytes = cols // 8 if buffer == Buffer.MASK else cols * (4 if buffer == Buffer.ACC else 1)
        scatter = op in (Op.SCATTER, Op.KV_SCATTER)
        limit = int(rng.integers(rows if scatter else 1, rows + 12))
        if on_chip:
            least = (nbytes - 1).bit_length() if op == Op.KV_SCATTER else 0
            stride = 1 << int(rng.integers(least, least + 2))
            space = p.kv_bytes
        else:
            stride = nbytes + int(rng.integers(0, 8))
            space = lists
        at = int(rng.integers(0, max(1, space - (limit - 1) * stride - nbytes + 1)))
        if scatter:
            index = np.sort(rng.choice(limit, rows, replace=False))
        else:
            index = rng.integers(0, limit, rows)
        if n == last:
            if fault == "duplicate" and rows > 1:
                r = int(rng.integers(1, rows))
                index[r] = index[r - 1]
            else:
                index[int(rng.integers(0, rows))] = limit if rng.random() < 0.5 else -1
        # a gather into ACC leaves its own list alone
        idx_row = int(rng.choice([r for r in range(p.acc_rows) if op == Op.SCATTER or
                                  buffer != Buffer.ACC or not row <= r < row + rows]))
        put = lists + 4 * p.width * n
        dram[put:put + 4 * rows] = np.asarray(index, "<i4").view(np.uint8)
        out.append(encode(Op.LOAD, buffer=int(Buffer.ACC), row=idx_row, col=0, rows=1, cols=rows,
                          dram=put, stride=0))
        out.append(encode(op, buffer=int(buffer), row=row, col=col, rows=rows, cols=cols,
                          stride=stride, idx_row=idx_row, limit=limit,
                          **{"base" if on_chip else "dram": at}))
    out += _dump(p, low)
    return gcore.with_tokens(out), dram


def _dump(p, low):
    """Every buffer stored whole from external byte ``low`` on, then ``FINISH``."""
    out, at = [], low
    for b in Buffer:
        nbytes = _row_bytes(p, b)
        out.append(encode(Op.STORE, buffer=int(b), row=0, col=0, rows=p.rows(b), cols=p.width,
                          dram=at, stride=nbytes))
        at += p.rows(b) * nbytes
    return out + [encode(Op.FINISH)]


def written_elsewhere(program, index, dram_bytes):
    """Bytes of external memory some descriptor of ``program`` other than
    ``index`` may write: where a run stopped by a bad index list at
    ``index`` may differ from the golden model's, since which descriptors
    the other queues had started is timing-dependent."""
    out = np.zeros(dram_bytes, bool)
    for n, word in enumerate(program):
        if n != index:
            for space, _, _, at, size in gcore.footprint(*decode(int(word)))[1]:
                if space == "dram":
                    out[at:at + size] = True
    return out


def random_dram(rng, p):
    """External memory for :func:`transfer_gemm_program`: random bytes below
    the top :func:`dump_bytes`, zeros in it."""
    dram = rng.integers(0, 256, p.dram_bytes, dtype=np.uint8)
    dram[p.dram_bytes - dump_bytes(p):] = 0
    return dram


def serial(program):
    """``program`` with tokens that make each descriptor wait for the one
    before it (a queue keeps its own order; between queues, a token) and no
    other tokens: no two descriptors run at once."""
    decoded = [decode(int(word)) for word in program]
    queues = [QUEUE_OF[op] for op, _ in decoded]
    out = []
    for n, (op, f) in enumerate(decoded):
        f = {k: v for k, v in f.items() if k not in ("pop", "push")}
        before = queues[n - 1] if n else queues[n]
        after = queues[n + 1] if n + 1 < len(queues) else queues[n]
        out.append(encode(op, **f, pop=tokens(before) if before != queues[n] else 0,
                          push=tokens(after) if after != queues[n] else 0))
    return out


def descriptor_times(program, starts, ends):
    """Each descriptor's ``(start, end)`` cycles, from the cycles each queue
    (by :class:`~exdisc.golden.core_isa.Queue` value) started and ended its
    descriptors at (a queue runs its own in order)."""
    times = {}
    for q in range(4):
        mine = [i for i, word in enumerate(program) if int(QUEUE_OF[decode(int(word))[0]]) == q]
        if not len(starts[q]) == len(ends[q]) == len(mine):
            raise ValueError(f"queue {q}: {len(mine)} descriptors, {len(starts[q])} starts, "
                             f"{len(ends[q])} ends")
        times.update((i, (s, e)) for i, s, e in zip(mine, starts[q], ends[q]))
    return [times[i] for i in range(len(program))]
