"""The exdisc command: outputs, errors (one line, status 2), exit statuses,
subcommands with their own options, JSON on stdout, determinism."""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def exdisc(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "exdisc", *args], capture_output=True,
                          text=True, env=env, cwd=cwd or ROOT)


def test_generate_is_deterministic_across_processes(tmp_path):
    outs = []
    for n, hashseed in enumerate(["1", "2"]):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        r = exdisc("generate", "lod", "--width", "16", "--k", "2", "-o", str(tmp_path / str(n)),
                   env=env)
        assert r.returncode == 0, r.stderr
        assert "lod_width16_k2_registered0.v" in r.stdout
        outs.append({p.name: p.read_bytes() for p in (tmp_path / str(n)).iterdir()})
    assert outs[0] == outs[1]
    verilog = outs[0]["lod_width16_k2_registered0.v"].decode()
    assert "module lod_width16_k2_registered0(" in verilog
    assert str(ROOT) not in verilog      # no checkout-specific paths
    assert "exdisc/hw/lod.py" in verilog  # the unit's source, named as installed


def test_generate_differs_with_parameters(tmp_path):
    exdisc("generate", "lod", "--width", "16", "--k", "1", "-o", str(tmp_path))
    exdisc("generate", "lod", "--width", "16", "--k", "2", "-o", str(tmp_path))
    a = (tmp_path / "lod_width16_k1_registered0.v").read_text()
    b = (tmp_path / "lod_width16_k2_registered0.v").read_text()
    assert a != b


@pytest.mark.parametrize("args, needle", [
    (["generate", "nosuchunit"], "invalid choice: 'nosuchunit'"),
    (["generate", "lod", "--width", "0"], "option --width must be at least 1, not 0"),
    (["generate", "lod", "--width", "x"], "argument --width: invalid int value: 'x'"),
    (["generate", "lod", "--k", "3"], "argument --k: invalid choice: 3 (choose from 1, 2)"),
    (["synth", "lod", "--width", "-4"], "option --width must be at least 1, not -4"),
    (["generate", "systolic", "--dsp-pes", "17"], "option --dsp-pes must be at most 16, not 17"),
    (["generate", "systolic", "--dsp-pes", "some"],
     "argument --dsp-pes: expected an integer or 'auto', not 'some'"),
    (["generate", "systolic", "--acc-width", "8"], "option --acc-width must be at least 16"),
    (["flow", "--preset", "nosuch"], "argument --preset: invalid choice: 'nosuch'"),
    (["generate", "lod", "--format", "vhdl"], "argument --format: expected verilog, rtlil"),
    ([], "required"),
    (["workload", "--steps", "0"], "argument --steps: expected a positive integer, not '0'"),
    (["workload", "--steps", "1001"], "argument --steps: expected at most 1000 steps"),
    (["workload", "--per-class", "0"], "argument --per-class: expected a positive integer"),
    (["workload", "--only", "nosuch"], "option --only: the default suite has no run 'nosuch'"),
    (["workload", "--only", "ctr", "--update"], "--update stores whole suites only"),
    (["generate", "rowselect", "--mode", "median"], "argument --mode: invalid choice: 'median'"),
    (["generate", "logdot", "--rounding", "half_up", "--encoded"],
     "option --rounding 'half_up' needs integer operands"),
    (["generate", "eager", "--rounding", "half_up", "--qk-width", "9"], "option --qk-width"),
    (["generate", "eager", "--dim", "60"], "option --dim must be a multiple of lanes = 16"),
    (["generate", "router", "--banks", "12"], "option --banks must be a power of two, not 12"),
    (["generate", "router", "--return-ports", "3"], "argument --return-ports: invalid choice: 3"),
    (["generate", "disc", "--kv-bytes", "3000"], "option --kv-bytes must be a power of two, not 3000"),
    (["generate", "disc", "--kv-hash", "foo"], "argument --kv-hash: invalid choice: 'foo'"),
    (["generate", "disc", "--kv-banks", "64", "--kv-bytes", "64"],
     "option --kv-bytes must hold two rows of each of the 64 banks, not 64"),
    (["bench", "nosuch"], "argument NAME: invalid choice: 'nosuch'"),
    (["bench", "router", "--lanes", "0"], "argument --lanes: expected a positive integer"),
    (["bench", "router", "--word-bits", "12"], "argument --word-bits: invalid choice: 12"),
    (["bench", "router", "--ks", "8"], "unrecognized arguments: --ks 8"),
    (["bench", "ffn", "--merge-lanes", "1,3"],
     "argument --merge-lanes: expected integers from 1, 2, 4, 8 separated by commas, not '1,3'"),
    (["bench", "ffn", "--merge-lanes", "x"], "argument --merge-lanes: expected integers"),
    (["bench", "ffn", "--sizes", "16"], "argument --sizes: expected sizes such as 16x16"),
    (["bench", "exion", "--sparsity", "1.5"], "argument --sparsity: expected a number in [0, 1)"),
    (["bench", "exion", "--layer", "4"], "argument --layer: invalid choice: 4"),
    (["bench", "disc", "--tokens", "8"], "argument --tokens: expected 16 to 256 tokens, not '8'"),
    (["bench", "disc", "--rows", "0"], "argument --rows: expected a positive integer"),
    (["bench", "disc", "--tokens", "16", "--kv-banks", "12"],
     "parameter 'kv_banks' must be a power of two, not 12"),
    (["bench", "disc", "--gather-below", "-1"],
     "argument --gather-below: expected a number of at least 0, not '-1'"),
    (["bench", "disc", "--gather-below", "nan"],
     "argument --gather-below: expected a number of at least 0, not 'nan'"),
    (["synth", "lod", "--attribute", "0"], "argument --attribute: expected a positive integer"),
    (["synth", "lod", "--speed", "9"], "argument --speed: invalid choice: 9 (choose from 6, 7, 8)"),
    (["prove", "systolic"], "argument UNIT: invalid choice: 'systolic'"),
    (["sim", "dot"], "argument UNIT: invalid choice: 'dot'"),
    (["report", "--update", "--check"], "not allowed with argument"),
])
def test_bad_input_one_line_status_2(args, needle, capsys):
    # in this process (a new one for each costs a second of imports); the
    # next test runs one as a user does
    from exdisc.cli import main
    try:
        code = main(list(args))
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in err and not out


@pytest.mark.parametrize("args, needle", [(["generate", "router", "--banks", "12"], "--banks"),
                                          (["bench", "nosuch"], "invalid choice")])
def test_bad_input_in_a_new_process(args, needle):
    r = exdisc(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr and not r.stdout


def test_unwritable_output_is_one_line(tmp_path):
    r = exdisc("generate", "lod", "-o", "/proc/exdisc-cannot-write-here")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "/proc/exdisc-cannot-write-here" in r.stderr


def test_bench_help_shows_only_its_own_options():
    r = exdisc("bench", "router", "--help")
    assert r.returncode == 0
    for own in ("--lanes", "--per-lane", "--word-bits {8,16,32,64,128}", "(default: 400)",
                "--json", "--out", "--update"):
        assert own in r.stdout, own
    for other in ("--ks", "--sizes", "--merge-lanes", "--no-quality", "--grid"):
        assert other not in r.stdout, other


@pytest.mark.parametrize("bench", ["core", "exion", "disc"])
def test_help_states_each_default_once(bench):
    r = exdisc("bench", bench, "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "(default:" in text
    assert not re.search(r"(\(default: [^)]*\)) \1", text), text


def test_prove_offers_only_units_with_a_property():
    r = exdisc("prove", "--help")
    assert r.returncode == 0
    listed = [line.split()[0] for line in r.stdout.split("UNIT\n", 1)[1].splitlines()
              if line.startswith("    ") and not line.startswith("     ")]
    assert listed == ["lod", "router"]


def test_parameter_help_shows_defaults_and_choices():
    r = exdisc("generate", "systolic", "--help")
    text = " ".join(r.stdout.split())
    assert "--mul-stages {1,2,3,4}" in text and "(default: 2)" in text
    assert "--dsp-pes N|auto" in text and "auto = min(R*C, 144)" in text


def test_module_names_cannot_be_misread():
    from exdisc.hw.systolic import SystolicParams
    from exdisc.hw.units import get_unit
    name = get_unit("systolic").module_name(SystolicParams(rows=8, cols=8))
    assert name == "systolic_rows8_cols8_width8_acc_width32_mul_stages2_dsp_pesauto_lanes1"
    assert get_unit("systolic").module_name(SystolicParams(rows=8, cols=8, dsp_pes=1)) != name


def test_missing_compiler_is_reported(tmp_path):
    # A PATH with only the virtual environment: no g++, make or perl.
    env = dict(os.environ, PATH=str(pathlib.Path(sys.executable).parent))
    r = exdisc("sim", "lod", "--width", "8", env=env)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Verilator needs" in r.stderr and "Traceback" not in r.stderr


def test_list():
    r = exdisc("list")
    assert r.returncode == 0 and "lod" in r.stdout and "default" in r.stdout


def test_generate_ecp5_target(tmp_path):
    r = exdisc("generate", "systolic", "--rows", "2", "--cols", "2", "--target", "ecp5",
               "--format", "verilog", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    text = next(tmp_path.glob("*_ecp5.v")).read_text()
    assert "MULT18X18D" in text and "DP16KD" in text
    r = exdisc("generate", "systolic", "--format", "verilog", "-o", str(tmp_path / "g"))
    assert "MULT18X18D" not in next((tmp_path / "g").glob("*.v")).read_text()


def test_bench_json_is_one_document_and_the_checkout_stays_clean(tmp_path):
    """`--json`: stdout is exactly the record; the record goes to the build
    directory, never to the committed reference results."""
    before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                            text=True).stdout
    env = dict(os.environ, EXDISC_BUILD_DIR=str(tmp_path / "build"))
    r = exdisc("bench", "conmerge", "--array", "8x8", "--json", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    record = json.loads(r.stdout)
    assert record["rows"] == 8 and record["summary"]["fc1"]["merged_d4"]["passes"] > 0
    saved = tmp_path / "build" / "bench" / "conmerge.json"
    assert json.loads(saved.read_text())["summary"] == record["summary"]
    assert (tmp_path / "build" / "bench" / "conmerge.png").exists()
    assert str(saved) in r.stderr
    after = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                           text=True).stdout
    assert after == before


def test_workload_command(tmp_path):
    runs = ["ffn_reuse", "ctr", "ctr/random-tokens", "ctr/oldest-tokens"]
    r = exdisc("workload", "--only", ",".join(runs), "--per-class", "1", "--steps", "3",
               "--seed", "1", "--json", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    assert [x["label"] for x in report["results"]] == runs
    assert report["config"]["samples"] == 10 and report["labels"] == list(range(10))
    assert report["config"]["seed"] == 1
    grids = sorted(p.name for p in (tmp_path / "grids").iterdir())
    assert grids == ["ctr.png", "ctr_oldest_tokens.png", "ctr_random_tokens.png", "ffn_reuse.png"]
    assert (tmp_path / "grids" / "ctr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "workload_seed1_ffn_reuse_ctr_ctr_random_tokens_ctr_oldest_tokens.json"
            ).exists()
    # CTR's default beside its two controls, from the runs' own latent errors
    from exdisc.sim.benchmarks.workload import tables
    table = [t for t in tables(report) if t.title.startswith("CTR against its controls")]
    err = {x["label"]: x["latent_error"] for x in report["results"]}
    assert len(table) == 1 and table[0].rows == [[
        "0.5", f"{err['ctr']:.4f}", f"{err['ctr/random-tokens']:.4f}",
        f"{err['ctr/oldest-tokens']:.4f}",
        "yes" if err["ctr"] < min(err["ctr/random-tokens"], err["ctr/oldest-tokens"]) else "no"]]


def test_a_failed_check_exits_1(monkeypatch, capsys):
    """A simulation that differs from the golden model and a failed proof are
    failed checks (status 1, one line), not bad usage (status 2)."""
    from exdisc.cli import main
    from exdisc.sim.harness import signoff as signoff_module
    from exdisc.sim.harness.runner import SimulationFailed
    from exdisc.synth import formal

    def mismatch(*args, **kwargs):
        raise SimulationFailed("1 of 1 cocotb tests failed (seed 7); log: sim.log")

    monkeypatch.setattr(signoff_module, "signoff", mismatch)
    assert main(["sim", "lod", "--width", "8"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["exdisc: check failed: 1 of 1 cocotb tests failed (seed 7); log: sim.log"]

    failed = formal.ProofResult("lod_prop", False, 1.0, pathlib.Path("x"), "")
    monkeypatch.setitem(formal.PROVERS, "lod", lambda params, **kw: failed)
    assert main(["prove", "lod"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_update_with_a_part_skipped_keeps_the_stored_part(tmp_path, monkeypatch):
    import json
    import types
    from exdisc.cli import bench
    (tmp_path / "nonlinear.json").write_text(json.dumps({"rates": {"r": 1}, "quality": {"q": 2}}))
    monkeypatch.setattr(bench, "reference_dir", lambda required=False: tmp_path)
    fresh = {"quality": {"q": 3}}
    kept = bench._keep_stored_parts(types.SimpleNamespace(update=True), "nonlinear", dict(fresh),
                                    ("rates", "quality"))
    assert kept == {"quality": {"q": 3}, "rates": {"r": 1}}
    assert bench._keep_stored_parts(types.SimpleNamespace(update=False), "nonlinear",
                                    dict(fresh), ("rates", "quality")) == fresh
