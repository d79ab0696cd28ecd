"""The core's descriptor format, golden core model and block compiler."""

import pathlib
import re

import numpy as np
import pytest

from exdisc.golden import core, core_compile as cc, core_isa, nonlinear as nl, trace
from exdisc.golden.core import CoreConfig, Error, Queue
from exdisc.golden.core_isa import (DESCRIPTOR_BITS, FIELDS, QUEUE_OF, Buffer, Fn, Init, Op,
                                    decode, encode, tokens)
from exdisc.golden.dit import DiT
from exdisc.golden.dit_config import DiTConfig

SEED = 20261206
REVERSED = tuple(reversed(Queue))
L, G, V, S = (tokens(q) for q in Queue)


def _rng(request):
    seed = SEED + sum(map(ord, request.node.name))
    print(f"seed {seed}")
    return np.random.default_rng(seed)


# -- the descriptor format --
def test_fields_fit_and_round_trip(request):
    rng = _rng(request)
    for op, fields in FIELDS.items():
        assert 12 + sum(bits for _, bits in fields) <= DESCRIPTOR_BITS
        for _ in range(20):
            values = {name: int(rng.integers(0, 1 << bits)) for name, bits in fields}
            masks = {name: int(rng.integers(0, 16)) for name in ("pop", "push")}
            word = encode(op, **values, **masks)
            assert word < 1 << DESCRIPTOR_BITS
            got_op, got = decode(word)
            assert got_op == op and got == {**values, **masks}


def test_encode_rejects_bad_fields():
    with pytest.raises(ValueError, match=r"GEMM.m: expected an integer in \[0, 511\], got 512"):
        encode(Op.GEMM, m=512)
    with pytest.raises(ValueError, match="LOAD: no field 'fn'"):
        encode(Op.LOAD, fn=1)
    with pytest.raises(ValueError, match="op: expected one of"):
        encode(15)
    with pytest.raises(TypeError, match="SET.mult: expected an integer, got 1.5"):
        encode(Op.SET, mult=1.5)
    with pytest.raises(ValueError, match="descriptor: expected a 128-bit"):
        decode(1 << 128)


def test_config_validation():
    with pytest.raises(ValueError, match=r"width: expected an integer in \[8, 511\], got 600"):
        CoreConfig(width=600)
    with pytest.raises(TypeError, match="act_rows: expected an integer, got 2.0"):
        CoreConfig(act_rows=2.0)
    with pytest.raises(ValueError, match="max_len"):
        CoreConfig(width=64, max_len=128)
    with pytest.raises(ValueError, match="kv_bytes: expected a power of two, got 3000"):
        CoreConfig(kv_bytes=3000)
    with pytest.raises(ValueError, match=r"kv_bytes: expected an integer in \[64, 65536\], got 32"):
        CoreConfig(kv_bytes=32)


# -- programs by hand, against NumPy --
CFG = CoreConfig(width=32, act_rows=64, wgt_rows=64, acc_rows=64, mask_rows=16, max_len=32,
                 dram_bytes=1 << 14)


def _finish(words):
    return words + [encode(Op.FINISH)]


def _dram(rng, samples=2):
    return rng.integers(0, 256, (samples, CFG.dram_bytes), dtype=np.uint8)


def test_load_store_every_buffer(request):
    rng = _rng(request)
    dram = _dram(rng)
    prog, stores = [], []
    for n, (buf, cols, nbytes) in enumerate(((Buffer.ACT, 13, 13), (Buffer.WGT, 7, 7),
                                              (Buffer.ACC, 5, 20), (Buffer.MASK, 16, 2))):
        src, dst = 1000 * n, 8000 + 1000 * n
        prog += [encode(Op.LOAD, buffer=buf, row=3, col=8, rows=4, cols=cols, dram=src,
                        stride=nbytes + 3, push=G),
                 encode(Op.GEMM, m=1, n=1, k=1, pop=L, push=S),
                 encode(Op.STORE, buffer=buf, row=3, col=8, rows=4, cols=cols, dram=dst,
                        stride=nbytes, pop=G)]
        stores.append((src, dst, nbytes))
    r = core.run(_finish(prog), dram, CFG, check=True)
    assert r.finished
    for src, dst, nbytes in stores:
        for row in range(4):
            np.testing.assert_array_equal(r.dram[:, dst + row * nbytes:dst + (row + 1) * nbytes],
                                          dram[:, src + row * (nbytes + 3):][:, :nbytes])


def _put(dram, addr, values, dtype):
    raw = np.ascontiguousarray(values.astype(dtype)).view(np.uint8).reshape(dram.shape[0], -1)
    dram[:, addr:addr + raw.shape[1]] = raw


def _get(dram, addr, shape, dtype):
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return dram[:, addr:addr + n].copy().view(dtype).reshape(dram.shape[0], *shape)


@pytest.mark.parametrize("b_t", [0, 1])
@pytest.mark.parametrize("init", [Init.ZERO, Init.BIAS, Init.ACCUMULATE])
def test_gemm(request, b_t, init):
    rng = _rng(request)
    dram = np.zeros((2, CFG.dram_bytes), np.uint8)
    m, n, k = 9, 6, 21
    a = rng.integers(-127, 128, (2, m, k))
    b = rng.integers(-127, 128, (2, n, k) if b_t else (2, k, n))
    c0 = rng.integers(-(1 << 31), 1 << 31, (2, m, n))
    bias = rng.integers(-(1 << 31), 1 << 31, (2, 1, n))
    for addr, v, t in ((0, a, np.int8), (1000, b, np.int8), (2000, c0, "<i4"), (3000, bias, "<i4")):
        _put(dram, addr, v, t)
    prog = [encode(Op.LOAD, buffer=Buffer.ACT, row=2, col=3, rows=m, cols=k, dram=0, stride=k),
            encode(Op.LOAD, buffer=Buffer.WGT, row=5, col=1, rows=b.shape[1], cols=b.shape[2],
                   dram=1000, stride=b.shape[2]),
            encode(Op.LOAD, buffer=Buffer.ACC, row=7, col=4, rows=m, cols=n, dram=2000,
                   stride=4 * n),
            encode(Op.LOAD, buffer=Buffer.ACC, row=40, col=4, rows=1, cols=n, dram=3000,
                   stride=4 * n, push=G),
            encode(Op.GEMM, a_row=2, a_col=3, b_row=5, b_col=1, b_t=b_t, c_row=7, c_col=4,
                   m=m, n=n, k=k, init=init, bias_row=40, pop=L, push=S),
            encode(Op.STORE, buffer=Buffer.ACC, row=7, col=4, rows=m, cols=n, dram=5000,
                   stride=4 * n, pop=G)]
    r = core.run(_finish(prog), dram, CFG, check=True)
    bb = b.swapaxes(1, 2) if b_t else b
    want = a @ bb + {Init.ZERO: 0, Init.BIAS: bias, Init.ACCUMULATE: c0}[init]
    want = (want + (1 << 31)) % (1 << 32) - (1 << 31)
    np.testing.assert_array_equal(_get(r.dram, 5000, (m, n), "<i4"), want)


def test_add_and_nonlinear_plumbing(request):
    """ADD's gates and saturation; softmax's mask and row scales reaching a
    row-scaled requantize; LayerNorm with loaded gains and biases."""
    rng = _rng(request)
    dram = np.zeros((2, CFG.dram_bytes), np.uint8)
    rows, n = 5, 12
    x = rng.integers(-(1 << 20), 1 << 20, (2, rows, n))
    src = rng.integers(-(1 << 31), 1 << 31, (2, rows, n))
    gate = rng.integers(-(1 << 18), 1 << 18, (2, 1, n))     # beyond 18 bits: low bits used
    gain = rng.integers(-(1 << 20), 1 << 20, (2, 1, n))     # low 16 bits used
    bias = rng.integers(-(1 << 20), 1 << 20, (2, 1, n))
    for addr, v in ((0, x), (1000, src), (2000, gate), (2100, gain), (2200, bias)):
        _put(dram, addr, v, "<i4")
    load = lambda row, rws, addr: encode(Op.LOAD, buffer=Buffer.ACC, row=row, col=0, rows=rws,
                                         cols=n, dram=addr, stride=4 * n)
    nlw = lambda fn, **f: encode(Op.NONLINEAR, fn=fn, length=n, **f)
    prog = [load(0, rows, 0), load(10, rows, 1000), load(20, 1, 2000), load(21, 1, 2100),
            encode(Op.LOAD, buffer=Buffer.ACC, row=22, col=0, rows=1, cols=n, dram=2200,
                   stride=4 * n, push=V),
            encode(Op.SET, mult=40000, shift=20, mult2=50000, shift2=22, theta=1 << 26, pre=3,
                   pop=L),
            nlw(Fn.SOFTMAX, src_row=0, dst_buffer=Buffer.ACT, dst_row=0, rows=rows, aux_row=4),
            nlw(Fn.REQUANT, src_row=10, dst_buffer=Buffer.WGT, dst_row=0, rows=rows,
                row_scale=1, aux_row=4),
            nlw(Fn.LOAD_GAIN, src_row=21, rows=1), nlw(Fn.LOAD_BIAS, src_row=22, rows=1),
            nlw(Fn.LAYERNORM, src_row=0, dst_buffer=Buffer.WGT, dst_row=8, rows=rows),
            encode(Op.ADD, dst_row=0, src_row=10, gate_row=20, rows=rows, length=n, shift=9,
                   push=S)]
    stores = [(Buffer.ACT, 0, rows, n, 3000), (Buffer.WGT, 0, rows, n, 3100),
              (Buffer.WGT, 8, rows, n, 3200), (Buffer.ACC, 0, rows, n, 3300),
              (Buffer.MASK, 4, rows, 16, 3600)]
    for i, (buf, row, rws, cols, addr) in enumerate(stores):
        nbytes = {Buffer.ACC: 4 * cols, Buffer.MASK: cols // 8}.get(buf, cols)
        prog.append(encode(Op.STORE, buffer=buf, row=row, col=0, rows=rws, cols=cols, dram=addr,
                           stride=nbytes, pop=V if i == 0 else 0))
    r = core.run(_finish(prog), dram, CFG, check=True)
    p, keep, rm, rs = nl.softmax(x, 40000, 20, 50000, 22, 1 << 26)
    np.testing.assert_array_equal(_get(r.dram, 3000, (rows, n), np.int8), p)
    np.testing.assert_array_equal(_get(r.dram, 3100, (rows, n), np.int8),
                                  nl.requantize(src, rm[..., None], rs[..., None]))
    g16 = (gain + (1 << 15)) % (1 << 16) - (1 << 15)
    np.testing.assert_array_equal(_get(r.dram, 3200, (rows, n), np.int8),
                                  nl.layer_norm(x, 3, g16, bias, 22))
    g18 = (gate + (1 << 17)) % (1 << 18) - (1 << 17)
    np.testing.assert_array_equal(_get(r.dram, 3300, (rows, n), "<i4"),
                                  nl.saturate(x + nl.rshift_round(src * g18, 9), 32))
    bits = np.unpackbits(_get(r.dram, 3600, (rows, 2), np.uint8), axis=-1, bitorder="little")
    np.testing.assert_array_equal(bits[..., :n].astype(bool), keep)
    assert not bits[..., n:].any()


# -- malformed programs --
GOOD_STORE = encode(Op.STORE, buffer=Buffer.ACT, rows=1, cols=4, dram=0, stride=4)
BAD = {
    "unknown op": (encode(Op.FINISH) | 9, Error.BAD_OP),
    "unknown function": (encode(Op.NONLINEAR, fn=6, rows=1, length=4), Error.BAD_OP),
    "load pops its own queue": (encode(Op.LOAD, buffer=0, rows=1, cols=1, pop=L | G),
                                Error.BAD_TOKEN),
    "add pushes to its own queue": (encode(Op.ADD, rows=1, length=1, push=V), Error.BAD_TOKEN),
    "softmax into ACC": (encode(Op.NONLINEAR, fn=Fn.SOFTMAX, dst_buffer=Buffer.ACC, rows=1,
                                length=4), Error.BAD_BUFFER),
    "rows past the buffer": (encode(Op.GEMM, a_row=60, m=5, n=1, k=1), Error.BAD_RANGE),
    "columns past the row": (encode(Op.ADD, dst_col=30, rows=1, length=4), Error.BAD_RANGE),
    "store past the memory": (encode(Op.STORE, buffer=Buffer.ACC, rows=2, cols=4,
                                     dram=(1 << 14) - 20, stride=16), Error.BAD_RANGE),
    "zero rows": (encode(Op.LOAD, buffer=0, rows=0, cols=4), Error.BAD_SHAPE),
    "row longer than the unit's": (encode(Op.NONLINEAR, fn=Fn.GELU, rows=1, length=33),
                                   Error.BAD_SHAPE),
    "unknown init": (encode(Op.GEMM, m=1, n=1, k=1, init=3), Error.BAD_SHAPE),
    "gain load of two rows": (encode(Op.NONLINEAR, fn=Fn.LOAD_GAIN, rows=2, length=4),
                              Error.BAD_SHAPE),
    "mask not on a byte": (encode(Op.LOAD, buffer=Buffer.MASK, col=4, rows=1, cols=8),
                           Error.BAD_SHAPE),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_descriptor(request, case):
    """The error names the descriptor, nothing after it runs, what came before does."""
    rng = _rng(request)
    word, error = BAD[case]
    dram = _dram(rng)
    prog = [encode(Op.LOAD, buffer=Buffer.ACT, rows=1, cols=4, dram=100, stride=4,
                   push=V),
            encode(Op.SET, pop=L, push=S),
            encode(Op.STORE, buffer=Buffer.ACT, rows=1, cols=4, dram=200, stride=4, pop=V),
            word, encode(Op.STORE, buffer=Buffer.ACT, rows=1, cols=4, dram=300, stride=4)]
    r = core.run(_finish(prog), dram, CFG)
    assert (r.error, r.index, r.finished) == (error, 3, False)
    want = dram.copy()
    want[:, 200:204] = dram[:, 100:104]
    np.testing.assert_array_equal(r.dram, want)
    with pytest.raises(core.CoreError, match=f"descriptor 3: {error.name}"):
        core.run(_finish(prog), dram, CFG, check=True)


def test_deadlock_names_the_waiting_descriptor():
    prog = [encode(Op.SET), encode(Op.STORE, buffer=0, rows=1, cols=1, pop=V),
            encode(Op.FINISH)]
    r = core.run(prog, np.zeros(CFG.dram_bytes, np.uint8), CFG)
    assert (r.error, r.index, r.finished) == (Error.DEADLOCK, 1, False)
    # without FINISH the core is still waiting for the rest of its program
    r = core.run(prog[:2], np.zeros(CFG.dram_bytes, np.uint8), CFG)
    assert (r.error, r.finished) == (Error.NONE, False)


def test_with_tokens_orders_every_conflict(request):
    """Tokens from footprints: a program without any gets those it needs
    (its result under every priority is its program-order meaning), and the
    tokens of a compiled block are already exactly those."""
    rng = _rng(request)
    dram = _dram(rng)
    bare = [encode(Op.LOAD, buffer=Buffer.ACT, rows=1, cols=4, dram=0, stride=4),
            encode(Op.LOAD, buffer=Buffer.WGT, rows=4, cols=4, dram=100, stride=4),
            encode(Op.GEMM, m=1, n=4, k=4),
            encode(Op.STORE, buffer=Buffer.ACC, rows=1, cols=4, dram=500, stride=16),
            encode(Op.LOAD, buffer=Buffer.ACT, rows=1, cols=4, dram=200, stride=4),
            encode(Op.GEMM, m=1, n=4, k=4, init=Init.ACCUMULATE),
            encode(Op.STORE, buffer=Buffer.ACC, rows=1, cols=4, dram=600, stride=16)]
    program = _finish(core.with_tokens(bare))
    want = core.run(_finish(bare), dram, CFG, order="program").dram
    for order in (tuple(Queue), REVERSED):
        r = core.run(program, dram, CFG, order=order, check=True)
        assert r.finished and np.array_equal(r.dram, want)
    # the second load waits for the first GEMM (it overwrites A), the store
    # after it for the second GEMM only
    assert decode(program[4])[1]["pop"] == tokens(Queue.GEMM)
    assert decode(program[6])[1]["pop"] == tokens(Queue.GEMM)
    x, c = trace.block_input(step=3, layer=0)
    comp = cc.compile_block(trace.model(), 0, x[:1], c[:1])
    assert core.with_tokens(comp.program) == comp.program


def test_missing_token_shows_as_order_dependence(request):
    """A store without its token may run before the compute it needs: the two
    queue orders then disagree, which is how the block tests find a race."""
    rng = _rng(request)
    dram = _dram(rng)
    prog = [encode(Op.LOAD, buffer=Buffer.ACT, rows=1, cols=4, dram=0, stride=4, push=G),
            encode(Op.LOAD, buffer=Buffer.WGT, rows=4, cols=4, dram=100, stride=4),
            encode(Op.GEMM, m=1, n=4, k=4, pop=L),
            encode(Op.STORE, buffer=Buffer.ACC, rows=1, cols=4, dram=500, stride=16)]
    a = core.run(_finish(prog), dram, CFG).dram
    b = core.run(_finish(prog), dram, CFG, order=REVERSED).dram
    assert not np.array_equal(a, b)


# -- the compiled DiT block --
def test_block_on_a_small_model(request):
    """A small random DiT: the program fits a small core, both queue orders
    agree, and the output is the float block's within the quantization."""
    rng = _rng(request)
    cfg = DiTConfig(image_size=8, patch=2, hidden=16, depth=2, heads=2)
    model = DiT.random(cfg, seed=int(rng.integers(1 << 16)), std=0.3)
    x = rng.standard_normal((3, cfg.tokens, cfg.hidden)).astype(np.float32)
    c = rng.standard_normal((3, cfg.hidden)).astype(np.float32)
    small = CoreConfig(width=64, act_rows=64, wgt_rows=128, acc_rows=128, mask_rows=32,
                       max_len=64, dram_bytes=1 << 13)
    comp = cc.compile_block(model, 1, x, c, small)
    r = core.run(comp.program, comp.dram, small, check=True)
    assert r.finished
    assert np.array_equal(r.dram, core.run(comp.program, comp.dram, small, order=REVERSED).dram)
    ref = cc.float_block(model, 1, x, c)
    out = cc.block_output(comp, r)
    err = np.linalg.norm(out - ref["x_out"]) / np.linalg.norm(ref["x_out"] - x)
    print(f"relative error of the block's update: {err:.4f}")
    assert err < 0.05


@pytest.mark.parametrize("layer", [0, 3])
def test_dit_block_against_the_float_block(layer):
    """The project's DiT at full shape on a recorded block input: the block's
    update (output minus input) within 3 % (relative, L2) of the float
    block's; three queue priorities and program order agree word for word."""
    x, c = trace.block_input(step=3, layer=layer)
    model = trace.model()
    comp = cc.compile_block(model, layer, x, c)
    r = core.run(comp.program, comp.dram, comp.cfg, check=True)
    for order in ("program", REVERSED, (Queue.VECTOR, Queue.GEMM, Queue.LOAD, Queue.STORE)):
        again = core.run(comp.program, comp.dram, comp.cfg, order=order)
        assert again.finished and np.array_equal(r.dram, again.dram), order
    ref = cc.float_block(model, layer, x, c)["x_out"]
    out = cc.block_output(comp, r)
    err = np.linalg.norm(out - ref) / np.linalg.norm(ref - x)
    print(f"layer {layer}: relative error of the block's update {err:.4f}")
    assert err < 0.03
    assert r.stats["macs"] == sum(
        d for d in (model.cfg.tokens * model.cfg.hidden * model.cfg.hidden * 4,
                    2 * model.cfg.tokens ** 2 * model.cfg.hidden,
                    2 * model.cfg.tokens * model.cfg.hidden * model.cfg.hidden * 4))


def test_compiler_names_what_does_not_fit():
    model = trace.model()
    x, c = trace.block_input(step=3, layer=0)
    with pytest.raises(ValueError, match="acc_rows: 768 rows needed, the buffer has 700"):
        cc.compile_block(model, 0, x, c, CoreConfig(acc_rows=700))
    with pytest.raises(ValueError, match="x, c: expected"):
        cc.compile_block(model, 0, x[:, :, :5], c)
    with pytest.raises(ValueError, match="x, c: expected"):
        cc.compile_block(model, 0, np.concatenate([x, x], axis=1), c)


# -- the reference page says what the code does --
DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "core.md"


def test_doc_format_table_matches_the_fields():
    rows = re.findall(r"^\| `(\w+)` \| (\d+) \| (\w+) \| (.*) \|$", DOC.read_text(), re.M)
    seen = {}
    for name, code, queue, text in rows:
        if name not in Op.__members__:      # the buffer table has the same shape
            continue
        fields = tuple((n, int(b)) for n, b in re.findall(r"(\w+) \((\d+)\)", text))
        seen[name] = (int(code), queue, fields)
    assert seen == {op.name: (int(op), QUEUE_OF[op].name.lower(), FIELDS[op]) for op in Op}


def test_doc_worked_example_is_what_the_compiler_emits():
    rows = re.findall(r"^\| (\d+) \| `([0-9a-f]{32})` \| `(\w+)` \|", DOC.read_text(), re.M)
    assert len(rows) == 10
    x, c = trace.block_input(step=3, layer=0)
    comp = cc.compile_block(trace.model(), 0, x, c)
    for index, word, name in rows:
        assert comp.program[int(index)] == int(word, 16)
        assert decode(int(word, 16))[0].name == name


# -- the cycle estimate --
def test_cycle_estimate_of_a_block():
    """The engine's beats are the block's MACs over the array's PEs; no queue
    is busy longer than the whole; more non-linear lanes never cost cycles."""
    from exdisc.golden import core_cycles
    from exdisc.golden.execution import dense_macs
    model = trace.model()
    x, c = trace.block_input(step=3, layer=0)
    comp = cc.compile_block(model, 0, x[:1], c[:1])
    runs = [core_cycles.estimate(comp.program, core_cycles.Timing(lanes=n)) for n in (4, 16)]
    for r in runs:
        assert r["engine_beats"] * 16 * 16 == sum(dense_macs(model.cfg).values())
        assert max(r["busy"].values()) <= r["total"] and 0 < r["engine_busy"] < 1
        assert r["by_op"]["GEMM"] == r["busy"]["gemm"]
    assert runs[1]["total"] < runs[0]["total"]
    with pytest.raises(ValueError, match="descriptor 0 waits for a token"):
        core_cycles.estimate([encode(Op.GEMM, m=1, n=1, k=1, pop=V), encode(Op.FINISH)])
    with pytest.raises(ValueError, match="lanes: expected a positive integer, got 0"):
        core_cycles.Timing(lanes=0)


# -- ExionCore's operations --
EXION = CoreConfig(width=64, act_rows=64, wgt_rows=64, acc_rows=64, mask_rows=32,
                   max_len=64, dram_bytes=1 << 14, exion=True)


def _sparse_gemm(op, a_row, b_row, c_row, m, n, k, init=Init.ZERO, invert=0):
    return encode(op, a_row=a_row, b_row=b_row, c_row=c_row, m=m, n=n, k=k, init=int(init),
                  mask_row=0, mask_col=0, invert=invert)


def test_sparse_ffn_step_is_ffn_reuse_to_the_bit(request):
    """FFN-Reuse's sparse step as ExionCore runs it: FC1 output-sparse under
    the dense step's mask, the cached partial input-sparse under its
    complement, FC2 input-sparse onto it; each sample with its own mask.
    Word for word golden.ffn_reuse.sparse_step_int, and FC2 is the dense
    FC2 of the dense step's GELU output with the mask's elements replaced."""
    from exdisc.golden.ffn_reuse import sparse_step_int
    rng = _rng(request)
    t, d, f = 8, 16, 40
    x, h_dense, h = (rng.integers(-128, 128, (2, t, w)) for w in (d, f, f))
    w1, w2 = rng.integers(-128, 128, (2, d, f)), rng.integers(-128, 128, (2, f, d))
    w1[1], w2[1] = w1[0], w2[0]
    mask = rng.random((2, t, f)) < rng.random((2, 1, 1))
    dram = np.zeros((2, EXION.dram_bytes), np.uint8)
    regions = [(Buffer.ACT, 0, x, np.int8), (Buffer.WGT, 0, w1, np.int8),
               (Buffer.WGT, d, w2, np.int8), (Buffer.ACT, t, h_dense, np.int8),
               (Buffer.ACT, 2 * t, h, np.int8)]
    prog, addr = [], 0
    for buf, row, v, dtype in regions:
        _put(dram, addr, v, dtype)
        prog.append(encode(Op.LOAD, buffer=buf, row=row, rows=v.shape[1], cols=v.shape[2],
                           dram=addr, stride=v.shape[2]))
        addr += v[0].size
    _put(dram, addr, np.packbits(mask, axis=-1, bitorder="little"), np.uint8)
    prog += [encode(Op.LOAD, buffer=Buffer.MASK, rows=t, cols=f, dram=addr, stride=f // 8),
             _sparse_gemm(Op.GEMM_OS, 0, 0, 0, t, f, d),
             _sparse_gemm(Op.GEMM_IS, t, d, t, t, d, f, invert=1),
             encode(Op.STORE, buffer=Buffer.ACC, row=t, rows=t, cols=d, dram=4000, stride=4 * d),
             _sparse_gemm(Op.GEMM_IS, 2 * t, d, t, t, d, f, init=Init.ACCUMULATE),
             encode(Op.STORE, buffer=Buffer.ACC, rows=t, cols=f, dram=6000, stride=4 * f),
             encode(Op.STORE, buffer=Buffer.ACC, row=t, rows=t, cols=d, dram=5000, stride=4 * d)]
    r = core.run(core.with_tokens(_finish(prog)), dram, EXION, check=True)
    assert r.finished and r.error == Error.NONE
    for s in range(2):
        want = sparse_step_int(x[s], w1[s], w2[s], h_dense[s], h[s], mask[s])
        np.testing.assert_array_equal(_get(r.dram, 6000, (t, f), "<i4")[s], want["fc1"])
        np.testing.assert_array_equal(_get(r.dram, 4000, (t, d), "<i4")[s], want["partial"])
        np.testing.assert_array_equal(_get(r.dram, 5000, (t, d), "<i4")[s], want["fc2"])
        np.testing.assert_array_equal(want["fc2"], np.where(mask[s], h[s], h_dense[s]) @ w2[s])
    # the MACs the sparse GEMMs did: each sample's masks, on the mean
    assert r.stats["macs"] == pytest.approx(
        (mask.sum() * d + (~mask).sum() * d + mask.sum() * d) / 2)


def test_sparse_gemms_subtract(request):
    """``Init.SUBTRACT`` (sparse GEMMs only): ``C`` less the product, under
    the mask as the product is (what the dense FFN-Reuse step subtracts its
    masked inputs' part of FC2 with); the dense GEMM rejects it."""
    rng = _rng(request)
    m, n, k = 8, 16, 24
    a, b = rng.integers(-128, 128, (2, m, k)), rng.integers(-128, 128, (2, k, n))
    c0 = rng.integers(-(1 << 31), 1 << 31, (2, m, n))
    dram = np.zeros((2, EXION.dram_bytes), np.uint8)
    prog, addr = [], 0
    for buf, v, dtype in ((Buffer.ACT, a, np.int8), (Buffer.WGT, b, np.int8),
                          (Buffer.ACC, c0, "<i4")):
        _put(dram, addr, v, dtype)
        prog.append(encode(Op.LOAD, buffer=buf, rows=v.shape[1], cols=v.shape[2], dram=addr,
                           stride=v.shape[2] * np.dtype(dtype).itemsize))
        addr += v[0].size * np.dtype(dtype).itemsize
    mask = rng.random((2, m, 24)) < 0.4
    _put(dram, addr, np.packbits(mask, axis=-1, bitorder="little"), np.uint8)
    prog.append(encode(Op.LOAD, buffer=Buffer.MASK, rows=m, cols=24, dram=addr, stride=3))
    wrap = lambda v: ((v + (1 << 31)) % (1 << 32) - (1 << 31))
    for op, want in ((Op.GEMM_IS, wrap(c0 - np.where(mask, a, 0) @ b)),
                     (Op.GEMM_OS, np.where(mask[:, :, :n], wrap(c0 - a @ b), c0))):
        program = prog + [_sparse_gemm(op, 0, 0, 0, m, n, k, init=Init.SUBTRACT),
                          encode(Op.STORE, buffer=Buffer.ACC, rows=m, cols=n, dram=6000,
                                 stride=4 * n)]
        r = core.run(core.with_tokens(_finish(program)), dram, EXION, check=True)
        np.testing.assert_array_equal(_get(r.dram, 6000, (m, n), "<i4"), want)
    bad = encode(Op.GEMM, m=1, n=1, k=1, init=int(Init.SUBTRACT))
    assert core.validate(EXION, bad)[0] == Error.BAD_SHAPE


def test_output_sparse_gemm_keeps_c_outside_its_mask(request):
    """Outside its mask an output-sparse GEMM leaves C as it was (with
    ``invert``, inside); under a full mask it is the dense GEMM."""
    rng = _rng(request)
    m, n, k = 5, 24, 7
    a, b = rng.integers(-128, 128, (1, m, k)), rng.integers(-128, 128, (1, k, n))
    c0 = rng.integers(-(1 << 31), 1 << 31, (1, m, n))
    dram = np.zeros((1, EXION.dram_bytes), np.uint8)
    for addr, v, dtype in ((0, a, np.int8), (100, b, np.int8), (400, c0, "<i4")):
        _put(dram, addr, v, dtype)
    for masked in (rng.random((1, m, n)) < 0.4, np.ones((1, m, n), bool)):
        for invert in (0, 1):
            _put(dram, 1000, np.packbits(masked, axis=-1, bitorder="little"), np.uint8)
            prog = [encode(Op.LOAD, buffer=Buffer.ACT, rows=m, cols=k, dram=0, stride=k),
                    encode(Op.LOAD, buffer=Buffer.WGT, rows=k, cols=n, dram=100, stride=n),
                    encode(Op.LOAD, buffer=Buffer.ACC, rows=m, cols=n, dram=400, stride=4 * n),
                    encode(Op.LOAD, buffer=Buffer.MASK, rows=m, cols=n, dram=1000,
                           stride=n // 8),
                    _sparse_gemm(Op.GEMM_OS, 0, 0, 0, m, n, k, init=Init.ACCUMULATE,
                                 invert=invert),
                    encode(Op.STORE, buffer=Buffer.ACC, rows=m, cols=n, dram=2000,
                           stride=4 * n)]
            r = core.run(core.with_tokens(_finish(prog)), dram, EXION, check=True)
            dense = (c0 + a @ b + (1 << 31)) % (1 << 32) - (1 << 31)
            keep = masked ^ bool(invert)
            np.testing.assert_array_equal(_get(r.dram, 2000, (m, n), "<i4"),
                                          np.where(keep, dense, c0))


def test_maskgen_is_the_mask_generator_compare(request):
    """MASKGEN writes FFN-Reuse's mask as golden.mask_gen compares FC1's
    accumulators with the integer threshold, for thresholds of either sign."""
    from exdisc.golden.mask_gen import fc1_mask
    rng = _rng(request)
    rows, length = 6, 40
    acc = rng.integers(-1000, 1000, (2, rows, length))
    dram = np.zeros((2, EXION.dram_bytes), np.uint8)
    _put(dram, 0, acc, "<i4")
    for threshold in (-300, 0, 257):
        prog = [encode(Op.LOAD, buffer=Buffer.ACC, row=3, col=5, rows=rows, cols=length,
                       dram=0, stride=4 * length),
                encode(Op.MASKGEN, src_row=3, src_col=5, dst_row=2, dst_col=8, rows=rows,
                       length=length, threshold=threshold % (1 << 32)),
                encode(Op.STORE, buffer=Buffer.MASK, row=2, col=8, rows=rows, cols=length,
                       dram=3000, stride=length // 8)]
        r = core.run(core.with_tokens(_finish(prog)), dram, EXION, check=True)
        got = np.unpackbits(_get(r.dram, 3000, (rows, length // 8), np.uint8), axis=-1,
                            bitorder="little").astype(bool)
        np.testing.assert_array_equal(got, fc1_mask(acc, threshold))


def test_exion_operations_are_checked():
    """The dense core flags ExionCore's operations BAD_OP before anything else
    (as its decoder does); ExionCore checks their shapes and regions, and a
    sparse GEMM's mask is m x n (output-sparse) or m x k (input-sparse)."""
    own = tokens(Queue.GEMM)
    word = _sparse_gemm(Op.GEMM_OS, 0, 0, 0, 4, 4, 4) | own << 4
    assert core.validate(CoreConfig(), word)[0] == Error.BAD_OP
    assert core.validate(EXION, word)[0] == Error.BAD_TOKEN
    assert core.validate(CoreConfig(), encode(Op.MASKGEN, rows=1, length=1))[0] == Error.BAD_OP
    assert core.validate(EXION, encode(Op.MASKGEN, rows=1, length=1))[0] == Error.NONE
    assert core.validate(EXION, _sparse_gemm(Op.GEMM_IS, 0, 0, 0, 4, 4, 4, init=Init.BIAS))[0] \
        == Error.BAD_SHAPE
    # 40 rows of mask: beyond MASK's 32 for the mask, not for A, B or C
    assert core.validate(EXION, _sparse_gemm(Op.GEMM_OS, 0, 0, 0, 40, 4, 4))[0] == \
        Error.BAD_RANGE
    wide = encode(Op.GEMM_IS, m=4, n=4, k=60, mask_col=8)       # the mask is m x k
    assert core.validate(EXION, wide)[0] == Error.BAD_RANGE
    assert core.validate(EXION, encode(Op.GEMM_OS, m=4, n=4, k=60, mask_col=8))[0] == Error.NONE
    assert core.validate(EXION, encode(Op.MASKGEN, rows=1, length=60, dst_col=8))[0] == \
        Error.BAD_RANGE


def test_with_tokens_orders_a_mask_before_its_sparse_gemm():
    prog = core.with_tokens(_finish([
        encode(Op.MASKGEN, rows=4, length=8),
        _sparse_gemm(Op.GEMM_OS, 0, 0, 0, 4, 8, 4),
        encode(Op.MASKGEN, rows=4, length=8, src_row=8)]))
    assert decode(prog[1])[1]["pop"] == V                      # reads the mask after it is made
    assert decode(prog[2])[1]["pop"] == G                      # overwrites it after it is read


def _reuse_case(request):
    rng = _rng(request)
    cfg = DiTConfig(image_size=8, patch=2, hidden=16, depth=1, heads=4)
    model = DiT.random(cfg, seed=3, std=0.3)
    x = rng.standard_normal((2, cfg.tokens, cfg.hidden)).astype(np.float32)
    c = rng.standard_normal((2, cfg.hidden)).astype(np.float32)
    # row tiles of 3: a chunk of 8 rows ends in a short one
    ccfg = CoreConfig(width=64, act_rows=128, wgt_rows=128, acc_rows=256, mask_rows=64,
                      max_len=64, dram_bytes=1 << 14, exion=True, array_rows=3)
    return rng, model, x, c, ccfg, cc.calibrate(model, 0, x, c)


def test_ffn_reuse_steps_compile_to_exact_programs(request):
    """A dense FFN-Reuse step computes the block as the plain program does and
    keeps its mask and partial; a sparse step on the same input gives the
    same block output to the bit (the masked elements are recomputed to the
    same values, the rest come from the partial), with fewer MACs; with
    every element masked, a sparse step on another input is that input's
    dense block."""
    rng, model, x, c, ccfg, s = _reuse_case(request)

    def run(x, reuse=None):
        comp = cc.compile_block(model, 0, x, c, ccfg, s, chunk_rows=8, reuse=reuse)
        return comp, core.run(comp.program, comp.dram, ccfg, check=True)

    plain, r_plain = run(x)
    dense, r_dense = run(x, cc.ReuseStep("dense", threshold=0))
    mask, partial = cc.reuse_outputs(dense, r_dense)
    assert 0.1 < mask.mean() < 0.9
    np.testing.assert_array_equal(cc.block_output(dense, r_dense), cc.block_output(plain, r_plain))
    for condensed in (True, False):
        sparse, r_sparse = run(x, cc.ReuseStep("sparse", mask=mask, partial=partial,
                                               condensed=condensed))
        np.testing.assert_array_equal(cc.block_output(sparse, r_sparse),
                                      cc.block_output(plain, r_plain))
        assert r_sparse.stats["macs"] < r_plain.stats["macs"]
        flags = {core_isa.decode(w)[1].get("condensed") for w in sparse.program
                 if core_isa.decode(w)[0] in (Op.GEMM_OS, Op.GEMM_IS)}
        assert flags == {int(condensed)}
        # condensed, GELU takes only the columns FC2 reads: the most a row
        # tile of its chunk keeps
        gelu = [f for op, f in map(core_isa.decode, map(int, sparse.program))
                if op == Op.NONLINEAR and f["fn"] == core_isa.Fn.GELU]
        kept = [max(int(mask[:, r:r + ccfg.array_rows].any(axis=1).sum(axis=-1).max())
                    for r in range(f["src_row"] - gelu[0]["src_row"],
                                   f["src_row"] - gelu[0]["src_row"] + f["rows"],
                                   ccfg.array_rows)) for f in gelu]
        assert [f["length"] for f in gelu] == (kept if condensed else [mask.shape[-1]] * len(gelu))
        # FC1's masks are loaded before FC2's weights (the last weights loaded)
        loads = [f["buffer"] for op, f in map(core_isa.decode, map(int, sparse.program))
                 if op == Op.LOAD]
        last_wgt = max(i for i, b in enumerate(loads) if b == Buffer.WGT)
        assert all(i < last_wgt for i, b in enumerate(loads) if b == Buffer.MASK)
    every, r_every = run(x, cc.ReuseStep("dense", threshold=-(1 << 31)))
    mask, partial = cc.reuse_outputs(every, r_every)
    assert mask.all()
    x2 = x + 0.1 * rng.standard_normal(x.shape).astype(np.float32)
    (a, ra), (b, rb) = run(x2, cc.ReuseStep("sparse", mask=mask, partial=partial)), run(x2)
    np.testing.assert_array_equal(cc.block_output(a, ra), cc.block_output(b, rb))


def test_ffn_reuse_steps_reject_what_they_cannot_run(request):
    _, model, x, c, ccfg, s = _reuse_case(request)
    with pytest.raises(ValueError, match="reuse: FFN-Reuse runs on ExionCore"):
        cc.compile_block(model, 0, x, c, CoreConfig(width=64, max_len=64, mask_rows=64),
                         reuse=cc.ReuseStep("dense", threshold=0))
    with pytest.raises(ValueError, match="mask, partial: expected"):
        cc.compile_block(model, 0, x, c, ccfg, s, reuse=cc.ReuseStep(
            "sparse", mask=np.zeros((2, 16, 63), bool), partial=np.zeros((2, 16, 16))))
    with pytest.raises(ValueError, match="mask_rows: 48 rows needed"):
        cc.compile_block(model, 0, x, c,
                         CoreConfig(width=64, max_len=64, mask_rows=40, exion=True), s,
                         reuse=cc.ReuseStep("dense", threshold=0))
    with pytest.raises(ValueError, match="threshold: expected a signed 32-bit integer"):
        cc.ReuseStep("dense", threshold=1 << 31)
    with pytest.raises(ValueError, match="kind: expected 'dense' or 'sparse', got 'half'"):
        cc.ReuseStep("half")
    with pytest.raises(TypeError, match="condensed: expected a bool, got 1"):
        cc.ReuseStep("sparse", mask=np.zeros(1), partial=np.zeros(1), condensed=1)


def test_sparse_gemm_without_its_mask_is_refused(request, monkeypatch):
    """``NO_MASK``: the core stops at a sparse GEMM whose mask rows no earlier
    descriptor writes, with nothing of it done; the compiler names the
    mistake before anything runs (here a compiler that forgot the sparse
    step's mask)."""
    rng, model, x, c, ccfg, s = _reuse_case(request)
    dram = rng.integers(0, 256, (1, ccfg.dram_bytes), dtype=np.uint8)
    store = encode(Op.STORE, buffer=Buffer.ACC, rows=4, cols=4, dram=100, stride=16)
    for writes in ([], [encode(Op.MASKGEN, rows=3, length=8)]):
        prog = core.with_tokens(writes + [_sparse_gemm(Op.GEMM_IS, 0, 0, 0, 4, 4, 8),
                                          store, encode(Op.FINISH)])
        r = core.run(prog, dram, ccfg)
        assert (r.error, r.index) == (Error.NO_MASK, len(writes))
        np.testing.assert_array_equal(r.dram, dram)            # the store after it never ran
    prog[0] = encode(Op.MASKGEN, rows=4, length=8)
    assert core.run(core.with_tokens(prog), dram, ccfg).error == Error.NONE

    dense = cc.compile_block(model, 0, x, c, ccfg, s, chunk_rows=8,
                             reuse=cc.ReuseStep("dense", threshold=0))
    mask, partial = cc.reuse_outputs(dense, core.run(dense.program, dense.dram, ccfg))
    tokens_for = cc.with_tokens
    monkeypatch.setattr(cc, "with_tokens", lambda words: tokens_for(
        [w for w in words if not (core_isa.decode(w)[0] == Op.LOAD and
                                  core_isa.decode(w)[1]["buffer"] == Buffer.MASK)]))
    with pytest.raises(ValueError, match="malformed at descriptor [0-9]+: NO_MASK: GEMM_OS"):
        cc.compile_block(model, 0, x, c, ccfg, s, chunk_rows=8,
                         reuse=cc.ReuseStep("sparse", mask=mask, partial=partial))


# -- DiscCore's gathers and scatters ------------------------------------------
DISC = CoreConfig(width=32, act_rows=64, wgt_rows=16, acc_rows=16, mask_rows=8, max_len=32,
                  dram_bytes=1 << 12, disc=True)


def _indexed(lists, op, **f):
    """A program: each sample's index list (``lists [samples, n]``) loaded
    into ACC row 5 from byte 0, then ``op`` with fields ``f``, then FINISH."""
    return core.with_tokens([
        encode(Op.LOAD, buffer=Buffer.ACC, row=5, rows=1, cols=lists.shape[1], dram=0),
        encode(op, rows=lists.shape[1], idx_row=5, **f), encode(Op.FINISH)])


def test_gather_and_scatter_rows_by_token(request):
    """Each sample's rows go from and to its own tokens' rows of the table;
    nothing else of external memory changes."""
    rng = _rng(request)
    dram = rng.integers(0, 256, (2, DISC.dram_bytes), dtype=np.uint8)
    gather = np.array([[6, 0, 6, 3], [1, 2, 9, 9]])
    _put(dram, 0, gather, "<i4")
    # int8 rows of 5 from a table of 10 rows of stride 7 at 1000, into ACT
    prog = _indexed(gather, Op.GATHER, buffer=Buffer.ACT, row=2, col=3, cols=5, dram=1000,
                    stride=7, limit=10)
    r = core.run(prog, dram, DISC, check=True)
    for s in range(2):
        for i, t in enumerate(gather[s]):
            np.testing.assert_array_equal(r.buffers[Buffer.ACT][s, 2 + i, 3:8].view(np.uint8),
                                          dram[s, 1000 + 7 * t:1000 + 7 * t + 5])
    # int32 rows of 3 from ACC rows 8.. to a table at 2000 of stride 16
    scatter = np.array([[0, 2, 7], [4, 5, 6]])
    _put(dram, 0, scatter, "<i4")
    acc = rng.integers(-1000, 1000, (2, 3, 3)).astype(np.int32)
    _put(dram, 500, acc, "<i4")
    prog = core.with_tokens([
        encode(Op.LOAD, buffer=Buffer.ACC, row=8, rows=3, cols=3, dram=500, stride=12)] +
        _indexed(scatter, Op.SCATTER, buffer=Buffer.ACC, row=8, cols=3, dram=2000, stride=16,
                 limit=8))
    r = core.run(prog, dram, DISC, check=True)
    want = dram.copy()
    for s in range(2):
        for i, t in enumerate(scatter[s]):
            want[s, 2000 + 16 * t:2000 + 16 * t + 12] = acc[s, i].view(np.uint8)
    np.testing.assert_array_equal(r.dram, want)


@pytest.mark.parametrize("op,index,error", [
    (Op.GATHER, [0, 8], Error.BAD_INDEX), (Op.GATHER, [-1, 3], Error.BAD_INDEX),
    (Op.SCATTER, [3, 8], Error.BAD_INDEX), (Op.SCATTER, [1, 4, 4], Error.DUPLICATE),
    (Op.SCATTER, [5, 2], Error.DUPLICATE), (Op.SCATTER, [5, 9, 5], Error.BAD_INDEX),
    (Op.GATHER, [5, 5, 2], Error.NONE)])
def test_bad_index_lists_stop_the_core(request, op, index, error):
    """An index outside the table (either sample), or a scatter's index not
    above the one before, stops the core at the gather or scatter with its
    code, before any byte of it moves; a gather may repeat and reorder.
    An out-of-range index is reported before a repeat."""
    rng = _rng(request)
    dram = rng.integers(0, 256, (2, DISC.dram_bytes), dtype=np.uint8)
    lists = np.array([[0] * len(index), index])
    if op == Op.SCATTER:
        lists[0] = np.arange(len(index))
    _put(dram, 0, lists, "<i4")
    prog = _indexed(lists, op, buffer=Buffer.ACT, row=1, cols=4, dram=1000, stride=4, limit=8)
    prog = prog[:-1] + [encode(Op.STORE, buffer=Buffer.ACT, row=1, rows=1, cols=4, dram=3000,
                               pop=L), prog[-1]]
    prog = core.with_tokens(prog)
    r = core.run(prog, dram, DISC)
    assert (r.error, r.finished) == (error, error == Error.NONE)
    if error != Error.NONE:
        assert r.index == 1
        np.testing.assert_array_equal(r.dram, dram)
        with pytest.raises(core.CoreError, match=f"descriptor 1: {error.name}"):
            core.run(prog, dram, DISC, check=True)


def test_disc_operations_are_checked():
    """Other cores flag gathers and scatters BAD_OP; DiscCore checks the
    list (a row of ACC at most, its row in ACC), the table (a row at least,
    inside external memory), and a gather not into its own list."""
    word = encode(Op.GATHER, buffer=Buffer.ACT, rows=2, cols=4, stride=4, limit=4, idx_row=3)
    assert core.validate(CoreConfig(), word)[0] == Error.BAD_OP
    assert core.validate(DISC, word)[0] == Error.NONE
    assert core.validate(DISC, word | L << 4)[0] == Error.BAD_TOKEN
    assert core.validate(DISC, encode(Op.SCATTER, buffer=Buffer.ACT, rows=2, cols=4,
                                      limit=4) | S << 8)[0] == Error.BAD_TOKEN
    for f, error in ((dict(rows=33), Error.BAD_SHAPE), (dict(limit=0), Error.BAD_SHAPE),
                     (dict(idx_row=16), Error.BAD_RANGE),
                     (dict(stride=1300, limit=5), Error.BAD_RANGE),
                     (dict(stride=1300, limit=4), Error.NONE),
                     (dict(buffer=Buffer.ACC, row=2, idx_row=3), Error.OVERLAP),
                     (dict(buffer=Buffer.ACC, row=2, col=2, idx_row=3), Error.NONE)):
        fields = dict(dict(buffer=Buffer.ACT, rows=2, cols=4, stride=4, limit=4), **f)
        assert core.validate(DISC, encode(Op.GATHER, **fields))[0] == error, f
    # the table's footprint orders a scatter before a load of any of its rows
    prog = core.with_tokens([encode(Op.SCATTER, buffer=Buffer.ACT, rows=1, cols=4, dram=100,
                                    stride=8, limit=10),
                             encode(Op.LOAD, buffer=Buffer.ACT, rows=1, cols=4, dram=172),
                             encode(Op.FINISH)])
    assert decode(prog[1])[1]["pop"] == S


def test_kv_store_rows_by_token(request):
    """A scatter puts each sample's rows at its own tokens' elements of the
    K/V store, a power-of-two stride apart, and a gather brings tokens'
    rows back (repeated and out of order) into another buffer; the store
    is per sample, and nothing of external memory changes but the dump."""
    rng = _rng(request)
    dram = rng.integers(0, 256, (2, DISC.dram_bytes), dtype=np.uint8)
    rows = rng.integers(-128, 128, (2, 3, 5)).astype(np.int8)
    _put(dram, 500, rows, "i1")
    scatter = np.array([[0, 2, 7], [4, 5, 6]])
    gather = np.array([[7, 0, 7, 2], [6, 4, 5, 4]])
    _put(dram, 0, scatter, "<i4")
    _put(dram, 16, gather, "<i4")
    prog = core.with_tokens([
        encode(Op.LOAD, buffer=Buffer.ACT, row=4, rows=3, cols=5, dram=500, stride=5),
        encode(Op.LOAD, buffer=Buffer.ACC, row=5, rows=2, cols=4, dram=0, stride=16),
        encode(Op.KV_SCATTER, buffer=Buffer.ACT, row=4, col=0, rows=3, cols=5, base=64,
               stride=8, idx_row=5, limit=8),
        encode(Op.KV_GATHER, buffer=Buffer.WGT, row=1, col=2, rows=4, cols=5, base=64,
               stride=8, idx_row=6, limit=8),
        encode(Op.STORE, buffer=Buffer.WGT, row=1, rows=4, cols=8, dram=3000, stride=8),
        encode(Op.FINISH)])
    r = core.run(prog, dram, DISC, check=True)
    for s in range(2):
        for i, t in enumerate(scatter[s]):
            np.testing.assert_array_equal(r.kv[s, 64 + 8 * t:64 + 8 * t + 5], rows[s, i])
        at = {t: i for i, t in enumerate(scatter[s])}
        for i, t in enumerate(gather[s]):
            np.testing.assert_array_equal(r.buffers[Buffer.WGT][s, 1 + i, 2:7],
                                          rows[s, at[t]])
    assert r.stats["kv_elements"] == 3 * 5 + 4 * 5
    want = dram.copy()
    want[:, 3000:3032] = r.buffers[Buffer.WGT][:, 1:5, :8].reshape(2, -1).view(np.uint8)
    np.testing.assert_array_equal(r.dram, want)


def test_kv_operations_are_checked():
    """The K/V store's transfers: BAD_OP off DiscCore; int8 buffers only; a
    power-of-two stride, a scatter's at least its columns; the table inside
    the store; the index list as a gather's, its bad indices at run time."""
    word = encode(Op.KV_GATHER, buffer=Buffer.ACT, rows=2, cols=4, stride=4, limit=4)
    assert core.validate(CoreConfig(), word)[0] == Error.BAD_OP
    assert core.validate(DISC, word)[0] == Error.NONE
    assert core.validate(DISC, word | L << 4)[0] == Error.BAD_TOKEN
    kv = DISC.kv_bytes
    for op, f, error in (
            (Op.KV_GATHER, dict(buffer=Buffer.ACC), Error.BAD_BUFFER),
            (Op.KV_SCATTER, dict(buffer=Buffer.MASK), Error.BAD_BUFFER),
            (Op.KV_GATHER, dict(stride=0), Error.BAD_SHAPE),
            (Op.KV_GATHER, dict(stride=6), Error.BAD_SHAPE),
            (Op.KV_GATHER, dict(stride=2), Error.NONE),
            (Op.KV_SCATTER, dict(stride=2), Error.BAD_SHAPE),
            (Op.KV_SCATTER, dict(stride=4), Error.NONE),
            (Op.KV_GATHER, dict(rows=33), Error.BAD_SHAPE),
            (Op.KV_GATHER, dict(limit=0), Error.BAD_SHAPE),
            (Op.KV_GATHER, dict(idx_row=16), Error.BAD_RANGE),
            (Op.KV_GATHER, dict(base=kv - 16), Error.NONE),
            (Op.KV_GATHER, dict(base=kv - 15), Error.BAD_RANGE)):
        fields = dict(dict(buffer=Buffer.ACT, rows=2, cols=4, stride=4, limit=4), **f)
        assert core.validate(DISC, encode(op, **fields))[0] == error, (op, f)
    # a bad index stops the core there, with the store and memory untouched
    dram = np.zeros(DISC.dram_bytes, np.uint8)
    _put(dram[None], 0, np.array([[1, 4]]), "<i4")
    r = core.run(_indexed(np.array([[1, 4]]), Op.KV_SCATTER, buffer=Buffer.ACT, cols=4,
                          stride=4, limit=4), dram, DISC)
    assert (r.error, r.index, r.finished) == (Error.BAD_INDEX, 1, False)
    assert not r.kv.any()


def test_ctr_steps_against_the_float_ctr_block():
    """CTR on the project's DiT at full shape (256 tokens), on recorded
    block inputs: the full step fills the token cache; the next step's
    reuse step, on the fresh tokens the float CTR chose there, leaves every
    reused token's output, key and value as the cache held them, bit for
    bit, and its fresh rows' update within 3 % (relative, L2) of the float
    CTR block's (golden.ctr.reuse_block on the float full step's keys and
    values); program order and other queue priorities agree word for word."""
    from exdisc.golden.ctr import reuse_block
    layer, step = 1, 3
    model = trace.model()
    cfg = CoreConfig(disc=True)
    x, c = trace.block_input(step=step, layer=layer)
    full = cc.compile_block(model, layer, x, c, cfg, tokens=cc.TokenStep())
    r = core.run(full.program, full.dram, cfg, check=True)
    k, v, out = cc.token_cache(full, r)
    # the full step is the dense block, and stores its keys and values besides
    dense = cc.compile_block(model, layer, x, c, cfg)
    np.testing.assert_array_equal(cc.block_output(full, r), cc.block_output(
        dense, core.run(dense.program, dense.dram, cfg)))
    fresh = np.repeat(trace.ctr_steps()[step + 1][3][None], len(x), axis=0)
    assert 0 < fresh.sum() < fresh.size
    x2, c2 = trace.block_input(step=step + 1, layer=layer)
    reuse = cc.compile_block(model, layer, x2, c2, cfg, full.scales,
                             tokens=cc.TokenStep(fresh=fresh, k=k, v=v, out=out))
    r = core.run(reuse.program, reuse.dram, cfg, check=True)
    for order in ("program", REVERSED):
        assert np.array_equal(r.dram, core.run(reuse.program, reuse.dram, cfg,
                                               order=order).dram), order
    k2, v2, out2 = cc.token_cache(reuse, r)
    for new, old in ((k2, k), (v2, v), (out2, out)):
        np.testing.assert_array_equal(new[~fresh], old[~fresh])
    ref = cc.float_block(model, layer, x, c)
    want, _, _ = reuse_block(model, layer, x2, c2, fresh, ref["k"], ref["v"], ref["x_out"])
    got = cc.block_output(reuse, r)
    err = np.linalg.norm(got[fresh] - want[fresh]) / np.linalg.norm(want[fresh] - x2[fresh])
    print(f"fresh rows: relative error of the block's update {err:.4f}")
    assert err < 0.03
    # only the fresh rows' GEMMs: the attention's keys are every token's
    R, T, d = fresh.sum(axis=1)[0], x.shape[1], model.cfg.hidden
    assert r.stats["macs"] == R * d * d * 4 + 2 * R * T * d + 2 * R * d * d * 4


def test_ctr_steps_reject_what_they_cannot_run():
    model = trace.model()
    x, c = trace.block_input(step=3, layer=0)
    with pytest.raises(ValueError, match="cfg.disc is False"):
        cc.compile_block(model, 0, x, c, tokens=cc.TokenStep())
    fresh = np.zeros(x.shape[:2], bool)
    fresh[0, :3], fresh[1, :4] = True, True
    with pytest.raises(ValueError, match=r"the same number of fresh tokens.*\[3, 4\]"):
        cc.TokenStep(fresh=fresh, k=0, v=0, out=0)
    fresh[1, 3] = False
    with pytest.raises(ValueError, match="k, v, out: a reuse step needs the token cache"):
        cc.TokenStep(fresh=fresh)
    with pytest.raises(ValueError, match=r"fresh, k, v, out: expected \[2, 256\]"):
        cc.compile_block(model, 0, x, c, CoreConfig(disc=True), tokens=cc.TokenStep(
            fresh=fresh, k=np.zeros((2, 256, 5)), v=0, out=0))
    with pytest.raises(TypeError, match="tokens: expected a TokenStep"):
        cc.compile_block(model, 0, x, c, CoreConfig(disc=True), tokens=fresh)


def test_st_steps_against_the_float_st_block():
    """ST on the project's DiT at full shape, on recorded block inputs: the
    generate step is the dense block and stores each head's keep masks (each
    row keeping at least its maximum); the next step's reuse step, under
    those masks, is within 3 % (relative, L2, of the block's update) of the
    float block whose queries attend only to the keys they keep, and its
    attention GEMMs run each row tile over the keys some query of the tile
    keeps; program order and another queue priority agree word for word."""
    layer, step = 1, 3
    model = trace.model()
    cfg = CoreConfig(disc=True, exion=True)
    x, c = trace.block_input(step=step, layer=layer)
    gen = cc.compile_block(model, layer, x, c, cfg, masks=cc.MaskStep())
    r = core.run(gen.program, gen.dram, cfg, check=True)
    dense = cc.compile_block(model, layer, x, c, cfg)
    np.testing.assert_array_equal(cc.block_output(gen, r), cc.block_output(
        dense, core.run(dense.program, dense.dram, cfg)))
    keep = cc.keep_masks(gen, r)
    assert keep.any(axis=-1).all() and 0.3 < keep.mean() < 0.95
    x2, c2 = trace.block_input(step=step + 1, layer=layer)
    st = cc.compile_block(model, layer, x2, c2, cfg, gen.scales, masks=cc.MaskStep(keep=keep))
    r2 = core.run(st.program, st.dram, cfg, check=True)
    for order in ("program", REVERSED):
        assert np.array_equal(r2.dram, core.run(st.program, st.dram, cfg, order=order).dram)
    want = cc.float_block(model, layer, x2, c2, keep=keep)["x_out"]
    got = cc.block_output(st, r2)
    err = np.linalg.norm(got - want) / np.linalg.norm(want - x2)
    print(f"relative error of the block's update under ST's masks {err:.4f}")
    assert err < 0.03
    # gathering each row tile's kept keys, or none, gives the same block to
    # the bit; P V runs over the tiles' unions of kept keys, or every key
    T, d, H, dh = x.shape[1], model.cfg.hidden, model.cfg.heads, model.cfg.head_dim
    R = cfg.array_rows
    union = sum(keep[:, h, u:u + R].any(axis=(0, 1)).sum() * R
                for h in range(H) for u in range(0, T, R))
    scores = keep.sum() / len(keep) * dh          # GEMM_OS counts the kept outputs
    rows = T * d * d * 4 + 2 * T * d * d * 4
    macs = {}
    for below, pv, on_chip in ((np.inf, union * dh, True), (np.inf, union * dh, False),
                               (0, H * T * T * dh, True)):
        comp = cc.compile_block(model, layer, x2, c2, cfg, gen.scales,
                                masks=cc.MaskStep(keep=keep, gather_below=below,
                                                  on_chip=on_chip))
        again = core.run(comp.program, comp.dram, cfg, check=True)
        np.testing.assert_array_equal(cc.block_output(comp, again), got)
        assert again.stats["macs"] == rows + scores + pv, below
        ops = again.stats["descriptors"]
        # the K/V store takes every key and value, and gives each gathered
        # tile's (only when some tile gathers)
        assert again.stats["kv_elements"] == (2 * T * d + 2 * dh * union // R
                                              if on_chip and below else 0)
        assert (ops["KV_GATHER"] > 0) == (on_chip and below > 0) and \
            (ops["GATHER"] > 0) == (not on_chip and below > 0)
        macs[below] = pv
    assert macs[np.inf] < r2.stats["macs"] - rows - scores <= macs[0]


def test_eager_attention_on_exion_core():
    """Eager prediction's masks on ExionCore at full shape (no gathers: every
    head runs whole under its masks): within 3 % of the float block whose
    queries attend only to their predicted keys, with only the kept scores
    written; with FFN-Reuse's dense step in the same block, the same block
    output to the bit."""
    layer, step = 1, 3
    model = trace.model()
    cfg = CoreConfig(exion=True)
    x, c = trace.block_input(step=step, layer=layer)
    keep = cc.eager_masks(model, layer, x, c)
    assert keep.any(axis=-1).all() and 0.05 < keep.mean() < 0.95
    print(f"eager prediction keeps {keep.mean():.3f} of the scores")
    comp = cc.compile_block(model, layer, x, c, cfg, masks=cc.MaskStep(keep=keep))
    r = core.run(comp.program, comp.dram, cfg, check=True)
    got = cc.block_output(comp, r)
    want = cc.float_block(model, layer, x, c, keep=keep)["x_out"]
    err = np.linalg.norm(got - want) / np.linalg.norm(want - x)
    print(f"relative error of the block's update under eager prediction's masks {err:.4f}")
    assert err < 0.03
    T, d, H, dh = x.shape[1], model.cfg.hidden, model.cfg.heads, model.cfg.head_dim
    scores = keep.sum() / len(keep) * dh          # GEMM_OS counts the kept outputs
    rows = T * d * d * 4 + 2 * T * d * d * 4
    assert r.stats["macs"] == rows + scores + H * T * T * dh
    assert r.stats["descriptors"]["GEMM_OS"] == H
    # FFN-Reuse's mask beside two heads' keep masks
    cfg = CoreConfig(exion=True, mask_rows=3 * T)
    both = cc.compile_block(model, layer, x, c, cfg, comp.scales, masks=cc.MaskStep(keep=keep),
                            reuse=cc.ReuseStep("dense", threshold=0))
    np.testing.assert_array_equal(
        cc.block_output(both, core.run(both.program, both.dram, cfg, check=True)), got)


def test_st_steps_reject_what_they_cannot_run():
    model = trace.model()
    x, c = trace.block_input(step=3, layer=0)
    with pytest.raises(ValueError, match="masks: masked attention runs on the sparse GEMMs"):
        cc.compile_block(model, 0, x, c, CoreConfig(disc=True), masks=cc.MaskStep())
    both = CoreConfig(disc=True, exion=True)
    with pytest.raises(ValueError, match=r"keep: expected \[2, 4, 256, 256\]"):
        cc.compile_block(model, 0, x, c, both, masks=cc.MaskStep(keep=np.ones((2, 4, 8, 8))))
    with pytest.raises(ValueError, match="does not take CTR's tokens"):
        cc.compile_block(model, 0, x, c, both, masks=cc.MaskStep(), tokens=cc.TokenStep())
    with pytest.raises(TypeError, match="masks: expected a MaskStep"):
        cc.compile_block(model, 0, x, c, both, masks=True)
    with pytest.raises(ValueError, match="kv_bytes: 16384 holds less than every token's key"):
        cc.compile_block(model, 0, x, c, CoreConfig(disc=True, exion=True, kv_bytes=1 << 14),
                         masks=cc.MaskStep(keep=np.ones((2, 4, 256, 256), bool),
                                           gather_below=np.inf))
    with pytest.raises(TypeError, match="on_chip: expected a bool, got 1"):
        cc.MaskStep(on_chip=1)
    with pytest.raises(ValueError, match="gather_below: expected a number of at least 0, got -1"):
        cc.MaskStep(keep=np.ones((2, 4, 256, 256), bool), gather_below=-1)
