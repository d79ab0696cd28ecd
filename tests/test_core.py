"""The whole core in the Amaranth simulator against the golden core model:
every byte of external memory after a program, and with a closing store of
every buffer, every word the program wrote. (The quick checks; the cocotb
sign-off on Verilator, `make flow`'s main job and tests/test_flow.py, runs the
longer programs and a block of the project's DiT.)"""

import numpy as np
import pytest

from exdisc.golden import core as gcore
from exdisc.golden.core_isa import DENSE_OPS, Buffer, Op, decode, encode
from exdisc.hw.core.params import CoreParams, DiscParams, ExionParams
from exdisc.sim.stimulus.core import (golden_config, indexed_program, random_dram,
                                      transfer_gemm_program, written_elsewhere)
from exdisc.sim.testbenches.core_pysim import nonlinear_latency, run_core, timed_run

SMALL = CoreParams(width=32, act_rows=16, wgt_rows=16, acc_rows=16, mask_rows=8, max_len=32,
                   dram_bytes=6144, array_rows=4, array_cols=4, nl_lanes=4)


def _check(p, program, dram, seed):
    want = gcore.run(program, dram, golden_config(p), check=True)
    got = run_core(p, program, dram, seed)
    assert got.finished and got.error == 0
    bad = np.flatnonzero(got.dram != want.dram[0])
    assert not bad.size, f"{bad.size} bytes differ, first at {bad[:8]}"
    return got


@pytest.mark.parametrize("seed", [1])
def test_loads_and_stores(seed):
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    program = transfer_gemm_program(rng, SMALL, 14, ops=(Op.LOAD, Op.STORE))
    _check(SMALL, program, random_dram(rng, SMALL), seed)


@pytest.mark.parametrize("seed,shape", [(4, (4, 4)), (6, (2, 4)), (7, (4, 3))])
def test_gemms(seed, shape):
    """GEMMs of every init, transposed or not, on tiles cut at m and n, on
    engines of a few shapes."""
    print(f"seed {seed}")
    p = CoreParams(**dict(SMALL.as_dict(), array_rows=shape[0], array_cols=shape[1]))
    rng = np.random.default_rng(seed)
    program = transfer_gemm_program(rng, p, 14, ops=(Op.LOAD, Op.GEMM, Op.GEMM, Op.STORE))
    _check(p, program, random_dram(rng, p), seed)


def _small_dit(seed, image_size=8):
    """A small random DiT (one block, ``(image_size / 2)**2`` tokens of 16)
    and a random input and condition from ``seed``."""
    from exdisc.golden.dit import DiT
    from exdisc.golden.dit_config import DiTConfig
    cfg = DiTConfig(image_size=image_size, patch=2, hidden=16, depth=1, heads=4)
    model = DiT.random(cfg, seed=3, std=0.3)
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, cfg.tokens, cfg.hidden)).astype(np.float32)
    c = rng.standard_normal((1, cfg.hidden)).astype(np.float32)
    return model, x, c, seed


def test_dit_block():
    """A whole block of a small random DiT, compiled: every operation of the
    core (loads, GEMMs of every init, softmax with its masks and row scales,
    requantize by row scales, GELU, LayerNorm with its gains and biases,
    gated adds, stores) against the golden core model."""
    from exdisc.golden import core_compile as cc
    model, x, c, seed = _small_dit(3)
    p = CoreParams(width=64, act_rows=128, wgt_rows=128, acc_rows=256, mask_rows=32, max_len=64,
                   dram_bytes=1 << 13, array_rows=4, array_cols=4, nl_lanes=4)
    comp = cc.compile_block(model, 0, x, c, golden_config(p), chunk_rows=4)
    ops = {Op(w & 0xF) for w in comp.program}
    assert ops == DENSE_OPS
    _check(p, comp.program, comp.dram[0], seed)


# -- ExionCore's operations --------------------------------------------------

EXION = ExionParams(**SMALL.as_dict())


@pytest.mark.parametrize("seed,shape", [(1, (4, 4)), (2, (4, 4)), (5, (3, 4))])
def test_exion_operations(seed, shape):
    """Output-sparse and input-sparse GEMMs (either init, masks inverted or
    not, transposed B or not) and MASKGEN on buffers filled with random
    bytes, so that every mask bit and operand matters."""
    print(f"seed {seed}")
    p = ExionParams(**dict(EXION.as_dict(), array_rows=shape[0], array_cols=shape[1]))
    rng = np.random.default_rng(seed)
    program = transfer_gemm_program(rng, p, 14, fill=True, ops=(
        Op.LOAD, Op.GEMM_OS, Op.GEMM_IS, Op.GEMM_OS, Op.GEMM_IS, Op.MASKGEN, Op.STORE))
    _check(p, program, random_dram(rng, p), seed)


def _sparse_run(p, program, dram, seed):
    """``program`` with a closing store of ``ACC``, serial (no two
    descriptors at once), on the RTL: every byte the golden model's, every
    descriptor's cycles the model's. Returns ``(program, timing, model)``."""
    from exdisc.golden import core_cycles
    from exdisc.sim.stimulus.core import descriptor_times, serial
    program = serial(program + [encode(Op.STORE, buffer=int(Buffer.ACC), rows=p.acc_rows,
                                       cols=p.width, dram=0, stride=4 * p.width),
                                encode(Op.FINISH)])
    want = gcore.run(program, dram, golden_config(p), check=True)
    got = run_core(p, program, dram, seed, valid_prob=1.0, ready_prob=1.0)
    assert got.finished and got.error == 0
    assert np.array_equal(got.dram, want.dram[0])
    timing = core_cycles.Timing(rows=p.array_rows, cols=p.array_cols, lanes=p.nl_lanes,
                                banks=p.banks, bus_bytes=p.bus_bytes,
                                nonlinear_latency=nonlinear_latency(p), queue_depth=p.queue_depth)
    masks = {i: kept[0] for i, kept in want.masks.items()}
    model = core_cycles.estimate(program, timing, masks)
    assert [(s, e) for *_, s, e in model["schedule"]] == \
        descriptor_times(program, got.starts, got.ends)
    return program, timing, model


@pytest.mark.parametrize("seed,shape", [(21, (4, 4)), (22, (3, 5))])
def test_sparse_gemms_skip_what_their_masks_clear(seed, shape):
    """GEMM_IS, and GEMM_OS condensed, under masks from empty to full (rows
    of set bits at random densities, inverted or not; GEMM_IS condensed or
    not; B transposed or not): their outputs are the golden model's, and
    their cycles the model's, which take only the steps and columns a row
    tile keeps (fewer beats than dense GEMMs on the sparse masks)."""
    from exdisc.golden import core_cycles
    print(f"seed {seed}")
    p = ExionParams(**dict(EXION.as_dict(), mask_rows=16, wgt_rows=32, dram_bytes=8192,
                           array_rows=shape[0], array_cols=shape[1]))
    rng = np.random.default_rng(seed)
    dram = random_dram(rng, p)
    density = rng.choice([0.0, 0.03, 0.1, 0.3, 1.0], size=(p.mask_rows, 1))
    bits = rng.random((p.mask_rows, p.width)) < density
    dram[-p.mask_rows * p.width // 8:] = np.packbits(bits, axis=1, bitorder="little").ravel()
    program = [encode(Op.LOAD, buffer=int(b), rows=p.rows(b), cols=p.width, stride=p.width)
               for b in (Buffer.ACT, Buffer.WGT)]
    program.append(encode(Op.LOAD, buffer=int(Buffer.MASK), rows=p.mask_rows, cols=p.width,
                          dram=p.dram_bytes - p.mask_rows * p.width // 8, stride=p.width // 8))
    for op in (Op.GEMM_IS, Op.GEMM_OS) * 3:
        m = int(rng.integers(1, p.mask_rows + 1))
        n, k = (int(rng.integers(1, top + 1)) for top in
                ((12, p.width) if op == Op.GEMM_IS else (p.width, p.wgt_rows)))
        program.append(encode(op, m=m, n=n, k=k, b_t=int(op == Op.GEMM_IS or rng.random() < 0.5),
                              c_col=int(rng.integers(0, p.width - n + 1)),
                              mask_row=int(rng.integers(0, p.mask_rows - m + 1)),
                              invert=int(rng.random() < 0.2), init=int(rng.choice([0, 2, 3])),
                              condensed=int(op == Op.GEMM_OS or rng.random() < 0.5)))
    program, timing, model = _sparse_run(p, program, dram, seed)
    dense = core_cycles.estimate(program, timing)
    assert model["engine_beats"] < dense["engine_beats"]


@pytest.mark.parametrize("seed,shape", [(25, (4, 4)), (26, (3, 5))])
def test_condensed_passes_stream_from_the_scan(seed, shape):
    """A condensed GEMM_OS's passes begin while their row tile's mask is
    still scanned: row tiles whose first kept columns lie early in the row
    (the first pass fetched, and the engine's first beat taken, before the
    scan ends, so the next row tile's scan waits for this one's), late, or
    few (the last pass waits for the scan's end). Every word is the golden
    model's and every descriptor's cycles the model's."""
    print(f"seed {seed}")
    p = ExionParams(**dict(EXION.as_dict(), mask_rows=16, wgt_rows=32, dram_bytes=8192,
                           array_rows=shape[0], array_cols=shape[1]))
    rng = np.random.default_rng(seed)
    dram = random_dram(rng, p)
    R, C, n = p.array_rows, p.array_cols, p.width
    bits = np.zeros((p.mask_rows, n), bool)
    for u in range(0, p.mask_rows, R):
        # the row tile's kept columns: a run from a random column, a few more after it
        first = int(rng.integers(0, n // 2))
        cols = list(range(first, min(n, first + int(rng.integers(1, 2 * C + 2)))))
        cols += list(rng.integers(first, n, size=int(rng.integers(0, 4))))
        bits[np.minimum(u + rng.integers(0, R, size=len(cols)), p.mask_rows - 1), cols] = True
    dram[-p.mask_rows * n // 8:] = np.packbits(bits, axis=1, bitorder="little").ravel()
    program = [encode(Op.LOAD, buffer=int(b), rows=p.rows(b), cols=n, stride=n)
               for b in (Buffer.ACT, Buffer.WGT)]
    program.append(encode(Op.LOAD, buffer=int(Buffer.MASK), rows=p.mask_rows, cols=n,
                          dram=p.dram_bytes - p.mask_rows * n // 8, stride=n // 8))
    for k in (int(rng.integers(1, p.banks + 1)), int(rng.integers(p.banks, p.wgt_rows + 1))):
        program.append(encode(Op.GEMM_OS, m=p.mask_rows, n=n, k=k, b_t=int(rng.random() < 0.5),
                              init=int(rng.choice([0, 2, 3])), condensed=1))
    _sparse_run(p, program, dram, seed)


@pytest.mark.parametrize("seed,shape", [(24, (3, 5)), (27, (5, 3))])
def test_sparse_gemms_find_the_lists_kept_before(seed, shape):
    """A sparse GEMM over the mask region of the one before it takes the
    list of kept columns that one made instead of scanning again (FC2 after
    FC1), row tile by row tile; an inverted region, or a write into
    ``MASK`` over the region in between (new bits), is scanned again, and a
    write elsewhere in ``MASK`` is not. Every word is the golden model's,
    and every descriptor's cycles the model's, which finds the same lists."""
    print(f"seed {seed}")
    p = ExionParams(**dict(EXION.as_dict(), mask_rows=16, wgt_rows=32, dram_bytes=8192,
                           array_rows=shape[0], array_cols=shape[1]))
    rng = np.random.default_rng(seed)
    dram = random_dram(rng, p)
    mask_bytes = p.mask_rows * p.width // 8
    for part in (1, 2):
        bits = rng.random((p.mask_rows, p.width)) < rng.choice([0.01, 0.05, 0.2])
        dram[-part * mask_bytes:len(dram) - (part - 1) * mask_bytes] = \
            np.packbits(bits, axis=1, bitorder="little").ravel()

    def load_mask(part, row, rows):
        return encode(Op.LOAD, buffer=int(Buffer.MASK), row=row, rows=rows, cols=p.width,
                      dram=p.dram_bytes - part * mask_bytes + row * p.width // 8,
                      stride=p.width // 8)

    m = 2 * p.array_rows - 1                      # two row tiles, the second short
    row, col = int(rng.integers(0, 3)), int(rng.integers(0, 8))
    length = int(rng.integers(p.width // 2, p.width - col + 1))

    def sparse(op, n=None, **kw):
        n, k = (length, int(rng.integers(1, p.wgt_rows + 1))) if op == Op.GEMM_OS else \
            (n or int(rng.integers(1, 12)), length)
        return encode(op, m=m, n=n, k=k, b_t=int(op == Op.GEMM_IS), mask_row=row,
                      mask_col=col, c_col=int(rng.integers(0, p.width - n + 1)),
                      init=int(rng.choice([0, 2, 3])), condensed=int(op == Op.GEMM_OS or
                                                                     rng.random() < 0.5), **kw)

    program = [encode(Op.LOAD, buffer=int(b), rows=p.rows(b), cols=p.width, stride=p.width)
               for b in (Buffer.ACT, Buffer.WGT)]
    program += [load_mask(1, 0, p.mask_rows),
                sparse(Op.GEMM_OS), sparse(Op.GEMM_IS),              # found
                sparse(Op.GEMM_IS, invert=1), sparse(Op.GEMM_OS),    # scanned, scanned
                load_mask(2, row + m + 1, p.mask_rows - row - m - 1),  # elsewhere
                sparse(Op.GEMM_IS, n=1),                            # found
                load_mask(2, row + 1, 1),                           # over it
                sparse(Op.GEMM_IS), sparse(Op.GEMM_OS)]             # scanned, found
    _, _, model = _sparse_run(p, program, dram, seed)
    assert {i: f for i, f in model["found"].items() if any(f)} == \
        {4: [True, True], 8: [True, True], 10: [False, True], 11: [True, True]}


def test_maskgen_at_its_threshold():
    """Accumulators at the threshold, one below and one above, of both signs:
    only those above it are set."""
    seed = 11
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    t = int(rng.integers(-(1 << 30), 1 << 30))
    values = np.array([t - 1, t, t + 1, -t, 0, -1, 1, (1 << 31) - 1, -(1 << 31)] * 3, "<i4")
    dram = np.zeros(EXION.dram_bytes, np.uint8)
    dram[:values.nbytes] = values.view(np.uint8)
    program = gcore.with_tokens([
        encode(Op.LOAD, buffer=Buffer.ACC, row=1, col=2, rows=1, cols=values.size, dram=0,
               stride=values.nbytes),
        *[encode(Op.MASKGEN, src_row=1, src_col=2, dst_row=row, dst_col=col, rows=1,
                 length=values.size, threshold=th % (1 << 32))
          for row, col, th in ((0, 0, t), (1, 3, 0), (2, 5, -1))],
        encode(Op.STORE, buffer=Buffer.MASK, row=0, col=0, rows=3, cols=EXION.width,
               dram=256, stride=EXION.width // 8),
        encode(Op.FINISH)])
    _check(EXION, program, dram, seed)


def test_exion_ffn_reuse_sparse_block():
    """A whole sparse-step block of a small random DiT with FFN-Reuse, on the
    mask and partial the golden model's dense step produced (FC1
    output-sparse, FC2 input-sparse onto the partial, condensed). Nine
    tokens: a chunk of two full row tiles and one of a single row. (The
    dense step, MASKGEN and the cached partial, runs on the RTL in
    ExionCore's sign-off, tests/test_exion_cocotb.py.)"""
    from exdisc.golden import core_compile as cc
    model, x, c, seed = _small_dit(4, image_size=6)
    p = ExionParams(width=64, act_rows=128, wgt_rows=128, acc_rows=256, mask_rows=64,
                    max_len=64, dram_bytes=1 << 14, array_rows=4, array_cols=4, nl_lanes=4)
    gcfg = golden_config(p)
    scales = cc.calibrate(model, 0, x, c)
    dense = cc.compile_block(model, 0, x, c, gcfg, scales, chunk_rows=8,
                             reuse=cc.ReuseStep("dense", threshold=0))
    assert Op.MASKGEN in {Op(w & 0xF) for w in dense.program}
    mask, partial = cc.reuse_outputs(dense, gcore.run(dense.program, dense.dram, gcfg))
    assert 0.1 < mask.mean() < 0.9
    comp = cc.compile_block(model, 0, x, c, gcfg, scales, chunk_rows=8,
                            reuse=cc.ReuseStep("sparse", mask=mask, partial=partial))
    assert {Op.GEMM_OS, Op.GEMM_IS} <= {Op(w & 0xF) for w in comp.program}
    _check(p, comp.program, comp.dram[0], seed)


def _with_error_at(rng, p, program, at):
    """``program`` with a malformed descriptor in place of descriptor ``at``
    (tokens dropped after it, as the core never reaches them)."""
    from exdisc.sim.stimulus.core import random_descriptor
    cfg = golden_config(p)
    while True:
        word = random_descriptor(rng, p, wild_prob=0.3)
        if gcore.validate(cfg, word)[0] != gcore.Error.NONE:
            return program[:at] + [word] + program[at + 1:]


@pytest.mark.parametrize("seed", [8, 9])
def test_malformed_descriptor_stops_the_core(seed):
    """The error and its index as the golden model's; the descriptors before
    it run (every byte of external memory as the golden model leaves it),
    nothing after it."""
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    program = transfer_gemm_program(rng, SMALL, 12, ops=(Op.LOAD, Op.GEMM, Op.STORE))
    program = _with_error_at(rng, SMALL, program, int(rng.integers(4, len(program))))
    dram = random_dram(rng, SMALL)
    want = gcore.run(program, dram, golden_config(SMALL))
    assert want.error not in (gcore.Error.NONE, gcore.Error.DEADLOCK)
    got = run_core(SMALL, program, dram, seed)
    assert (got.error, got.index, got.finished) == (int(want.error), want.index, False)
    assert np.array_equal(got.dram, want.dram[0])


# -- DiscCore's gathers and scatters ------------------------------------------

DISC = DiscParams(**dict(SMALL.as_dict(), dram_bytes=8192), kv_bytes=2048)


@pytest.mark.parametrize("seed", [6, 9])
def test_gathers_and_scatters(seed):
    """Gathers and scatters of every buffer by random index lists (a
    gather's repeating and out of order, a scatter's rising), into and out
    of tables that overlap random loads and stores."""
    print(f"seed {seed}")
    program, dram = indexed_program(np.random.default_rng(seed), DISC, 10)
    assert {Op.GATHER, Op.SCATTER} <= {Op(w & 0xF) for w in program}
    _check(DISC, program, dram, seed)


@pytest.mark.parametrize("seed", [0, 4])
def test_kv_gathers_and_scatters(seed):
    """The K/V store's gathers and scatters through the router (rows of
    ``ACT`` and ``WGT`` by random index lists, random power-of-two strides
    and tables), among external gathers, scatters, loads and stores: every
    buffer word at the end as the golden model's."""
    print(f"seed {seed}")
    program, dram = indexed_program(np.random.default_rng(seed), DISC, 12, kv=True)
    assert {Op.KV_GATHER, Op.KV_SCATTER} <= {Op(w & 0xF) for w in program}
    _check(DISC, program, dram, seed)


@pytest.mark.parametrize("seed,fault,kv", [(7, "range", False), (5, "duplicate", False),
                                           (3, "range", True), (5, "duplicate", True)])
def test_bad_index_list_stops_the_core(seed, fault, kv):
    """A list with an index outside its table, or a scatter's list with a
    repeated index: the core stops with the golden model's code at the
    golden model's descriptor; neither it nor the golden model changes a
    byte of external memory that no other descriptor of the program writes."""
    print(f"seed {seed}")
    program, dram = indexed_program(np.random.default_rng(seed), DISC, 10, fault=fault, kv=kv)
    want = gcore.run(program, dram, golden_config(DISC))
    # with kv, the faulting descriptor is a transfer of the K/V store
    assert not kv or Op(program[want.index] & 0xF) in (Op.KV_GATHER, Op.KV_SCATTER)
    code = gcore.Error.BAD_INDEX if fault == "range" else gcore.Error.DUPLICATE
    assert want.error in (code, gcore.Error.BAD_INDEX)
    got = run_core(DISC, program, dram, seed)
    assert (got.error, got.index, got.finished) == (int(want.error), want.index, False)
    allowed = written_elsewhere(program, want.index, DISC.dram_bytes)
    for name, after in (("RTL", got.dram), ("golden", want.dram[0])):
        changed = np.flatnonzero((after != dram) & ~allowed)
        assert not changed.size, f"{name} changed {changed.size} bytes, first {changed[:8]}"


def test_token_never_given_is_a_deadlock():
    from exdisc.golden.core_isa import Queue, encode, tokens
    program = [encode(Op.LOAD, buffer=0, rows=1, cols=4),
               encode(Op.GEMM, m=1, n=1, k=1, pop=tokens(Queue.VECTOR)),
               encode(Op.STORE, buffer=2, rows=1, cols=1, pop=tokens(Queue.GEMM)),
               encode(Op.FINISH)]
    dram = np.arange(SMALL.dram_bytes, dtype=np.uint8)
    want = gcore.run(program, dram, golden_config(SMALL))
    assert (want.error, want.index) == (gcore.Error.DEADLOCK, 1)
    got = run_core(SMALL, program, dram, 1)
    assert (got.error, got.index, got.finished) == (int(want.error), want.index, False)
    assert np.array_equal(got.dram, want.dram[0])


@pytest.mark.parametrize("depths", [(2, 1), (3, 2), (8, 6)])
def test_shallow_queues_deadlock_where_the_golden_model_does(depths):
    """Loads that each give a store a token, before the stores: with queues
    too shallow for the loads' tokens to find their takers, the decoder and
    the queues stop, and the core reports the same descriptor as the
    golden model (or, where they suffice, both run the program)."""
    from exdisc.golden.core_isa import Queue, encode, tokens
    queue_depth, token_depth = depths
    p = CoreParams(**dict(SMALL.as_dict(), queue_depth=queue_depth, token_depth=token_depth))
    program = [encode(Op.LOAD, buffer=0, row=i, rows=1, cols=4, dram=4 * i,
                      push=tokens(Queue.STORE)) for i in range(6)] + \
              [encode(Op.STORE, buffer=0, row=i, rows=1, cols=4, dram=64 + 4 * i,
                      pop=tokens(Queue.LOAD)) for i in range(6)] + [encode(Op.FINISH)]
    dram = np.arange(p.dram_bytes, dtype=np.uint8)
    want = gcore.run(program, dram, golden_config(p))
    got = run_core(p, program, dram, 2)
    assert (got.error, got.finished) == (int(want.error), want.finished)
    if want.error:
        assert got.index == want.index
    assert np.array_equal(got.dram, want.dram[0])


@pytest.mark.parametrize("seed,shape,kind", [(11, (4, 4, 4, 16), CoreParams),
                                             (12, (8, 4, 2, 3), CoreParams),
                                             (13, (4, 4, 4, 16), ExionParams),
                                             (14, (8, 4, 2, 3), DiscParams)])
def test_cycle_model_times_descriptors_that_do_not_overlap(seed, shape, kind):
    """On random programs of every operation whose descriptors each wait
    for the one before, the cycle model gives every descriptor's start and
    end cycle, and the program's, as the RTL (engines, non-linear widths and
    queue depths of a few sizes; a queue of 3 fills and stops the decoder;
    ExionCore's operations among the others; DiscCore's gathers and
    scatters among loads and stores)."""
    from exdisc.golden import core_cycles
    from exdisc.golden.core_isa import encode
    from exdisc.sim.stimulus.core import random_gemm, random_program, serial
    print(f"seed {seed}")
    rows, cols, lanes, depth = shape
    p = kind(width=64, act_rows=32, wgt_rows=32, acc_rows=64, mask_rows=8, max_len=64,
             dram_bytes=1 << (15 if kind is DiscParams else 14), array_rows=rows,
             array_cols=cols, nl_lanes=lanes, queue_depth=depth)
    timing = core_cycles.Timing(rows=rows, cols=cols, lanes=lanes, banks=p.banks,
                                bus_bytes=p.bus_bytes, nonlinear_latency=nonlinear_latency(p),
                                queue_depth=depth)
    rng = np.random.default_rng(seed)
    program = random_program(rng, p, 16, well_formed=True)
    if p.disc:
        # index lists that pass: the program's own
        program, dram = indexed_program(rng, p, 8)
    if p.exion:
        # random masks first: a sparse GEMM needs its mask rows written (NO_MASK)
        program.insert(0, encode(Op.LOAD, buffer=Buffer.MASK, rows=p.mask_rows, cols=p.width,
                                 stride=p.width // 8))
        for op in (Op.GEMM_IS, Op.GEMM_OS, Op.GEMM_IS):
            program.insert(int(rng.integers(1, len(program) + 1)), random_gemm(rng, p, op))
    program = serial([w for w in program if Op(w & 0xF) != Op.FINISH] + [encode(Op.FINISH)])
    dram = dram if p.disc else random_dram(rng, p)
    # GEMM_IS's cycles depend on the masks it meets
    masks = {i: kept[0] for i, kept in
             gcore.run(program, dram, golden_config(p), check=True).masks.items()}
    assert bool(masks) == p.exion
    got, cycles = timed_run(p, program, dram)
    want = core_cycles.estimate(program, timing, masks)
    assert [(s, e) for *_, s, e in want["schedule"]] == got
    assert want["total"] == cycles


def _kv_core(hash):
    return DiscParams(width=64, act_rows=32, wgt_rows=32, acc_rows=64, mask_rows=8, max_len=64,
                      dram_bytes=1 << 15, array_rows=4, array_cols=4, nl_lanes=4,
                      kv_bytes=4096, kv_hash=hash)


def test_cycle_model_times_kv_transfers_without_bank_conflicts():
    """``KV_GATHER`` and ``KV_SCATTER`` of tokens ``0, 1, ...`` at strides that
    put each column's elements in different banks of the modulo hash (one
    to many groups of rows, groups shorter and longer than their bases'
    read): the cycle model gives every descriptor's cycles."""
    from exdisc.golden import core_cycles
    from exdisc.sim.stimulus.core import serial
    p = _kv_core("modulo")
    dram = np.zeros(p.dram_bytes, np.uint8)
    dram[:4 * 64] = np.arange(64, dtype="<i4").view(np.uint8)
    program = [encode(Op.LOAD, buffer=int(Buffer.ACC), rows=1, cols=64)]
    for rows, cols in ((1, 1), (4, 2), (5, 4), (8, 3), (13, 4), (32, 2), (17, 1)):
        program.append(encode(Op.KV_GATHER, buffer=int(Buffer.ACT), rows=rows, cols=cols,
                              stride=1, limit=64))
        # each column's tokens a stride apart: P * stride <= banks
        program.append(encode(Op.KV_SCATTER, buffer=int(Buffer.WGT), rows=rows, cols=cols,
                              stride=1 << (cols - 1).bit_length(), limit=64))
    program = serial(program + [encode(Op.FINISH)])
    got, cycles = timed_run(p, program, dram)
    want = core_cycles.estimate(program, _timing(p))
    assert [(s, e) for *_, s, e in want["schedule"]] == got
    assert want["total"] == cycles


def test_cycle_model_is_a_bound_on_contended_kv_transfers():
    """Random ``KV_GATHER`` and ``KV_SCATTER`` (random lists, so lanes meet at
    banks) among other transfers, one at a time: every other descriptor
    takes the model's cycles, and each of the K/V store's at least its
    model's; some of them more (the test sees contention)."""
    from exdisc.golden import core_cycles
    from exdisc.sim.stimulus.core import serial
    p = _kv_core("xor")
    program, dram = indexed_program(np.random.default_rng(21), p, 10, kv=True)
    program = serial([w for w in program if Op(w & 0xF) != Op.FINISH] + [encode(Op.FINISH)])
    got, _ = timed_run(p, program, dram)
    want = core_cycles.estimate(program, _timing(p))
    late = 0
    for (i, _, name, start, end), (s, e) in zip(want["schedule"], got):
        if name in ("KV_GATHER", "KV_SCATTER"):
            assert e - s >= end - start, (i, name)
            late += e - s > end - start
        else:
            assert e - s == end - start, (i, name)
    assert late


def _timing(p):
    from exdisc.golden import core_cycles
    return core_cycles.Timing(rows=p.array_rows, cols=p.array_cols, lanes=p.nl_lanes,
                              banks=p.banks, bus_bytes=p.bus_bytes,
                              nonlinear_latency=nonlinear_latency(p), queue_depth=p.queue_depth)


@pytest.mark.parametrize("depth", [1, 3])
def test_cycle_model_times_the_decoder_behind_a_full_queue(depth):
    """GEMMs fill their queue, so the decoder waits and a LOAD behind them
    (independent of them) starts late: the model gives its cycles."""
    from exdisc.golden import core_cycles
    from exdisc.golden.core_isa import Buffer, encode
    p = CoreParams(**dict(SMALL.as_dict(), queue_depth=depth))
    program = [encode(Op.GEMM, m=4, n=4, k=8)] * 6 + [
        encode(Op.LOAD, buffer=int(Buffer.ACC), row=8, rows=2, cols=8, stride=32),
        encode(Op.FINISH)]
    got, cycles = timed_run(p, program)
    want = core_cycles.estimate(program, core_cycles.Timing(
        rows=4, cols=4, lanes=4, banks=p.banks, bus_bytes=p.bus_bytes, queue_depth=depth))
    assert [(s, e) for *_, s, e in want["schedule"]] == got
    assert got[6][0] > 7 * core_cycles.DECODE_CYCLES        # the LOAD waited for room
    assert want["total"] == cycles
