"""The four algorithm golden models: their degenerate cases and self-checks.

These run on a small random-weight DiT (fast); quality on the trained model
is a benchmark (``exdisc workload``), not a test.
"""

import inspect

import numpy as np
import pytest

from exdisc.golden.ctr import CachedTokenReuse, choose_fresh, patch_mask, token_change
from exdisc.golden.diffusion import sample
from exdisc.golden.dit import DiT, gelu
from exdisc.golden.dit_config import DiTConfig
from exdisc.golden.eager import EagerPrediction, predict_scores
from exdisc.golden.eager_logdot import accumulator_bits, log_dot, log_matmul, log_split
from exdisc.golden.eager_rowselect import select_max_relative, select_top_k
from exdisc.golden.execution import Dense
from exdisc.golden.ffn_reuse import FFNReuse
from exdisc.golden.lod import leading_ones_array
from exdisc.golden.quant import QMAX, quantize
from exdisc.golden.mask_gen import fc1_integer_threshold, gelu_inverse
from exdisc.golden.softmax_threshold import (PROFILE_THETAS, AttentionProfile, SoftmaxThreshold,
                                             mask_bytes, threshold_mask)

CFG = DiTConfig(image_size=16, hidden=32, depth=2, heads=2)
STEPS = 8
LABELS = [1, 7]


@pytest.fixture(scope="module")
def small():
    # larger weights than DiT.random's default, so attention is not flat
    model = DiT.random(CFG, seed=3, std=0.15)
    ref, _ = sample(model, LABELS, Dense(), steps=STEPS)
    return model, ref


def run(model, executor):
    z, _ = sample(model, LABELS, executor, steps=STEPS)
    return z


# -- FFN-Reuse ------------------------------------------------------------------------------

def test_ffn_reuse_fc2_variants_agree(small):
    model, _ = small
    cached, merged = FFNReuse(), FFNReuse(fc2="merged")
    # float32 sums in a different order over 8 steps: equal to float32 precision
    np.testing.assert_allclose(run(model, cached), run(model, merged), rtol=1e-4, atol=1e-4)
    assert cached.totals(("fc2",))[1] < merged.totals(("fc2",))[1]


@pytest.mark.parametrize("executor", [FFNReuse(tau=-1e9), FFNReuse(period=1),
                                      FFNReuse(sparsity=0.0, tau=-1.0)])
def test_ffn_reuse_degenerate_is_dense(small, executor):
    model, ref = small
    assert np.array_equal(run(model, executor), ref)


def test_ffn_reuse_sparsity_monotonic_in_tau(small):
    model, _ = small
    sparsity = []
    for tau in (-0.1, 0.0, 0.05, 0.1, 0.3):
        ex = FFNReuse(tau=tau)
        run(model, ex)
        sparsity.append(ex.summary()["fc1_sparsity"])
    assert sparsity == sorted(sparsity) and sparsity[0] < sparsity[-1]


def test_ffn_reuse_counts_and_control(small, seed):
    model, _ = small
    real, control = FFNReuse(sparsity=0.8), FFNReuse(sparsity=0.8, control=True, seed=seed)
    run(model, real)
    run(model, control)
    # Both keep the quantile's fraction; the control's activations are its own, so ties at
    # the quantile (GELU's flat negative tail) may differ by a few elements between the runs.
    assert real.summary()["fc1_sparsity"] == pytest.approx(control.summary()["fc1_sparsity"],
                                                           abs=1e-3)
    ffn_done = real.totals(("fc1",))[1]
    dense_steps = sum(real.is_dense_step(s) for s in range(STEPS))
    per_step = 2 * len(LABELS) * CFG.tokens * CFG.hidden * CFG.ffn_dim
    expected = dense_steps * CFG.depth * per_step + sum(
        d * per_step for s, _, d in real.stats["density"])
    assert ffn_done == pytest.approx(expected, rel=1e-9)


def test_ffn_reuse_control_shuffles_the_real_mask(seed):
    # the control keeps exactly as many activations per sequence as the threshold would,
    # elsewhere: algorithms.md's control, checked on the same activations
    rng = np.random.default_rng(seed)
    act = gelu(rng.standard_normal((3, 16, 64)).astype(np.float32))
    act[1, :4] = act[1, 0, 0]                      # ties at the quantile
    real, control = FFNReuse(sparsity=0.7), FFNReuse(sparsity=0.7, control=True, seed=seed)
    control.step = real.step = 5
    want, tau = real.make_mask(1, act)
    got, tau_c = control.make_mask(1, act)
    np.testing.assert_array_equal(tau, tau_c)
    np.testing.assert_array_equal(got.sum(axis=(1, 2)), want.sum(axis=(1, 2)))
    assert not np.array_equal(got, want)


def test_ffn_reuse_rejects_bad_parameters():
    with pytest.raises(ValueError, match="period"):
        FFNReuse(period=0)
    with pytest.raises(ValueError, match="sparsity"):
        FFNReuse(sparsity=1.0)
    with pytest.raises(ValueError, match="fc2"):
        FFNReuse(fc2="lazy")
    with pytest.raises(TypeError, match="tau"):
        FFNReuse(tau="0.1")


# -- quantization and the integer FC1 threshold --------------------------------------------

def test_quantize_symmetric(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 3, (5, 7))
    q, s = quantize(x)
    assert q.dtype == np.int8 and q.min() >= -QMAX and q.max() <= QMAX
    assert np.abs(q).max() == QMAX
    assert np.abs(q * s - x).max() <= s.max() / 2 + 1e-12


def test_gelu_inverse():
    y = np.array([0.0, 0.01, 0.5, 2.0])
    np.testing.assert_allclose(gelu(gelu_inverse(y)), y, atol=1e-9)
    assert gelu_inverse(np.array(-0.5)) == -np.inf


@pytest.mark.parametrize("tau", [-0.2, 0.0, 0.03, 0.4, 1.7])
def test_fc1_integer_threshold_is_exact(tau, seed):
    rng = np.random.default_rng(seed)
    bias = rng.normal(0, 0.5, 16)
    scale = 1e-3
    acc = np.arange(-3000, 3001)[:, None]
    pre = scale * acc + bias
    thr = fc1_integer_threshold(tau, bias, scale)
    on_branch = pre > -0.75  # the monotonic branch, where the hardware's comparison is defined
    assert np.array_equal((gelu(pre) > tau)[on_branch], (acc > thr)[on_branch])


# -- eager prediction -----------------------------------------------------------------------

def _log_dot_by_definition(a, b, k, width=8):
    pa, fa = leading_ones_array(np.abs(a), width, k)
    pb, fb = leading_ones_array(np.abs(b), width, k)
    pos = neg = 0
    for i in range(len(a)):
        sign = np.sign(a[i]) * np.sign(b[i])
        for p, f in zip(pa[i], fa[i]):
            for q, g in zip(pb[i], fb[i]):
                if f and g:
                    if sign > 0:
                        pos += 1 << int(p + q)
                    elif sign < 0:
                        neg += 1 << int(p + q)
    return pos, neg


@pytest.mark.parametrize("k", [1, 2])
def test_log_product_exhaustive_int8(k):
    a = np.arange(-QMAX, QMAX + 1)
    for b in range(-QMAX, QMAX + 1, 3):
        bb = np.full_like(a, b)
        pos, neg = log_split(a[:, None], bb[:, None], k)
        want = np.array([_log_dot_by_definition([x], [b], k) for x in a])
        assert np.array_equal(pos, want[:, 0]) and np.array_equal(neg, want[:, 1])


@pytest.mark.parametrize("k", [1, 2])
def test_log_dot_and_matmul(k, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-QMAX, QMAX + 1, (6, 64))
    b = rng.integers(-QMAX, QMAX + 1, (64, 5))
    mm = log_matmul(a, b, k)
    for i in range(6):
        for j in range(5):
            pos, neg = _log_dot_by_definition(a[i], b[:, j], k)
            assert mm[i, j] == log_dot(a[i], b[:, j], k) == pos - neg
            assert max(pos, neg) < 1 << accumulator_bits(7, 64, k)


def test_log_matmul_exact_beyond_float():
    # operands whose products need more than 53 bits must still be exact
    a = np.array([[2 ** 40 + 2 ** 39, 2 ** 40]], dtype=np.int64)
    b = np.array([[2 ** 20 + 1], [-(2 ** 20)]], dtype=np.int64)
    want = (2 ** 40 + 2 ** 39) * (2 ** 20 + 1) - 2 ** 40 * 2 ** 20
    assert log_matmul(a, b, 2)[0, 0] == want


def test_select_top_k_ties_and_max_relative(seed):
    rng = np.random.default_rng(seed)
    for _ in range(100):
        sp = rng.integers(-4, 5, (3, 19))
        k = int(rng.integers(1, 20))
        order = np.argsort(-sp, axis=-1, kind="stable")[:, :k]
        want = np.zeros(sp.shape, dtype=bool)
        np.put_along_axis(want, order, True, axis=-1)
        assert np.array_equal(select_top_k(sp, k), want)
        theta = int(rng.integers(0, 6))
        assert np.array_equal(select_max_relative(sp, theta),
                              sp >= sp.max(-1, keepdims=True) - theta)


@pytest.mark.parametrize("rounding", ["truncate", "half_up", "signed"])
def test_predict_scores_is_two_stage(rounding, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-QMAX, QMAX + 1, (10, 32))
    wq, wk = rng.integers(-QMAX, QMAX + 1, (2, 32, 8))
    sp = predict_scores(x, wq, wk, 2, 1, rounding=rounding)
    qp, kp = (log_matmul(x, w, 2, rounding) for w in (wq, wk))
    assert np.array_equal(sp, log_matmul(qp, kp.T, 1, rounding))


def test_predictor_default_is_signed():
    """The predictor's default reduction is the signed one (this project's
    change to the spec's truncation), in the golden model and the RTL."""
    from exdisc.golden.lod import ROUNDINGS
    from exdisc.hw.eager_logdot import ROUNDINGS as RTL_ROUNDINGS, LogDotParams
    from exdisc.hw.eager_predictor import EagerParams
    assert RTL_ROUNDINGS == ROUNDINGS   # hw does not import golden: one list each
    assert EagerPrediction().rounding == "signed"
    assert EagerParams().rounding == LogDotParams().rounding == "signed"
    assert inspect.signature(predict_scores).parameters["rounding"].default == "signed"


def test_eager_keeps_all_is_dense(small):
    model, ref = small
    ex = EagerPrediction(theta=1e9)
    assert np.allclose(run(model, ex), ref, atol=1e-6)
    assert ex.summary()["attention_sparsity"] == 0.0


def test_eager_two_ones_recall_better(small):
    model, _ = small
    k1, k2 = EagerPrediction(k1=1, k2=1, top_k=8), EagerPrediction(top_k=8)
    run(model, k1)
    run(model, k2)
    assert k2.summary()["recall"] > k1.summary()["recall"]


# -- CTR ------------------------------------------------------------------------------------

def test_ctr_no_reuse_is_dense(small):
    model, ref = small
    assert np.array_equal(run(model, CachedTokenReuse(reuse=0.0)), ref)


def test_ctr_token_selection(seed):
    rng = np.random.default_rng(seed)
    change = rng.random((3, 64))
    fresh = choose_fresh(change, 0.25)
    assert (fresh.sum(1) == 48).all()
    for row, f in zip(change, fresh):
        assert row[~f].max() < row[f].min()  # the least-changed are the reused ones
    assert np.array_equal(choose_fresh(change, 0.25, least_changed=False), choose_fresh(-change, 0.25))
    dz = rng.normal(size=(1, 1, 4, 4))
    m = token_change(dz, 2)
    assert m[0, 1] == pytest.approx(np.abs(dz[0, 0, :2, 2:]).mean())


def test_ctr_reuse_counts(small):
    model, _ = small
    ex = CachedTokenReuse(reuse=0.5)
    run(model, ex)
    s = ex.summary()
    assert s["reuse_ratio"] == pytest.approx(0.5)
    # on a partial step every GEMM does half the work
    partial = [st for st in range(STEPS) if st not in ex.full_steps]
    for st in partial:
        dense, done = (sum(ex.work[(st, l, op)][i] for l in range(CFG.depth) for op in ("fc1",))
                       for i in (0, 1))
        assert done * 2 == dense


def _ctr_at_step(model, step, **params):
    """A CTR executor reset for ``STEPS`` steps, past its full steps, at ``step``."""
    ex = CachedTokenReuse(**params)
    ex.reset(model, STEPS)
    assert step not in ex.full_steps
    return ex


@pytest.mark.parametrize("staleness", ["history", "exp"])
@pytest.mark.parametrize("least_changed", [True, False])
def test_ctr_staleness_makes_a_token_fresh_in_either_direction(small, seed, least_changed,
                                                               staleness):
    # every token changed alike: the staleness term alone decides, and it must
    # recompute the tokens reused longest, whichever tokens the metric reuses
    model, _ = small
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    t = CFG.tokens
    ex = _ctr_at_step(model, STEPS - 1, starve=0.5, least_changed=least_changed,
                      staleness=staleness)
    ex.ref = np.zeros((1, CFG.channels, CFG.image_size, CFG.image_size))
    ex.stale = rng.permutation(t)[None]
    ex.history = ex.stale * 0.1
    z = ex.ref + 1.0
    fresh = choose_fresh(ex.score(STEPS - 1, z), 0.5)
    assert np.array_equal(fresh[0], ex.stale[0] >= t // 2)


def test_ctr_age_control_recomputes_the_oldest_caches(small, seed):
    model, _ = small
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    t = CFG.tokens
    ex = _ctr_at_step(model, STEPS - 1, control="age", seed=seed)
    ex.ref = rng.normal(size=(1, CFG.channels, CFG.image_size, CFG.image_size))
    ex.stale = rng.integers(0, 3, (1, t))
    fresh = choose_fresh(ex.score(STEPS - 1, ex.ref), 0.3)
    assert fresh.sum() == t - round(0.3 * t)
    assert ex.stale[fresh].min() >= ex.stale[~fresh].max()


def test_ctr_state_follows_its_definition(small):
    # the reference latent of each token's last fresh step, the steps since
    # fresh and the decayed reuse history, recomputed from the fresh masks
    model, _ = small
    ex = CachedTokenReuse(reference="fresh", decay=0.5)
    seen = []
    begin = ex.begin_step

    def record(step, z):
        begin(step, z)
        seen.append((z.copy(), ex.fresh[:len(z)].copy(), ex.ref.copy(), ex.stale.copy(),
                     ex.history.copy()))
    ex.begin_step = record
    run(model, ex)
    last, stale, history = seen[0][0], 0, 0.0
    for z, fresh, ref, ex_stale, ex_history in seen:
        last = np.where(patch_mask(fresh, CFG.patch), z, last)
        stale = np.where(fresh, 0, stale + 1)
        history = 0.5 * history + ~fresh
        assert np.array_equal(ref, last)
        assert np.array_equal(ex_stale, stale) and np.array_equal(ex_history, history)
    assert any(not f.all() for _, f, *_ in seen)


# -- ST -------------------------------------------------------------------------------------

def test_st_keep_all_is_dense(small):
    model, ref = small
    assert np.array_equal(run(model, SoftmaxThreshold(theta=0.0)), ref)


def test_st_masks(seed):
    rng = np.random.default_rng(seed)
    s = rng.normal(0, 3, (2, 16, 16))
    p = np.exp(s) / np.exp(s).sum(-1, keepdims=True)
    keep = threshold_mask(p, 0.05)
    assert keep.any(-1).all() and (keep == ((p > 0.05) | (p == p.max(-1, keepdims=True)))).all()
    blocked = threshold_mask(p, 0.05, block=4)
    assert (blocked >= keep).all()
    assert mask_bytes(256, 4) == 4 * 256 * 256 // 8 and mask_bytes(256, 4, 4) == 4 * 64 * 64 // 8


def test_st_reuse_saves_work(small):
    model, ref = small
    ex = SoftmaxThreshold(theta=1e-2, period=4)
    z = run(model, ex)
    assert ex.summary()["attention_macs_skipped"] > 0
    assert np.linalg.norm(z - ref) / np.linalg.norm(ref) < 0.5


def test_attention_profile_of_uniform_and_real_heads(small):
    model, _ = small
    prof = AttentionProfile()
    run(model, prof)
    real = prof.summary()["attention_profile"]
    kept, dropped = np.array(real["kept"]), np.array(real["dropped"])
    assert (np.diff(kept, axis=0) <= 1e-12).all() and (np.diff(dropped, axis=0) >= -1e-12).all()
    assert (np.array(real["entropy"]) < 1).all() and (kept > 0).all()
    # a row tile keeps at least what its queries keep, a larger tile more
    union = np.array(real["union"])
    assert (union[0] >= kept - 1e-9).all() and (union[1] >= union[0] - 1e-9).all()
    assert (union[1] > kept + 1e-3).any()
    # with Q and K zero every row is uniform: entropy 1; a threshold below 1/T
    # keeps every entry, one above keeps the argmax alone
    flat = DiT(dict(model.w), CFG)
    for layer in range(CFG.depth):
        flat.w[f"blocks.{layer}.qkv.weight"] = model.w[f"blocks.{layer}.qkv.weight"].copy()
        flat.w[f"blocks.{layer}.qkv.weight"][:2 * CFG.hidden] = 0
        flat.w[f"blocks.{layer}.qkv.bias"] = model.w[f"blocks.{layer}.qkv.bias"].copy()
        flat.w[f"blocks.{layer}.qkv.bias"][:2 * CFG.hidden] = 0
    prof = AttentionProfile()
    run(flat, prof)
    uniform = prof.summary()["attention_profile"]
    t = CFG.tokens
    np.testing.assert_allclose(uniform["entropy"], 1.0, atol=1e-4)
    for theta, kept, dropped in zip(PROFILE_THETAS, uniform["kept"], uniform["dropped"]):
        want = (1.0, 0.0) if theta < 1 / t else (1 / t, 1 - 1 / t)
        np.testing.assert_allclose(kept, want[0], atol=1e-4)
        np.testing.assert_allclose(dropped, want[1], atol=1e-4)
    # every uniform row's argmax is its first key: a tile keeps all or just it
    for theta, *tiles in zip(PROFILE_THETAS, *uniform["union"]):
        for tile in tiles:
            np.testing.assert_allclose(tile, 1.0 if theta < 1 / t else 1 / t, atol=1e-4)


def test_bad_parameters_named():
    for make, name in ((lambda: CachedTokenReuse(reuse=1.5), "reuse"),
                       (lambda: CachedTokenReuse(metric="max"), "metric"),
                       (lambda: CachedTokenReuse(reference="last"), "reference"),
                       (lambda: CachedTokenReuse(control="oldest"), "control"),
                       (lambda: CachedTokenReuse(staleness="linear"), "staleness"),
                       (lambda: CachedTokenReuse(decay=1.5), "decay"),
                       (lambda: CachedTokenReuse(weight=-1), "weight"),
                       (lambda: SoftmaxThreshold(period=0), "period"),
                       (lambda: SoftmaxThreshold(theta=2), "theta"),
                       (lambda: EagerPrediction(k1=3), "k1"),
                       (lambda: EagerPrediction(select="all"), "select")):
        with pytest.raises(ValueError, match=name):
            make()
    with pytest.raises(ValueError, match="block"):
        sample(DiT.random(CFG), LABELS, SoftmaxThreshold(block=3), steps=2)
