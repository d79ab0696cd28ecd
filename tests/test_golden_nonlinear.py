"""The integer non-linear models against the float operations they replace,
and against exact rational arithmetic where they are exact."""

import math
from fractions import Fraction

import numpy as np
import pytest

from exdisc.golden import nonlinear as nl
from exdisc.golden.dit import gelu, layer_norm, softmax
from exdisc.golden.softmax_threshold import threshold_mask


def _round_half_up(f):
    return math.floor(f + Fraction(1, 2))


def test_requantize_is_exact_rounding_and_saturation(seed):
    rng = np.random.default_rng(seed)
    acc = rng.integers(-(1 << 31), 1 << 31, 2000)
    for mult, shift in [(1, 0), (65535, 63), (40000, 20), (12345, 7)]:
        got = nl.requantize(acc, mult, shift)
        want = [max(-127, min(127, _round_half_up(Fraction(int(a) * mult, 1 << shift))))
                for a in acc]
        assert got.tolist() == want


def test_isqrt_is_exact(seed):
    rng = np.random.default_rng(seed)
    v = np.concatenate([rng.integers(0, 1 << 62, 5000), np.arange(0, 5000),
                        np.array([(1 << 31) ** 2 - 1, (1 << 31) ** 2, 4 * (1 << 60) - 1])])
    assert nl.isqrt(v).tolist() == [math.isqrt(int(x)) for x in v]


def test_fixed_multiplier_is_normalised_and_close():
    for scale in [1e-6, 0.013, 0.5, 1.0, 3.7, 1000.0]:
        mult, shift = nl.fixed_multiplier(scale)
        assert 1 << 15 <= mult < 1 << 16
        assert abs(mult / 2 ** shift - scale) <= scale * 2 ** -16


def test_softmax_close_to_float_and_mask_as_defined(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2000, (200, 64)).astype(np.int64)
    unit = 1e-3
    theta = nl.theta_fixed(1e-3)
    p, keep, rm, rs, f = nl.softmax(x, *nl.softmax_params(unit), 1 << 15, 15, theta, full=True)
    ref = softmax(x * unit)
    # max-relative probabilities: within one step of 1/127 of the row maximum
    rel = ref / ref.max(axis=-1, keepdims=True)
    assert np.abs(p / 127 - rel).max() < 1.2 / 127
    # the row multiplier times the maximum's exponential normalises the row
    assert np.allclose(rm * 2.0 ** -rs, 2 ** 16 / f["S"], rtol=1e-4)
    # the mask is e > theta * S exactly, plus the first maximum
    exact = f["e"] * 2 ** 32 > theta * f["S"][:, None]
    np.put_along_axis(exact, np.argmax(x, axis=-1)[:, None], True, axis=-1)
    assert np.array_equal(keep, exact)
    # and agrees with the float mask nearly everywhere
    assert (keep != threshold_mask(ref, 1e-3)).mean() < 2e-3


@pytest.mark.parametrize("row", [[5] * 16, [-(1 << 31)] * 16, [7], list(range(16)),
                                 [(1 << 31) - 1] + [-(1 << 31)] * 15])
def test_softmax_edge_rows(row):
    x = np.array([row])
    p, keep, _, _ = nl.softmax(x, *nl.softmax_params(1e-3), theta_q=nl.theta_fixed(1e-3))
    ref = softmax(x * 1e-3)
    assert np.abs(p / 127 - ref / ref.max()).max() < 1.2 / 127
    assert keep[0, np.argmax(x)]


def test_gelu_within_one_step(seed):
    rng = np.random.default_rng(seed)
    acc = rng.normal(0, 3000, 20000).astype(np.int64)
    unit, out = 1e-3, 0.04
    y = nl.gelu(acc, *nl.gelu_params(unit, out))
    ref = np.clip(gelu(acc * unit) / out, -127, 127)
    # half a step of rounding, and the input's 2**-8 and the table's 1/64 steps
    assert np.abs(y - ref).max() <= 0.75
    assert np.mean(y == np.rint(ref)) > 0.95


def test_layer_norm_within_one_step(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1e6, (50, 64)).astype(np.int64)
    scale, shift = rng.normal(0, 0.3, 64), rng.normal(0, 0.5, 64)
    ref = layer_norm(x.astype(np.float64)) * (1 + scale) + shift
    out = float(np.abs(ref).max()) / 127
    gain, bias, mod_shift = nl.adaln_params(scale, shift, out)
    pre = max(0, int(np.abs(x).max()).bit_length() - 15)
    y = nl.layer_norm(x, pre, gain, bias, mod_shift)
    assert np.abs(y - ref / out).max() <= 0.6


def test_layer_norm_constant_row_gives_the_shift():
    gain, bias, mod_shift = nl.adaln_params(np.zeros(8), np.full(8, 0.5), 0.1)
    y = nl.layer_norm(np.full((1, 8), 12345), 0, gain, bias, mod_shift)
    assert y.tolist() == [[5] * 8]


@pytest.mark.parametrize("call, match", [
    (lambda: nl.requantize(np.array([1.5]), 1, 1), "acc"),
    (lambda: nl.requantize(np.array([1 << 31]), 1, 1), "acc"),
    (lambda: nl.requantize(np.array([1]), 1 << 16, 1), "requantize multiplier"),
    (lambda: nl.requantize(np.array([1]), 1, 64), "requantize shift"),
    (lambda: nl.softmax(np.zeros((2, 0), int), 1, 1), "scores"),
    (lambda: nl.softmax(np.zeros((1, 4), int), 1, 1, theta_q=1 << 32), "theta_q"),
    (lambda: nl.layer_norm(np.zeros((1, 4), int), 32, np.zeros(4, int), np.zeros(4, int), 3),
     "pre"),
    (lambda: nl.layer_norm(np.zeros((1, 4), int), 0, np.zeros(3, int), np.zeros(4, int), 3),
     "gain"),
    (lambda: nl.fixed_multiplier(0.0), "scale"),
    (lambda: nl.theta_fixed(1.0), "theta"),
    (lambda: nl.Format(exp_bits=40), "exp_bits"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
