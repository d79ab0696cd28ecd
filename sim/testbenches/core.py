"""cocotb sign-off of :class:`exdisc.hw.core.core.Core` on its emitted Verilog:
programs in, external memory served by :class:`~exdisc.sim.host.memory.ExternalMemory`
with random gaps and backpressure on all four outside streams, and every
byte of external memory afterwards compared with the golden core model
(:func:`exdisc.golden.core.run`)."""

import dataclasses

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly

from exdisc.golden import core as gcore, core_compile as cc, trace
from exdisc.golden.core_isa import Op
from exdisc.hw.core.isa import Error
from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import Tick, cycle_now, reset, start_clock, test_rng
from exdisc.sim.host.memory import ExternalMemory
from exdisc.sim.stimulus.core import (golden_config, random_dram, transfer_gemm_program,
                                      written_elsewhere)

__all__ = ["run_program", "check_program", "window", "trace_block", "trace_reuse_steps",
           "trace_ctr_steps", "trace_st_steps", "st_theta", "chunk_rows", "reuse_threshold"]

#: Cycles the core may stay busy after an error before the test stops waiting.
SETTLE = 2000
#: Bits of the error code, below its index in ``error``.
CODE_BITS = Error.as_shape().width


def window(p):
    """The corner of ``p``'s buffers the random programs use."""
    return dataclasses.replace(p, width=min(p.width, 32), act_rows=min(p.act_rows, 16),
                               wgt_rows=min(p.wgt_rows, 16), acc_rows=min(p.acc_rows, 16),
                               mask_rows=min(p.mask_rows, 8), max_len=min(p.max_len, 32))


def chunk_rows(tokens):
    """The compiler's row chunks for a block of ``tokens``: 8, so that a
    small block's row-wise operations overlap; from 128 tokens on, the
    compiler's 64 (more chunks give more tokens than the queues hold)."""
    return 8 if tokens <= 64 else 64


def trace_block(p, tokens=16, layer=1, step=3, eager=False):
    """Block ``layer`` of the project's DiT at sampling step ``step`` of the
    recorded run, on its first ``tokens`` tokens, compiled for ``p``; with
    ``eager``, its attention under eager prediction's masks (ExionCore)."""
    x, c = trace.block_input(step=step, layer=layer)
    x, c = x[:1, :tokens], c[:1]
    return cc.compile_block(trace.model(), layer, x, c, golden_config(p),
                            chunk_rows=chunk_rows(tokens), masks=_eager(layer, x, c, eager))


def _eager(layer, x, c, eager):
    """Eager prediction's :class:`~exdisc.golden.core_compile.MaskStep` on
    the block input ``x``, ``c``: None without ``eager``; ``True`` for the
    predictor's default settings, else an
    :class:`~exdisc.golden.eager.EagerPrediction` with others."""
    if eager is False or eager is None:
        return None
    predictor = None if eager is True else eager
    return cc.MaskStep(keep=cc.eager_masks(trace.model(), layer, x, c, predictor))


def trace_reuse_steps(p, tokens=16, layer=1, step=3, threshold=0, sparse=True, eager=False):
    """FFN-Reuse on block ``layer`` of the recorded run, compiled for
    ExionCore ``p``: the dense step at sampling step ``step`` (FC1's
    accumulators above ``threshold`` recomputed; 0 is GELU's sign) and the
    sparse step at ``step + 1`` on the mask and cached partial the golden
    core model's dense step leaves, with the dense step's scales (without
    ``sparse``: None). With ``eager`` (``True`` or an
    :class:`~exdisc.golden.eager.EagerPrediction`), EXION's steps: each
    also attends under eager prediction's masks on its own input."""
    cfg, model = golden_config(p), trace.model()
    x, c = trace.block_input(step=step, layer=layer)
    x, c = x[:1, :tokens], c[:1]
    scales = cc.calibrate(model, layer, x, c)
    dense = cc.compile_block(model, layer, x, c, cfg, scales, chunk_rows=8,
                             reuse=cc.ReuseStep("dense", threshold=threshold),
                             masks=_eager(layer, x, c, eager))
    if not sparse:
        return dense, None
    mask, partial = cc.reuse_outputs(dense, gcore.run(dense.program, dense.dram, cfg))
    x, c = trace.block_input(step=step + 1, layer=layer)
    x, c = x[:1, :tokens], c[:1]
    sparse = cc.compile_block(model, layer, x, c, cfg, scales, chunk_rows=8,
                              reuse=cc.ReuseStep("sparse", mask=mask, partial=partial),
                              masks=_eager(layer, x, c, eager))
    return dense, sparse


def trace_ctr_steps(p, tokens=16, layer=1, step=3):
    """CTR on block ``layer`` of the recorded run, compiled for DiscCore
    ``p``: the full step at sampling step ``step`` (every token computed,
    the token cache filled) and the reuse step at ``step + 1`` on the cache
    the golden core model's full step leaves, with the full step's scales
    and the float CTR's choice at ``step + 1``
    (:func:`exdisc.golden.trace.ctr_steps`): on the first ``tokens``, those
    its scores rank most changed, as many as its share of fresh tokens over
    all 256 (the first tokens alone may hold more or fewer)."""
    cfg, model = golden_config(p), trace.model()
    x, c = trace.block_input(step=step, layer=layer)
    full = cc.compile_block(model, layer, x[:1, :tokens], c[:1], cfg,
                            chunk_rows=chunk_rows(tokens), tokens=cc.TokenStep())
    k, v, out = cc.token_cache(full, gcore.run(full.program, full.dram, cfg))
    _, _, _, chosen, score = trace.ctr_steps()[step + 1]
    # CTR reuses the lowest scores: the window's highest are fresh
    count = max(1, int(round(chosen.mean() * tokens)))
    fresh = np.zeros((1, tokens), bool)
    fresh[0, np.argsort(-np.asarray(score[:tokens]), kind="stable")[:count]] = True
    x, c = trace.block_input(step=step + 1, layer=layer)
    reuse = cc.compile_block(model, layer, x[:1, :tokens], c[:1], cfg, full.scales,
                             chunk_rows=chunk_rows(tokens),
                             tokens=cc.TokenStep(fresh=fresh, k=k, v=v, out=out))
    return full, reuse


def st_theta(tokens, theta=1e-3):
    """ST's threshold for a block of ``tokens`` of the DiT's 256 tokens: the
    same share of a uniform row's probability as ``theta`` is of 1/256 (a
    row of fewer tokens has larger probabilities; 1e-3 would keep them all)."""
    return theta * 256 / tokens


def trace_st_steps(p, tokens=16, layer=1, step=3, theta=None, gather_below=None):
    """ST on block ``layer`` of the recorded run, compiled for DiscCore
    ``p``: the generate step at sampling step ``step`` (the dense block,
    storing its keep masks at ``theta``, default :func:`st_theta`) and the
    reuse step at ``step + 1`` under the masks the golden core model's
    generate step leaves, with the generate step's scales (``gather_below``:
    :class:`~exdisc.golden.core_compile.MaskStep`'s, default its default)."""
    cfg, model = golden_config(p), trace.model()
    theta = st_theta(tokens) if theta is None else theta
    x, c = trace.block_input(step=step, layer=layer)
    gen = cc.compile_block(model, layer, x[:1, :tokens], c[:1], cfg,
                           chunk_rows=chunk_rows(tokens), theta=theta, masks=cc.MaskStep())
    keep = cc.keep_masks(gen, gcore.run(gen.program, gen.dram, cfg))
    x, c = trace.block_input(step=step + 1, layer=layer)
    reuse = cc.compile_block(model, layer, x[:1, :tokens], c[:1], cfg, gen.scales,
                             chunk_rows=chunk_rows(tokens), theta=theta,
                             masks=cc.MaskStep(keep=keep, gather_below=cc.GATHER_BELOW
                                               if gather_below is None else gather_below))
    return gen, reuse, keep


def reuse_threshold(p, sparsity, tokens=16, layer=1, step=3):
    """FFN-Reuse's quantile policy (:class:`exdisc.golden.ffn_reuse.FFNReuse`)
    on the golden core model: ``threshold``, the integer that FC1's
    accumulators (the dense step of :func:`trace_reuse_steps`) exceed at a
    share of ``1 - sparsity``; FC1's measured sparsity at it
    (``fc1_sparsity``) and at 0, GELU's sign (``fc1_sparsity_tau0``); and of
    its mask, the share of the engine's row tiles' columns
    (``columns_kept``) and of its ``R x C`` tiles (``tiles_kept``) that hold
    a set bit."""
    dense, _ = trace_reuse_steps(p, tokens, layer, step, threshold=0, sparse=False)
    acc = cc.fc1_accumulators(dense, gcore.run(dense.program, dense.dram, golden_config(p)))
    # GELU rises where the quantile lies (it is positive), so a threshold on
    # the accumulators keeps the same elements as the policy's on GELU's output
    threshold = int(np.quantile(acc.reshape(-1), sparsity, method="lower"))
    mask = acc[0] > threshold
    R, C = p.array_rows, p.array_cols
    pad = np.zeros((-mask.shape[0] % R + mask.shape[0], -mask.shape[1] % C + mask.shape[1]),
                   bool)
    pad[:mask.shape[0], :mask.shape[1]] = mask
    columns = pad.reshape(pad.shape[0] // R, R, -1).any(axis=1)
    return {"threshold": threshold, "fc1_sparsity": float(1 - mask.mean()),
            "fc1_sparsity_tau0": float(1 - (acc > 0).mean()),
            "columns_kept": float(columns[:, :mask.shape[1]].mean()),
            "tiles_kept": float(columns.reshape(columns.shape[0], -1, C).any(axis=2).mean())}


async def run_program(dut, p, program, dram, rng, *, valid_prob=0.7, ready_prob=0.7,
                      max_cycles=5_000_000, watch=None):
    """Run ``program`` on the core with external memory ``dram``; returns
    ``(memory, error code, error index, finished, cycles)``, ``cycles`` the
    cycle, counted from the end of reset, in which the core was seen to
    finish or stop: the convention of the descriptors' end cycles and of
    the cycle model's total. ``watch(cycle)``, if given, is called in every
    cycle's read-only phase with the same count."""
    tick = Tick(dut)
    host = ExternalMemory(dram, p.bus_bytes)
    for name in ("descriptors", "load_data"):
        getattr(dut, f"{name}__valid").value = 0
    for name in ("load_cmd", "store_cmd", "store_data"):
        getattr(dut, f"{name}__ready").value = 0
    await reset(dut)
    start = cycle_now()
    todo = [int(w) for w in program]
    offered = None
    error_for = 0
    for _ in range(max_cycles):
        # drive, just after the edge
        if offered is None and todo and rng.random() < valid_prob:
            offered = todo.pop(0)
        # a payload not offered is random bits
        dut.descriptors__valid.value = int(offered is not None)
        dut.descriptors__payload.value = (offered if offered is not None else
                                          rng.getrandbits(len(dut.descriptors__payload)))
        beat = host.next_load_beat()
        load_offer = beat is not None and rng.random() < valid_prob
        dut.load_data__valid.value = int(load_offer)
        dut.load_data__payload.value = (beat if load_offer else
                                        rng.getrandbits(len(dut.load_data__payload)))
        readies = {n: rng.random() < ready_prob for n in ("load_cmd", "store_cmd", "store_data")}
        for n, r in readies.items():
            getattr(dut, f"{n}__ready").value = int(r)
        # sample, before the next edge
        await ReadOnly()
        now = cycle_now() - start
        if watch is not None:
            watch(now)
        if offered is not None and dut.descriptors__ready.value:
            offered = None
        if load_offer and dut.load_data__ready.value:
            host.load_beat_taken()
        for n, take in (("load_cmd", host.load_command), ("store_cmd", host.store_command)):
            if readies[n] and getattr(dut, f"{n}__valid").value:
                cmd = getattr(dut, f"{n}__payload").value.to_unsigned()
                take(cmd & 0xFFFFFFFF, cmd >> 32)
        if readies["store_data"] and dut.store_data__valid.value:
            host.store_beat(dut.store_data__payload.value.to_unsigned())
        finished = bool(dut.finished.value)
        error = dut.error.value.to_unsigned()
        code, index = error & ((1 << CODE_BITS) - 1), error >> CODE_BITS
        error_for = error_for + 1 if code else 0
        done = finished or error_for > (50 if not dut.busy.value else SETTLE)
        await tick()
        if done:
            return host.mem, code, index, finished, now
    raise AssertionError(f"the program did not finish within {max_cycles} cycles")


async def check_program(dut, p, program, dram, rng, seed, what):
    """Run ``program`` and compare its error, its index and every byte of
    external memory with the golden core model's; returns the cycles."""
    want = gcore.run(program, dram, golden_config(p))
    mem, code, index, finished, cycles = await run_program(dut, p, program, dram, rng)
    assert (code, finished) == (int(want.error), want.finished), \
        f"{what}: error {code} finished {finished}, golden {want.error!r} (seed {seed})"
    if want.error:
        assert index == want.index, f"{what}: error index {index} != {want.index} (seed {seed})"
    if want.error in (gcore.Error.BAD_INDEX, gcore.Error.DUPLICATE):
        # found as it ran: what the other queues had started is timing's, so
        # only the bytes no other descriptor writes are compared, and neither
        # run may have changed them
        keep = ~written_elsewhere(program, want.index, len(dram))
        for name, after in (("RTL", mem), ("golden model", want.dram[0])):
            changed = np.flatnonzero((after != dram) & keep)
            assert not changed.size, (f"{what}: the {name} changed {changed.size} bytes no "
                                      f"other descriptor writes, first at "
                                      f"{changed[:8].tolist()} (seed {seed})")
        dut._log.info("%s: stopped at descriptor %d with %s, as the golden model", what,
                      index, want.error.name)
        return cycles
    bad = np.flatnonzero(mem != want.dram[0])
    assert not bad.size, (f"{what}: {bad.size} bytes of external memory differ from the golden "
                          f"model, first at {bad[:8].tolist()} (seed {seed})")
    dut._log.info("%s: %d descriptors, %d cycles, every byte as the golden model's",
                  what, len(program), cycles)
    return cycles


@cocotb.test()
async def core_random(dut):
    """Random loads, GEMMs and stores in a corner of the buffers, which are
    then stored whole: every word written is compared."""
    _, p = design_params()
    rng, seed = test_rng(dut._log, "core-random")
    await start_clock(dut)
    nprng = np.random.default_rng(seed)
    for n in range(3):
        program = transfer_gemm_program(nprng, p, 16, ops=(Op.LOAD, Op.GEMM, Op.GEMM, Op.STORE),
                                        window=window(p))
        await check_program(dut, p, program, random_dram(nprng, dataclasses.replace(
            window(p), dram_bytes=p.dram_bytes)), rng, seed, f"random program {n}")


@cocotb.test()
async def core_malformed(dut):
    """A malformed descriptor: the error and its index, the descriptors
    before it run, none after it."""
    from exdisc.sim.stimulus.core import random_descriptor
    _, p = design_params()
    rng, seed = test_rng(dut._log, "core-malformed")
    await start_clock(dut)
    nprng = np.random.default_rng(seed)
    view = window(p)
    program = transfer_gemm_program(nprng, p, 12, window=view)
    cfg = golden_config(p)
    while True:
        bad = random_descriptor(nprng, p, wild_prob=0.3)
        if gcore.validate(cfg, bad)[0] != gcore.Error.NONE:
            break
    at = int(nprng.integers(6, len(program)))
    program = program[:at] + [bad] + program[at + 1:]
    await check_program(dut, p, program, random_dram(nprng, dataclasses.replace(
        view, dram_bytes=p.dram_bytes)), rng, seed, f"malformed descriptor at {at}")


@cocotb.test()
async def core_dit_block(dut):
    """A block of the project's DiT from the recorded sampling run (16
    tokens), compiled: every operation of the core on real data."""
    _, p = design_params()
    rng, seed = test_rng(dut._log, "core-dit")
    await start_clock(dut)
    comp = trace_block(p)
    await check_program(dut, p, comp.program, comp.dram[0], rng, seed, "DiT block (16 tokens)")
