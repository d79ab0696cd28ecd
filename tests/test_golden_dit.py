"""The shipped tiny DiT: NumPy forward pass against the torch fixture, sampler, data,
classifier, the workload run and the quantized traces cut from it."""

import json

import numpy as np
import pytest

from exdisc.golden import classifier, digits, trace, workload
from exdisc.golden.diffusion import ddim_timesteps, sample
from exdisc.golden.dit import WEIGHTS_DIR, DiT
from exdisc.golden.dit_config import DiTConfig, weight_shapes
from exdisc.golden.eager import predict_scores, theta_to_integer
from exdisc.golden.eager_rowselect import select_max_relative
from exdisc.golden.execution import Dense
from exdisc.golden.ffn_reuse import FFNReuse


@pytest.fixture(scope="module")
def model():
    return DiT.load()


def test_shipped_model_record(model):
    record = json.loads((WEIGHTS_DIR / "tiny_dit.json").read_text())
    assert model.cfg.tokens >= 256
    assert DiTConfig(**record["config"]) == model.cfg
    for key in ("seed", "threads", "steps", "batch", "lr"):
        assert key in record["hyperparameters"]
    assert "torch" in record["versions"]
    assert (WEIGHTS_DIR / "tiny_dit.npz").stat().st_size <= 20 * 2 ** 20
    with np.load(WEIGHTS_DIR / "tiny_dit.npz") as f:
        assert {k: f[k].shape for k in f.files} == weight_shapes(model.cfg)


def test_forward_matches_torch_fixture(model):
    with np.load(WEIGHTS_DIR / "tiny_dit_fixture.npz") as f:
        fx = dict(f)
    steps = sum(1 for k in fx if k.endswith("_out"))
    assert steps >= 2
    for i in range(steps):
        ex = Dense()
        ex.reset(model, 1)
        ex.begin_step(0, None)
        rec = []
        n = len(fx["labels"])
        t = np.full(n, fx["timesteps"][i])
        out = model.forward(fx[f"step{i}_x"], t, fx["labels"], ex, record=rec)
        blocks = fx[f"step{i}_blocks"]
        assert len(rec) == len(blocks) == model.cfg.depth + 1
        for got, want in zip(rec, blocks):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(out, fx[f"step{i}_out"], rtol=1e-4, atol=1e-4)


def test_sampler_is_deterministic_and_seeded(model):
    a, traj = sample(model, [0, 5], Dense(), steps=4, seed=11, trajectory=True)
    b, _ = sample(model, [0, 5], Dense(), steps=4, seed=11)
    c, _ = sample(model, [0, 5], Dense(), steps=4, seed=12)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert len(traj) == 4 and ddim_timesteps(model.cfg, 4) == [999, 666, 333, 0]
    with pytest.raises(ValueError, match="labels"):
        sample(model, [10], Dense(), steps=2)
    with pytest.raises(ValueError, match="steps"):
        sample(model, [1], Dense(), steps=0)


def test_digits_and_classifier():
    images, labels = digits.load()
    assert images.shape == (1797, 1, 32, 32) and images.min() >= -1 and images.max() <= 1
    small, _ = digits.load_small()
    np.testing.assert_allclose(digits.downsample(images[:50]), small[:50], atol=1e-5)
    clf = classifier.train()
    assert clf.test_accuracy >= 0.95
    assert clf is classifier.train()  # trained once per process


def test_workload_run_reports(model):
    suite = [("ffn_reuse", FFNReuse()), ("ffn_reuse/random-mask", FFNReuse(control=True))]
    report, images = workload.run(suite, per_class=1, steps=10, model=model)
    assert set(images) == {"dense", "ffn_reuse", "ffn_reuse/random-mask"}
    # the trained model draws the digits it is asked for (a sanity floor, not the benchmark)
    assert report["dense"]["accuracy"] >= 0.6
    real, control = report["results"]
    assert real["fc1_sparsity"] == pytest.approx(control["fc1_sparsity"])
    assert 0 < real["macs_skipped"] < 1 and real["mask_bytes"] > 0
    assert real["latent_error"] > 0
    assert sum(w["dense"] for w in real["work"]) == report["dense"]["macs"]


def test_ffn_trace_is_deterministic_and_consistent():
    a = trace.ffn_operands(step=3, layer=1)
    b = trace.ffn_operands(step=3, layer=1)
    for key in ("x", "w1", "w2", "mask", "mask_int", "threshold", "h"):
        assert np.array_equal(a[key], b[key])
    assert a["x"].dtype == np.int8 and a["w1"].shape == (a["x"].shape[1], a["w2"].shape[0])
    acc = a["x_dense"].astype(np.int64) @ a["w1"].astype(np.int64)
    assert np.array_equal(a["mask_int"], acc > a["threshold"])
    # the quantized mask is the float mask up to quantization error
    assert (a["mask_int"] == a["mask"]).mean() > 0.97
    assert 0.7 <= 1 - a["mask"].mean() <= 0.97
    with pytest.raises(ValueError, match="step"):
        trace.ffn_operands(step=0)


def test_prediction_trace_matches_executor():
    ops = trace.prediction_operands(step=2, layer=0)
    sp = predict_scores(ops["x"], ops["wq"][0], ops["wk"][0], 2, 2, ops["bq"][0], ops["bk"][0])
    assert sp.shape == (ops["x"].shape[0],) * 2
    th = theta_to_integer(4.0, ops["sq"][0], ops["sk"][0], ops["wq"][0].shape[1])
    keep = select_max_relative(sp, th)
    assert keep.any(-1).all()
    for key in ("q", "k", "v"):
        assert ops[key].dtype == np.int8


def test_ctr_and_st_traces():
    fresh = trace.fresh_tokens(steps=10)
    counts = {s: len(v) for s, v in fresh.items()}
    assert counts[0] == 256 and min(counts.values()) == 128
    keys = trace.kept_keys(layer=0, head=1, steps=10)
    assert sorted(keys) == [0, 1, 5]
    for rows in keys.values():
        assert len(rows) == 256 and all(len(r) >= 1 for r in rows)
