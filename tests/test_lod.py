"""LOD: exhaustive checks in the Amaranth simulator, parameter validation,
and the golden model against its definition."""

import random

import numpy as np
import pytest

from exdisc.golden.lod import keep_leading_ones, leading_ones, leading_ones_array
from exdisc.hw.lod import LODParams, LeadingOneDetector
from exdisc.sim.harness.payload import unpack
from exdisc.sim.harness.pysim import run_stream_unit, run_testbenches


def _as_rtl(width, k, x):
    pos, found = leading_ones(x, width, k)
    return {"pos": list(pos), "found": sum(int(f) << j for j, f in enumerate(found))}


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("width", list(range(1, 13)))
def test_exhaustive_combinational(width, k):
    p = LODParams(width=width, k=k)
    dut = LeadingOneDetector(p)
    mismatches = []

    async def tb(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        for x in range(1 << width):
            ctx.set(dut.i.payload, x)
            got = unpack(p.result_layout, ctx.get(dut.o.payload.as_value()))
            if got != _as_rtl(width, k, x):
                mismatches.append((x, got))
            assert ctx.get(dut.o.valid) and ctx.get(dut.i.ready)

    run_testbenches(dut, tb, max_cycles=None)        # combinational: no clock
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:3]}"


@pytest.mark.parametrize("k", [1, 2])
def test_registered_stream_backpressure(k, seed):
    width = 12
    p = LODParams(width=width, k=k, registered=True)
    rng = random.Random(seed)
    xs = [rng.getrandbits(rng.randint(1, width)) for _ in range(600)]
    got, _ = run_stream_unit(LeadingOneDetector(p), {"i": xs}, len(xs), rng, valid_prob=0.7,
                             ready_prob=0.5, layout=p.result_layout, latency=p.latency)
    assert got == [_as_rtl(width, k, x) for x in xs]


def test_golden_definition_random(seed):
    """The vectorised model and the scalar one agree, and both satisfy the
    definition: bit pos0 set and nothing above, bit pos1 set and nothing
    between pos1 and pos0."""
    rng = np.random.default_rng(seed)
    width = 40
    xs = rng.integers(0, 1 << width, 4000, dtype=np.int64) >> rng.integers(0, width, 4000)
    pos, found = leading_ones_array(xs, width, 2)
    for x, p, f in zip(xs.tolist(), pos.tolist(), found.tolist()):
        assert (tuple(p), tuple(f)) == leading_ones(x, width, 2)
        assert f[0] == (x != 0)
        if f[0]:
            assert (x >> p[0]) == 1
        assert f[1] == (bin(x).count("1") >= 2)
        if f[1]:
            rest = x & ~(1 << p[0])
            assert (rest >> p[1]) == 1


def test_keep_leading_ones_error_bound(seed):
    """lod_k keeps the sign and truncates: |x| - |lod_k(x)| < 2**(e1 - k + 1),
    i.e. relative error below 50 % (k = 1) and 25 % (k = 2)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-(1 << 20), 1 << 20, 20000)
    for k, bound in [(1, 0.5), (2, 0.25)]:
        y = keep_leading_ones(x, k)
        assert np.all(np.sign(y) == np.sign(x))
        assert np.all(np.abs(y) <= np.abs(x))
        nz = x != 0
        assert np.all((np.abs(x[nz]) - np.abs(y[nz])) / np.abs(x[nz]) < bound)
        assert np.all(keep_leading_ones(y, k) == y)      # idempotent


@pytest.mark.parametrize("kwargs, exc, needle", [
    ({"width": 0}, ValueError, "'width'"),
    ({"width": 2000}, ValueError, "'width'"),
    ({"width": 16.0}, TypeError, "'width'"),
    ({"width": True}, TypeError, "'width'"),
    ({"k": 3}, ValueError, "'k'"),
    ({"registered": 1}, TypeError, "'registered'"),
])
def test_params_rejected(kwargs, exc, needle):
    with pytest.raises(exc) as info:
        LODParams(**kwargs)
    assert needle in str(info.value)
    assert repr(next(iter(kwargs.values()))) in str(info.value)


def test_params_frozen():
    p = LODParams()
    with pytest.raises(Exception):
        p.width = 8
    assert p.latency == 0 and LODParams(registered=True).latency == 1


def test_exhaustive_check_catches_broken_variant():
    """The simulator check is not vacuous: the mutant differs somewhere."""
    from lod_mutants import WrongSecondLOD
    width = 6
    p = LODParams(width=width, k=2)
    dut = WrongSecondLOD(p)
    bad = []

    async def tb(ctx):
        for x in range(1 << width):
            ctx.set(dut.i.payload, x)
            if unpack(p.result_layout, ctx.get(dut.o.payload.as_value())) != _as_rtl(width, 2, x):
                bad.append(x)

    run_testbenches(dut, tb, max_cycles=None)        # combinational: no clock
    assert bad


def test_keep_leading_ones_rounding(seed):
    """Rounding keeps at most k ones, is never further from x than truncation,
    and rounds half up at the lowest kept bit."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-(1 << 20), 1 << 20, 4000)
    for k in (1, 2):
        t = keep_leading_ones(x, k)
        r = keep_leading_ones(x, k, rounding="half_up")
        ones = np.array([bin(abs(int(v))).count("1") for v in r])
        assert ones.max() <= k and np.all(np.sign(r) == np.sign(t))
        assert np.all(np.abs(r - x) <= np.abs(t - x))
        assert np.abs(r - x).sum() < np.abs(t - x).sum()
    assert keep_leading_ones(np.array([127, 6, 5, -6, 3]), 2, rounding="half_up").tolist() == \
        [128, 6, 5, -6, 3]
    assert keep_leading_ones(np.array([6, 5, -6, 3, 1]), 1, rounding="half_up").tolist() == \
        [8, 4, -8, 4, 1]
    with pytest.raises(TypeError, match="'rounding'"):
        keep_leading_ones(np.array([1]), 1, rounding=1)
    with pytest.raises(ValueError, match="'rounding'.*'nearest'"):
        keep_leading_ones(np.array([1]), 1, rounding="nearest")


def _nearest_power_position(v):
    """By definition: the power of two nearest to v > 0, ties up."""
    lead = v.bit_length() - 1
    return lead + (1 if lead > 0 and (v >> (lead - 1)) & 1 else 0)


def _signed_by_definition(x, k):
    mag = abs(int(x))
    if mag == 0:
        return 0
    first = 1 << _nearest_power_position(mag)
    rest = mag - first
    kept = first
    if k == 2 and rest:
        kept += (1 if rest > 0 else -1) << _nearest_power_position(abs(rest))
    return kept if x > 0 else -kept


def test_keep_leading_ones_signed(seed):
    """The signed reduction against its definition (nearest power of two, then
    the nearest to the signed residual), and its error bounds: 1/3 with one
    power, 1/11 with two (the truncation's is almost 1/4)."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.arange(-300, 301), rng.integers(-(1 << 40), 1 << 40, 3000)])
    for k, bound in ((1, 1 / 3), (2, 1 / 11)):
        got = keep_leading_ones(x, k, rounding="signed")
        assert got.tolist() == [_signed_by_definition(v, k) for v in x.tolist()]
        nz = x != 0
        err = np.abs(got - x)[nz] / np.abs(x)[nz]
        assert err.max() <= bound + 1e-12
    assert keep_leading_ones(np.array([127, -96, 11, 1, 0]), 2, rounding="signed").tolist() == \
        [127, -96, 12, 1, 0]
