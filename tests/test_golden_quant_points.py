"""The core's number formats emulated in float, point by point, against the
float block and against the golden core model that has them in integers."""

import numpy as np
import pytest

from exdisc.golden import core, core_compile as cc, trace
from exdisc.golden.execution import Dense
from exdisc.golden.quant_points import PER_TOKEN, POINTS, QuantPoints, bfloat16


def _block(executor, layer=0, step=3):
    model = trace.model()
    x, c = trace.block_input(step=step, layer=layer)
    executor.reset(model, 25)
    return executor.block(model, layer, x, c), x


def _update_error(out, ref, x):
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref - x))


def test_no_point_is_the_float_block():
    got, _ = _block(QuantPoints(()))
    want, _ = _block(Dense())
    assert np.array_equal(got, want)


@pytest.mark.parametrize("layer, step", [(0, 3), (2, 9)])
def test_every_point_costs_what_the_golden_core_model_costs(layer, step):
    """With every point rounded, the block's error against float is the
    golden core model's within 5 %: the core's error is its formats (a point
    left out or in a wrong format moves it by more)."""
    model = trace.model()
    x, c = trace.block_input(step=step, layer=layer)
    ref, _ = _block(Dense(), layer, step)
    emulated, _ = _block(QuantPoints(), layer, step)
    comp = cc.compile_block(model, layer, x, c)
    integer = cc.block_output(comp, core.run(comp.program, comp.dram, comp.cfg))
    e, i = _update_error(emulated, ref, x), _update_error(integer, ref, x)
    print(f"layer {layer} step {step}: emulated {e:.4f}, golden core model {i:.4f}")
    assert abs(e - i) < 0.05 * i


def test_each_point_alone_moves_the_block():
    ref, x = _block(Dense())
    errors = {p: _update_error(_block(QuantPoints((p,)))[0], ref, x) for p in POINTS}
    print(errors)
    assert all(0 < e < 0.03 for e in errors.values()), errors
    # the points' errors are nearly independent: they add in quadrature
    everything = _update_error(_block(QuantPoints())[0], ref, x)
    assert 0.8 < everything / np.sqrt(sum(e * e for e in errors.values())) < 1.25


@pytest.mark.parametrize("point", PER_TOKEN)
def test_a_scale_per_token_costs_less_than_one_per_tensor(point):
    ref, x = _block(Dense())
    tensor = _update_error(_block(QuantPoints((point,)))[0], ref, x)
    token = _update_error(_block(QuantPoints((), per_token=(point,)))[0], ref, x)
    print(f"{point}: per tensor {tensor:.4f}, per token {token:.4f}")
    assert token < tensor


def test_bfloat16_rounds_to_nearest_even(seed):
    ulp = 2.0 ** -7
    x = np.array([1 + ulp / 2, 1 + 3 * ulp / 2, -(1 + ulp / 2 + 2.0 ** -20), 0.0],
                 dtype=np.float32)
    assert bfloat16(x).tolist() == [1.0, 1 + 2 * ulp, -(1 + ulp), 0.0]
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(10000) * 10.0 ** rng.integers(-5, 5, 10000)).astype(np.float32)
    r = bfloat16(x)
    assert not np.any(r.view(np.uint32) & 0xFFFF)
    down = (x.view(np.uint32) & 0xFFFF0000).view(np.float32)
    up = ((x.view(np.uint32) & 0xFFFF0000) + 0x10000).view(np.float32)
    # the nearer of the two neighbours; on a tie (random values meet some), the
    # one whose last bfloat16 bit is 0
    below, above = np.abs(x - down), np.abs(up - x)
    even = np.where((down.view(np.uint32) >> 16) & 1, up, down)
    nearer = np.where(below < above, down, np.where(below > above, up, even))
    assert np.array_equal(r, nearer)


def test_bfloat16_points_cost_less_than_int8():
    ref, x = _block(Dense())
    b16 = _update_error(_block(QuantPoints(fmt="bfloat16"))[0], ref, x)
    i8 = _update_error(_block(QuantPoints())[0], ref, x)
    assert 0 < b16 < i8 / 2


@pytest.mark.parametrize("kwargs, name", [
    ({"points": ("h1", "x")}, "points"),
    ({"points": "h1"}, "points"),
    ({"per_token": ("w_fc2",)}, "per_token"),
    ({"fmt": "int4"}, "fmt"),
    ({"per_token": ("g",), "fmt": "bfloat16"}, "per_token"),
    ({"prob_bits": 1}, "prob_bits"),
    ({"prob_bits": True}, "prob_bits"),
])
def test_parameters_are_checked(kwargs, name):
    with pytest.raises((TypeError, ValueError), match=f"^{name}: "):
        QuantPoints(**kwargs)
