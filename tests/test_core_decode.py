"""The core's descriptor layouts and decoder against the golden model."""

import numpy as np
import pytest

from exdisc.golden import core as gcore, core_isa as gisa
from exdisc.hw.core import isa
from exdisc.hw.core.params import CoreParams, DiscParams, ExionParams
from exdisc.sim.stimulus.core import random_program
from exdisc.sim.testbenches.core_decode import expected, run_programs

SMALL = CoreParams(width=32, act_rows=64, wgt_rows=48, acc_rows=96, mask_rows=16, max_len=24,
                   dram_bytes=12000)
EXION = ExionParams(**SMALL.as_dict())
DISC = DiscParams(**SMALL.as_dict())


def test_layouts_are_the_golden_format():
    assert {o.name: o.value for o in isa.Op} == {o.name: o.value for o in gisa.Op}
    assert {o.value for o in isa.DENSE_OPS} == {o.value for o in gisa.DENSE_OPS}
    assert {o.value for o in isa.EXION_OPS} == {o.value for o in gisa.EXION_OPS}
    assert {o.value for o in isa.DISC_OPS} == {o.value for o in gisa.DISC_OPS}
    assert {o.value: q.value for o, q in isa.QUEUE_OF.items()} == \
        {o.value: q.value for o, q in gisa.QUEUE_OF.items()}
    for hw_enum, golden_enum in ((isa.Buffer, gisa.Buffer), (isa.Init, gisa.Init),
                                 (isa.Queue, gisa.Queue), (isa.Error, gcore.Error),
                                 (isa.Fn, gisa.Fn)):
        assert {e.name: e.value for e in hw_enum} == {e.name: e.value for e in golden_enum}
    assert isa.HEADER == gisa.HEADER
    for op in isa.Op:
        assert isa.FIELDS[op] == gisa.FIELDS[gisa.Op(op.value)]
        layout = isa.layout(op)
        assert layout.size == isa.DESCRIPTOR_BITS
        offsets = gisa.field_offsets(op.value)
        for name, (offset, bits) in offsets.items():
            assert (layout[name].offset, layout[name].width) == (offset, bits), name


def test_params_validation():
    with pytest.raises(ValueError, match="parameter 'max_len' must be at most 32, not 64"):
        CoreParams(width=32, max_len=64)
    with pytest.raises(TypeError, match="parameter 'acc_rows' must be an integer, not '8'"):
        CoreParams(acc_rows="8")
    with pytest.raises(ValueError, match="parameter 'kv_bytes' must be a power of two, not 3000"):
        DiscParams(kv_bytes=3000)
    with pytest.raises(ValueError, match="parameter 'kv_banks' must be a power of two, not 3"):
        DiscParams(kv_banks=3)
    with pytest.raises(ValueError, match="parameter 'kv_hash' must be one of 'modulo', 'xor'"):
        DiscParams(kv_hash="crc")
    assert DiscParams(kv_banks=32, kv_hash="modulo").kv_router.banks == 32


def _seed(request, base):
    seed = base + sum(map(ord, request.node.name))
    print(f"seed {seed}")
    return seed


def test_well_formed_program(request):
    """Every descriptor reaches its queue, in order, with its index."""
    seed = _seed(request, 1)
    program = random_program(np.random.default_rng(seed), SMALL, 60, well_formed=True)
    want, (error, _) = expected(SMALL, program)
    assert error == gcore.Error.NONE and all(want.values())
    [(got, err, refused)] = run_programs(SMALL, [program], seed)
    assert got == want
    assert err[0] == isa.Error.NONE and refused is None


@pytest.mark.parametrize("trial,p", [(0, SMALL), (1, SMALL), (2, SMALL), (0, EXION), (0, DISC)],
                         ids=["dense0", "dense1", "dense2", "exion0", "disc0"])
def test_random_programs_stop_at_the_first_malformed(request, trial, p):
    """Short programs of random descriptors (fields on and around every
    limit; about a third malformed), the decoder reset between them: the
    descriptors before the first malformed one are handed on, its code (the
    golden model's first failed check) and index are reported, and nothing
    after it is taken."""
    seed = _seed(request, 1000 * trial)
    rng = np.random.default_rng(seed)
    programs = [random_program(rng, p, 4) for _ in range(250)]
    codes = set()
    for n, (program, (got, err, refused)) in enumerate(
            zip(programs, run_programs(p, programs, seed))):
        want, (error, bad) = expected(p, program)
        assert got == want, f"program {n}"
        if bad is None:
            assert (err[0], refused) == (isa.Error.NONE, None), f"program {n}"
        else:
            assert (err[0].value, err[1]) == (error.value, bad), f"program {n}"
            # the descriptor after the malformed one (if any) is never taken
            assert refused is (True if bad + 1 < len(program) else None), f"program {n}"
            codes.add(error)
    assert len(codes) >= 4, f"only {sorted(c.name for c in codes)} came up"


def _edges():
    """Descriptors on both sides of each limit the random programs rarely hit
    exactly: mask bytes, the end of external memory, the last row and column."""
    E, B = gisa.encode, gisa.Buffer
    out = []
    for col, cols in ((0, 4), (0, 8), (4, 8), (8, 8), (0, 12), (16, 16), (2, 8)):
        out.append(E(gisa.Op.LOAD, buffer=B.MASK, row=3, col=col, rows=2, cols=cols, stride=4))
    for buf, cols, nbytes in ((B.ACC, 5, 20), (B.ACT, 5, 5), (B.MASK, 16, 2)):
        for extra in (-1, 0, 1):
            dram = SMALL.dram_bytes - (2 * 100 + nbytes) + extra
            out.append(E(gisa.Op.STORE, buffer=buf, rows=3, cols=cols, dram=dram, stride=100))
    for row, rows in ((SMALL.acc_rows - 2, 2), (SMALL.acc_rows - 2, 3)):
        out.append(E(gisa.Op.ADD, dst_row=row, rows=rows, length=SMALL.width - 1, dst_col=1))
        out.append(E(gisa.Op.ADD, src_row=row, rows=rows, length=4, gate_col=SMALL.width - 4))
    for length in (SMALL.max_len, SMALL.max_len + 1):
        out.append(E(gisa.Op.NONLINEAR, fn=1, rows=1, length=length))
    for n in (SMALL.width - 3, SMALL.width - 2):
        out.append(E(gisa.Op.GEMM, m=1, n=3, k=2, b_t=1, b_row=SMALL.wgt_rows - 3, b_col=n))
    for bias_row in (SMALL.acc_rows - 1, SMALL.acc_rows):
        # the bias sits at C's columns, whatever B's are
        out.append(E(gisa.Op.GEMM, m=1, n=3, k=1, b_t=1, b_col=SMALL.width - 2, init=1,
                     bias_row=bias_row))
    # a bias row on either side of C's rows, and on their ends
    for bias_row in (3, 4, 9, 10):
        out.append(E(gisa.Op.GEMM, m=6, n=3, k=1, c_row=4, init=1, bias_row=bias_row))
    # an ADD's source and gates against its destination: apart, touching,
    # overlapping, identical
    for src_row, src_col in ((8, 0), (7, 0), (6, 3), (5, 0), (5, 5), (4, 4)):
        out.append(E(gisa.Op.ADD, dst_row=5, dst_col=0, src_row=src_row, src_col=src_col,
                     gate_row=0, rows=3, length=5))
    for gate_row, gate_col in ((4, 0), (5, 0), (7, 4), (8, 0), (6, 5)):
        out.append(E(gisa.Op.ADD, dst_row=5, dst_col=0, src_row=5, gate_row=gate_row,
                     gate_col=gate_col, rows=3, length=5))
    return out


def _exion_edges():
    """ExionCore's descriptors on both sides of their limits, a sparse GEMM
    with a bias, and each of them on the dense core."""
    E, O = gisa.encode, gisa.Op
    out = []
    for op, cols_of in ((O.GEMM_OS, "n"), (O.GEMM_IS, "k")):
        for mask_row, mask_col in ((EXION.mask_rows - 3, 0), (EXION.mask_rows - 2, 0),
                                   (0, EXION.width - 5), (0, EXION.width - 4)):
            dims = dict(m=3, n=4, k=4)
            out.append(E(op, **dims, mask_row=mask_row, mask_col=mask_col, invert=1))
        for init in range(4):
            out.append(E(op, m=2, n=2, k=2, init=init))
        out.append(E(op, m=2, n=0, k=2))
    for rows, length in ((0, 4), (3, 0), (EXION.mask_rows, 8), (EXION.mask_rows + 1, 8)):
        out.append(E(O.MASKGEN, rows=rows, length=length, threshold=5))
    for dst_col in (EXION.width - 8, EXION.width - 7):
        out.append(E(O.MASKGEN, rows=2, length=8, dst_col=dst_col))
    out.append(E(O.MASKGEN, rows=2, length=8, src_row=EXION.acc_rows - 1))
    return out


def _disc_edges():
    """DiscCore's gathers and scatters on both sides of their limits: an index
    list of a whole row and one past it, on the last row of ``ACC`` and past
    it, an empty table, a table ending on external memory's end and a byte
    past it, a gather into its own list and beside it."""
    E, O, B = gisa.encode, gisa.Op, gisa.Buffer
    out = []
    for op in (O.GATHER, O.SCATTER):
        for rows in (DISC.width, DISC.width + 1):
            out.append(E(op, buffer=B.ACT, rows=rows, cols=1, stride=1, limit=4))
        for idx_row in (DISC.acc_rows - 1, DISC.acc_rows):
            out.append(E(op, buffer=B.ACT, rows=2, cols=3, stride=3, limit=4, idx_row=idx_row))
        out.append(E(op, buffer=B.ACT, rows=2, cols=3, stride=3, limit=0))
        for extra in (0, 1):
            # the table's last row ends on the last byte, or one past it
            out.append(E(op, buffer=B.ACC, rows=2, cols=3, stride=16, limit=5,
                         dram=DISC.dram_bytes - (4 * 16 + 12) + extra))
    for row, col in ((4, 0), (5, 0), (3, 0), (4, 2), (4, 1)):
        # the list ACC[4, 0:2] against a gather into rows row..row+1 from col
        out.append(E(O.GATHER, buffer=B.ACC, row=row, col=col, rows=2, cols=2, stride=8,
                     limit=3, idx_row=4))
    # the K/V store's: each buffer, strides around powers of two and a
    # scatter's columns, a table ending on the store's end and past it
    for op in (O.KV_GATHER, O.KV_SCATTER):
        for buf in B:
            out.append(E(op, buffer=buf, rows=2, cols=3, stride=4, limit=4))
        for stride in (0, 1, 2, 3, 4, 6, 8, 1 << 15):
            out.append(E(op, buffer=B.WGT, rows=2, cols=4, stride=stride, limit=4))
        for rows in (DISC.width, DISC.width + 1):
            out.append(E(op, buffer=B.ACT, rows=min(rows, DISC.act_rows), cols=1, stride=1,
                         limit=4))
        out.append(E(op, buffer=B.ACT, rows=2, cols=3, stride=4, limit=0))
        for extra in (0, 1):
            out.append(E(op, buffer=B.ACT, rows=2, cols=3, stride=16, limit=5,
                         base=DISC.kv_bytes - (4 * 16 + 3) + extra))
    return out


@pytest.mark.parametrize("p", [SMALL, DISC], ids=["dense", "disc"])
def test_disc_edges(request, p):
    errors = _run_singly(p, _disc_edges(), _seed(request, 11))
    want = {gcore.Error.BAD_OP} if not p.disc else \
        {gcore.Error.NONE, gcore.Error.BAD_SHAPE, gcore.Error.BAD_RANGE, gcore.Error.OVERLAP,
         gcore.Error.BAD_BUFFER}
    assert errors == want


def _run_singly(p, words, seed):
    """Each descriptor of ``words`` as a program of its own, the decoder
    against the golden model; the errors that came up."""
    programs = [[word] for word in words]
    errors = set()
    for n, (program, (got, err, _)) in enumerate(
            zip(programs, run_programs(p, programs, seed))):
        want, (error, bad) = expected(p, program)
        assert got == want, f"descriptor {n}"
        assert err[0].value == error.value, f"descriptor {n}"
        errors.add(error)
    return errors


@pytest.mark.parametrize("p", [SMALL, EXION], ids=["dense", "exion"])
def test_exion_edges(request, p):
    errors = _run_singly(p, _exion_edges(), _seed(request, 9))
    # alone in its program, a well-formed sparse GEMM has no mask written
    want = {gcore.Error.BAD_OP} if not p.exion else \
        {gcore.Error.NONE, gcore.Error.BAD_SHAPE, gcore.Error.BAD_RANGE, gcore.Error.NO_MASK}
    assert errors == want


def _mask_programs(p):
    """Sparse GEMMs after the writes of ``MASK`` rows (each kind of writer,
    some of a row's columns, a malformed writer, a writer after the GEMM),
    with the golden model's verdict on each: ``NO_MASK`` exactly when some
    of the GEMM's mask rows were not written before it."""
    E, O, B = gisa.encode, gisa.Op, gisa.Buffer
    writers = {
        "load": lambda row, rows: E(O.LOAD, buffer=B.MASK, row=row, rows=rows, cols=8,
                                    stride=1),
        "load_cols": lambda row, rows: E(O.LOAD, buffer=B.MASK, row=row, col=8, rows=rows,
                                         cols=8, stride=1),
        "maskgen": lambda row, rows: E(O.MASKGEN, dst_row=row, rows=rows, length=4),
        "softmax": lambda row, rows: E(O.NONLINEAR, fn=int(gisa.Fn.SOFTMAX), rows=rows,
                                       length=4, aux_row=row),
    }
    out = []
    for name, write in writers.items():
        for op in (O.GEMM_OS, O.GEMM_IS):
            for row, m in ((2, 3), (1, 3), (2, 4), (4, 1), (5, 1), (p.mask_rows - 1, 1)):
                gemm = E(op, m=m, n=4, k=4, mask_row=row)
                out.append((name, [write(2, 3), gemm]))
            # two writes that together cover the rows; the later write is too late
            out.append((name, [write(0, 2), write(3, 2), E(op, m=5, n=4, k=4), write(2, 1)]))
            out.append((name, [write(0, 2), write(2, 1), write(3, 2), E(op, m=5, n=4, k=4)]))
    # a malformed writer writes nothing: the error is its own
    out.append(("bad_load", [E(O.LOAD, buffer=B.MASK, row=0, rows=2, cols=4, stride=1),
                             E(O.GEMM_IS, m=2, n=4, k=4)]))
    return out


def test_sparse_gemm_needs_its_mask_written(request):
    """``NO_MASK``: the decoder's bit per ``MASK`` row against the golden
    model's :func:`accepted`, for each kind of writer."""
    cases = _mask_programs(EXION)
    programs = [program for _, program in cases]
    seen = set()
    for (name, program), (got, err, _) in zip(cases, run_programs(EXION, programs,
                                                                   _seed(request, 13))):
        want, (error, bad) = expected(EXION, program)
        assert got == want, name
        assert (err[0].value, err[1] if bad is not None else None) == (error.value, bad), name
        seen.add((name, error))
    # every writer counts, and every writer leaves some GEMM short of its rows
    for name in ("load", "load_cols", "maskgen", "softmax"):
        assert {(name, gcore.Error.NONE), (name, gcore.Error.NO_MASK)} <= seen, name
    assert ("bad_load", gcore.Error.BAD_SHAPE) in seen


def test_edges(request):
    errors = _run_singly(SMALL, _edges(), _seed(request, 7))
    assert {gcore.Error.NONE, gcore.Error.BAD_SHAPE, gcore.Error.BAD_RANGE,
            gcore.Error.OVERLAP} <= errors
