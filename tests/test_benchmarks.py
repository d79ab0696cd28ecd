"""The benchmark machinery measures what the golden models predict.

Functional checks of each benchmark path on small cases, not timed tests: the
figures themselves come from `exdisc bench ...` (records in docs/results/).
"""

import pytest

from exdisc.common.tables import Table
from exdisc.hw.systolic import SystolicParams


@pytest.mark.cocotb
def test_bench_systolic_matches_model():
    from exdisc.sim.benchmarks import systolic
    record = systolic.run([(4, 4)], [3, 4, 9], grid=2)
    rows = record["runs"][0]["rows"]
    for row in rows:
        assert row["matches_model"], row
        assert row["beats"] == row["tiles"] * row["k"]
    # K = 3 is shorter than max(R, C) = 4: the array must wait, and does.
    assert rows[0]["input_rate"] < 1.0 and rows[1]["input_rate"] == 1.0
    assert systolic.failures(record) == []
    assert [t.rows for t in systolic.tables(record)][0][0][:2] == ["4x4", 3]


@pytest.mark.cocotb
def test_bench_ffn_matches_model():
    """A sparse FFN step on a 4 x 4 array with merge lanes (first 10 tokens):
    every GEMM's measured cycles equal the golden cycle model's (the RTL words
    are checked inside the run), and the sparse GEMMs take fewer beats."""
    from exdisc.sim.benchmarks import ffn
    result = ffn.measure(SystolicParams(rows=4, cols=4, lanes=4, dsp_pes=6), tokens=10)
    runs = result["runs"]
    for name, r in runs.items():
        assert r["cycles"] == r["model_cycles"], (name, r)
    assert runs["fc1_sparse"]["beats"] < runs["fc1_dense"]["beats"]
    assert runs["fc2_sparse"]["beats"] < runs["fc2_dense"]["beats"]
    assert 0 < runs["fc1_sparse"]["cycles_cut"] < 1 and result["tokens"] == 10
    record = {"arrays": [result], "step": result["step"], "layer": result["layer"],
              "sparsity": result["sparsity"]}
    assert ffn.failures(record) == []
    result["runs"]["fc1_dense"]["cycles"] += 1
    assert ffn.failures(record), "a cycle count off the model is a failed check"


@pytest.mark.cocotb
def test_bench_router_measures_every_point():
    from exdisc.sim.benchmarks.router import TRACES, run
    record = run(2, per_lane=24, bank_factors=(2,), hashes=("modulo", "xor"), addr_width=12)
    runs = {(r["trace"], r["hash"]): r for r in record["runs"]}
    assert set(runs) == {(t, h) for t in TRACES for h in ("modulo", "xor")}
    for r in runs.values():
        assert r["requests"] == 2 * 24 and 0 < r["rate"] <= 1.0
        assert r["latency_p50"] >= 6
    # Stride of B words: one bank under modulo (one request per cycle for both
    # lanes together), every bank under xor.
    assert runs["stride_B", "modulo"]["rate"] <= 0.5 + 0.05
    assert runs["stride_B", "xor"]["rate"] > 0.9


def test_bench_nonlinear_rates_and_quality():
    """The rate measurement checks every output word, and the quality runs
    pair each replacement with the float run."""
    from exdisc.hw.nonlinear import NonLinearParams
    from exdisc.sim.benchmarks import nonlinear
    rates = nonlinear.rates(NonLinearParams(lanes=4, max_len=64), rows=3)
    assert {r["op"] for r in rates["rows"]} == {"softmax", "gelu", "requant", "layernorm",
                                                  "mixed"}
    for r in rates["rows"]:
        assert r["outputs_match"] and r["rate"] == 1.0 and r["latency"] > r["beats"] // r["rows"]
    assert nonlinear.failures({"rates": rates}) == []
    rates["rows"][0]["outputs_match"] = False
    assert nonlinear.failures({"rates": rates}), "a wrong word is a failed check"
    q = nonlinear.quality(per_class=1, steps=2)
    rows = {r["replaced"]: r for r in q["rows"]}
    assert set(rows) == {"softmax", "gelu", "layernorm", "requant", "all four"}
    assert rows["gelu"]["mask_rows_identical"] is None
    assert 0.9 < rows["softmax"]["mask_rows_identical"] <= 1.0
    assert all(0 <= r["digits_changed"] <= 1 and r["latent_error"] > 0 for r in rows.values())
    assert len(nonlinear.tables({"rates": rates, "quality": q})) == 2


def test_bench_core():
    """Every block of every step on the golden core model, paired with the
    float run; the work counted is the dense DiT's."""
    from exdisc.golden.execution import dense_macs
    from exdisc.golden.quant_points import PER_TOKEN, POINTS
    from exdisc.golden.trace import model
    from exdisc.sim.benchmarks import core
    q = core.quality(per_class=1, steps=2)
    cfg = model().cfg
    blocks = 2 * cfg.depth                      # two steps
    assert q["core"]["blocks"] == blocks
    # classifier-free guidance runs two sequences per sample
    assert q["core"]["macs"] == blocks * 2 * q["samples"] * sum(dense_macs(cfg).values())
    assert 0 < q["latent_error"] < 1 and 0 <= q["digits_changed"] <= 1
    # the formats emulated on the same samples: each row as its executor was built
    assert [f["label"] for f in q["formats"]] == [label for label, _ in core.EMULATED]
    every, *alone, per_token, b16 = q["formats"]
    assert [f["points"] for f in alone] == [[p] for p in POINTS]
    assert per_token["per_token"] == list(PER_TOKEN) and b16["fmt"] == "bfloat16"
    assert 0 < b16["latent_error"] < every["latent_error"] < 1
    assert all(0 < f["latent_error"] < every["latent_error"] for f in alone)
    cycles = core.cycles(lanes=(8, 16))
    assert [r["lanes"] for r in cycles["rows"]] == [8, 16]
    assert len(core.tables({"quality": q, "cycles": cycles})) == 3


def test_bench_exion_parts_and_sampling_run():
    """The FFN-Reuse programs of a block: FC1 and FC2 found in each (FC1
    output-sparse and FC2 input-sparse on the sparse steps, the cached
    partial on the dense steps), the mask at the policy's sparsity;
    attention found in each, under eager prediction's masks in the eager
    and EXION programs (scores output-sparse); sampling
    runs whose cycles are the steps' cycles weighed by the policy."""
    from exdisc.golden.core_isa import Op, decode
    from exdisc.hw.presets import get_preset
    from exdisc.sim.benchmarks import exion
    (_, p), = get_preset("exion")
    comps, mask, keep = exion._programs(p, 1, 3, 8, 0.9)
    assert abs(mask["fc1_sparsity"] - 0.9) < 0.01 < mask["fc1_sparsity"] - mask["fc1_sparsity_tau0"]
    # a tile holds a set bit when any of its columns does
    assert 1 - mask["fc1_sparsity"] < mask["columns_kept"] < mask["tiles_kept"] <= 1
    dims = exion._dims()
    parts = {k: [(exion._part(*decode(int(w)), dims), decode(int(w))[0]) for w in c.program]
             for k, c in comps.items()}
    chunks = 1                          # 8 tokens, the compiler's 8-row chunks
    assert parts["dense block"].count(("fc1", Op.GEMM)) == chunks
    assert parts["reuse dense step"].count(("fc2", Op.GEMM_IS)) == 2 * chunks
    assert parts["reuse sparse step"].count(("fc1", Op.GEMM_OS)) == chunks
    assert parts["reuse sparse step"].count(("fc2", Op.GEMM_IS)) == chunks
    assert parts["exion dense step"].count(("fc2", Op.GEMM_IS)) == 2 * chunks
    heads = 4
    for kind in exion.KINDS:
        eager = kind.startswith(("eager", "exion"))
        assert parts[kind].count(("attention", Op.GEMM_OS)) == (heads if eager else 0)
        assert parts[kind].count(("attention", Op.GEMM)) == (heads if eager else 2 * heads)
    # the masks of 8 tokens, as the eager block's GEMM_OS reads them
    assert 0 < keep["kept"] <= keep["union"] <= 1 and keep["theta"] == exion.EAGER_THETA
    runs = {k: {"cycles": 2 * (n + 1), "model": {"total": n + 1}} for n, k in enumerate(exion.KINDS)}
    record = {"step": 3, "sparsity_policy": 0.9, "runs": runs}
    s = exion.sampling_run(p, record, sampling_steps=7, period=3, warmup=1, tokens=8,
                           layers=(0, 3))
    assert [x["layer"] for x in s["layers"]] == [0, 3]
    assert s["dense_steps"] == 3 and s["calibration"]["reuse sparse step"] == 2.0
    assert s["cycles"] == sum(3 * x["reuse dense step"] + 4 * x["reuse sparse step"]
                              for x in s["layers"])
    assert s["exion_cycles"] == sum(3 * x["exion dense step"] + 4 * x["exion sparse step"]
                                    for x in s["layers"])
    assert s["dense_cycles"] == sum(7 * x["dense block"] for x in s["layers"])
    assert s["eager_cycles"] == sum(7 * x["eager block"] for x in s["layers"])


def test_bench_ctr_decisions_and_cycles():
    from exdisc.hw.ctr_select import CtrSelectParams
    from exdisc.sim.benchmarks import ctr_select
    p = CtrSelectParams(tokens=256, radix_bits=4)
    record = ctr_select.run(p, labels=[3], seeds=(1,), steps=8, per_class=1)
    assert record["tokens"] == sum(r["tokens"] for r in record["runs"]) > 0
    q = record["quality"]
    assert [r["label"] for r in q["runs"]] == ["ctr", "ctr, integer decision"]
    assert q["samples"] == 10 and 0 <= q["decisions_differ"] < 0.02
    c = record["cycles"]
    assert (c["decision"], c["step"]) == (c["decision_model"], c["step_model"])
    assert ctr_select.failures(record) == []
    assert all(t.rows for t in ctr_select.tables(record))
    broken = {**record, "cycles": {**c, "decision": c["decision"] + 1}}
    assert any("cycles" in f for f in ctr_select.failures(broken))


def test_conmerge_figures_are_ordered(seed):
    import numpy as np
    from exdisc.sim.benchmarks.conmerge import fc1_figures, fc2_figures
    rng = np.random.default_rng(seed)
    mask = rng.random((40, 96)) < 0.1
    mask[3, :40] = True            # one dense row: the row bound exceeds the plain one
    for f in (fc1_figures(mask, 8, 8, (2, 4)), fc2_figures(mask, 8, 8, (2, 4))):
        for d in (2, 4):
            assert f["bound"] < f["row_bound"] <= f[f"merged_d{d}"] <= f["condensed"] <= f["dense"]
    # FC2 beats: every set bit is computed once per beat it occupies.
    f2 = fc2_figures(mask, 8, 8, (1,))
    assert f2["merged_d1"] == f2["condensed"]


def test_router_traces_follow_the_word_width():
    """The gathers are cut into the router's words: a 4x narrower word is 4x
    the words over the same bytes; a word that does not divide a key is
    rejected by name."""
    from exdisc.hw.router import RouterParams
    from exdisc.sim.benchmarks.router import router_traces
    wide = router_traces(RouterParams(lanes=4, banks=8, addr_width=14, data_width=32), 64)
    narrow = router_traces(RouterParams(lanes=4, banks=8, addr_width=14, data_width=8), 256)
    for name in ("ctr", "st"):
        span_wide = max(max(lane) for lane in wide[name]) + 1
        span_narrow = max(max(lane) for lane in narrow[name]) + 1
        assert span_narrow == 4 * span_wide, name
    with pytest.raises(ValueError, match="data_width.*12"):
        router_traces(RouterParams(lanes=4, banks=8, addr_width=14, data_width=12), 16)


def test_reference_records_render():
    """Every committed reference record renders as tables (what `exdisc
    report --all` prints), so a record and its reader cannot drift apart."""
    import json
    from exdisc.common.workdir import reference_dir
    from exdisc.sim.benchmarks import (conmerge, core, ctr_select, disc, eager, exion, ffn,
                                       nonlinear, router, systolic, workload)
    from exdisc.synth import area
    readers = {"systolic": systolic.tables, "ffn": ffn.tables, "conmerge": conmerge.tables,
               "nonlinear": nonlinear.tables, "core": core.tables, "exion": exion.tables,
               "ctr": ctr_select.tables, "disc": disc.tables}
    seen = 0
    for path in sorted(reference_dir().glob("*.json")):
        record = json.loads(path.read_text())
        if path.stem.startswith("router_p"):
            tables = router.tables(record)
        elif path.stem.startswith("workload"):
            tables = workload.tables(record)
        elif path.stem == "eager":
            tables = eager.tables(record["quality"]) + area.tables(record["area"])
        else:
            tables = readers[path.stem](record)
        for t in tables:
            assert isinstance(t, Table) and t.rows and t.title
            assert all(len(r) == len(t.headers) for r in t.rows), path.name
            assert t.markdown().count("\n") >= len(t.rows) + 1
        seen += 1
    assert seen >= 8


def test_plots_have_titles_labels_and_legends(tmp_path):
    """The figures are readable: a title, labelled axes and a legend (read
    back from the figure), and the same data gives the same file."""
    from exdisc.sim.benchmarks import plots
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    captured = {}
    real_save = plots._save

    def keep(fig, path):
        ax = fig.axes[0]
        captured.update(title=ax.get_title(), ylabel=ax.get_ylabel(), xlabel=ax.get_xlabel(),
                        legend=[t.get_text() for t in ax.get_legend().get_texts()])
        return real_save(fig, path)

    plots._save = keep
    try:
        a = plots.grouped_bars(tmp_path / "a.png", ["ctr", "st"], {"xor, B = 16": [0.9, 1.0],
                               "modulo, B = 16": [0.5, 0.6]}, title="router", xlabel="trace",
                               ylabel="requests per lane per cycle", marks={"target": 0.95})
    finally:
        plots._save = real_save
    assert captured == {"title": "router", "ylabel": "requests per lane per cycle",
                        "xlabel": "trace", "legend": ["target", "xor, B = 16", "modulo, B = 16"]}
    b = plots.grouped_bars(tmp_path / "b.png", ["ctr", "st"], {"xor, B = 16": [0.9, 1.0],
                           "modulo, B = 16": [0.5, 0.6]}, title="router", xlabel="trace",
                           ylabel="requests per lane per cycle", marks={"target": 0.95})
    assert a.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and a.read_bytes() == b.read_bytes()
    plt.close("all")


def test_core_plot_draws_the_stored_record(monkeypatch, tmp_path):
    """The core's figure has a bar per operation and the block's wall-clock
    cycles, for the RTL run and its cycle model; without an RTL run, the
    model for each non-linear width."""
    import json
    from exdisc.sim.benchmarks import core, plots
    from exdisc.common.workdir import reference_dir
    record = json.loads((reference_dir(required=True) / "core.json").read_text())
    drawn = []
    monkeypatch.setattr(plots, "grouped_bars",
                        lambda path, groups, series, **kw: drawn.append((groups, series, kw)))
    core.plot(record, tmp_path / "core.png")
    groups, series, kw = drawn.pop()
    assert set(groups) == set(record["rtl"]["by_op"]) | {"block (wall)"}
    assert series["RTL"][groups.index("GEMM")] == record["rtl"]["by_op"]["GEMM"]
    assert series["RTL"][-1] == record["rtl"]["cycles"]
    assert series["cycle model"][-1] == record["rtl"]["model"]["total"]
    assert kw["title"] and kw["ylabel"]
    core.plot({"cycles": record["cycles"]}, tmp_path / "core.png")
    groups, series, _ = drawn.pop()
    assert len(series) == len(record["cycles"]["rows"])
    assert all(v[-1] == x["total"] for v, x in zip(series.values(), record["cycles"]["rows"]))


def test_bench_disc_parts_and_sampling_run():
    """CTR's and ST's programs of a block: every descriptor but SET in a
    part; CTR's reuse step gathers its fresh rows and scatters their keys,
    values and outputs, and its row-wise GEMMs are the dense block's on
    fewer rows; ST's reuse step gathers each head's and row tile's kept keys
    and values, as many as the tile's union of kept keys; the buffers sized
    for the block hold all five programs; sampling runs whose cycles are the
    steps' cycles weighed by CTR's full and reuse steps and ST's generate
    and reuse steps."""
    import numpy as np
    from exdisc.golden.core_isa import Op, decode
    from exdisc.sim.benchmarks import disc
    p = disc.params_for(16)
    comps, keep = disc._programs(p, 1, 3, 16)
    # the buffers hold ST's reuse step with every tile gathered from the K/V
    # store too (at 64 tokens: eight chunks' lists for its scatters)
    everything, _ = disc._programs(disc.params_for(64), 1, 3, 64, gather_below=np.inf)
    assert any(op == Op.KV_GATHER for op, _ in map(decode, everything["st reuse step"].program))
    dims = disc._dims()
    fresh = disc._fresh(comps["ctr reuse step"])
    assert fresh == 8                   # half of them, as the float CTR's share of fresh tokens
    assert 0.3 < keep.mean() < 1
    # the keys of the row tiles of the heads whose tiles keep few enough to gather
    from exdisc.golden.core_compile import GATHER_BELOW
    R = p.array_rows
    unions = [[keep[:, h, u:u + R].any(axis=(0, 1)).sum() for u in range(0, 16, R)]
              for h in range(keep.shape[1])]
    gathered = sum(sum(u) for u in unions if np.mean(u) < GATHER_BELOW * 16)
    for kind, comp in comps.items():
        decoded = [decode(int(w)) for w in comp.program]
        parts = [disc._part(op, f, dims) for op, f in decoded]
        assert all(part is not None or op in (Op.SET, Op.FINISH)
                   for part, (op, _) in zip(parts, decoded)), kind
        gemm_rows = sum(f["m"] for (op, f), part in zip(decoded, parts)
                        if op == Op.GEMM and part == "row-wise")
        # QKV, projection, FC1, FC2: each on every computed row
        assert gemm_rows == 4 * (fresh if kind == "ctr reuse step" else 16), kind
        moved = {part: sum(f["rows"] for (op, f), x in zip(decoded, parts)
                           if x == part and op in (Op.GATHER, Op.SCATTER, Op.KV_GATHER))
                 for part in ("token cache", "kept-key gathers")}
        assert moved == {"token cache": 4 * fresh if kind == "ctr reuse step" else 0,
                         "kept-key gathers": 2 * gathered if kind == "st reuse step" else 0}, kind
    runs = {k: {"cycles": 2 * (n + 1), "model": {"total": n + 1}}
            for n, k in enumerate(disc.KINDS)}
    record = {"step": 3, "tokens": 16, "runs": runs}
    s = disc.sampling_run(p, record, sampling_steps=10, layers=(0, 2))
    assert [x["layer"] for x in s["layers"]] == [0, 2]
    assert (s["full_steps"], s["generate_steps"]) == (3, 3)
    assert s["calibration"]["ctr reuse step"] == 2.0
    assert s["cycles"] == sum(3 * x["ctr full step"] + 7 * x["ctr reuse step"]
                              for x in s["layers"])
    assert s["st_cycles"] == sum(3 * x["st generate step"] + 7 * x["st reuse step"]
                                 for x in s["layers"])
    assert s["dense_cycles"] == sum(10 * x["dense block"] for x in s["layers"])


def test_bench_disc_router_programs_gather_the_real_lists():
    """The router's measurement: CTR's fresh lists of the recorded run and
    ST's row tiles' kept keys; its program scatters every key row into the
    K/V store and gathers and stores each list's rows, which the golden
    core model finds are the lists' tokens' rows (its columns, from its base)."""
    import numpy as np
    from exdisc.golden import core as gcore
    from exdisc.sim.benchmarks import disc
    big = disc.params_for(16)
    p = disc.router_params(big)
    # the router measured is the one asked for (exdisc bench disc --kv-banks)
    assert p.kv_banks == 16
    assert disc.router_params(disc.params_for(16, kv_banks=8)).kv_banks == 8
    lists = disc._router_lists(big, 1, 3, 16)
    assert lists["ctr"] and all(0 < len(t) < 256 and cols == 64 for t, _, cols in lists["ctr"])
    assert {cols for _, _, cols in lists["st"]} == {16}
    entries = lists["ctr"][:2] + lists["st"][:3]
    comp = disc._router_program(p, entries, 256, seed=1)
    r = gcore.run(comp.program, comp.dram, comp.cfg, check=True)
    keys = comp.dram[0, :256 * 64].reshape(256, 64)
    at = 256 * 64 + 4 * 256 + 4 * 256 * len(entries)
    for index, base, cols in entries:
        got = r.dram[0, at:at + len(index) * cols].reshape(len(index), cols)
        np.testing.assert_array_equal(got, keys[index, base:base + cols])
        at += len(index) * cols
