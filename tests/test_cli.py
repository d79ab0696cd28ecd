"""The exdisc command: outputs, errors (one line, status 2), determinism."""

import os
import pathlib
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
        r = exdisc("generate", "lod", "--width", "16", "--k", "2", "-o", str(tmp_path / str(n)), env=env)
        assert r.returncode == 0, r.stderr
        assert "lod_width16_k2_registered0.v" in r.stdout
        outs.append({p.name: p.read_bytes() for p in (tmp_path / str(n)).iterdir()})
    assert outs[0] == outs[1]
    verilog = outs[0]["lod_width16_k2_registered0.v"].decode()
    assert "module lod_width16_k2_registered0(" in verilog
    assert str(ROOT) not in verilog      # no checkout-specific paths


def test_generate_differs_with_parameters(tmp_path):
    exdisc("generate", "lod", "--width", "16", "--k", "1", "-o", str(tmp_path))
    exdisc("generate", "lod", "--width", "16", "--k", "2", "-o", str(tmp_path))
    a = (tmp_path / "lod_width16_k1_registered0.v").read_text()
    b = (tmp_path / "lod_width16_k2_registered0.v").read_text()
    assert a != b


@pytest.mark.parametrize("args, needle", [
    (["generate", "nosuchunit"], "invalid choice: 'nosuchunit'"),
    (["generate", "lod", "--width", "0"], "parameter 'width' must be at least 1, not 0"),
    (["generate", "lod", "--width", "x"], "invalid int value: 'x'"),
    (["generate", "lod", "--k", "3"], "parameter 'k' must be one of 1, 2, not 3"),
    (["synth", "lod", "--width", "-4"], "parameter 'width'"),
    (["flow", "--preset", "nosuch"], "unknown preset 'nosuch'"),
    (["generate", "lod", "--format", "vhdl", "-o", "build/tmp-cli"], "parameter 'format'"),
    ([], "required"),
    (["workload", "--steps", "0", "--no-save"], "steps: expected an integer in [1, 1000], got 0"),
    (["workload", "--per-class", "0", "--no-save"], "per_class: expected a positive integer"),
    (["generate", "rowselect", "--mode", "median"], "parameter 'mode' must be one of"),
    (["generate", "logdot", "--rounding", "nearest"],
     "parameter 'rounding' must be one of 'truncate', 'half_up', 'signed', not 'nearest'"),
    (["generate", "eager", "--rounding", "half_up", "--qk-width", "9"], "parameter 'qk_width'"),
    (["generate", "logdot", "--rounding", "half_up", "--encoded"],
     "parameter 'rounding' 'half_up' needs integer operands"),
    (["bench", "nosuch"], "unknown benchmark 'nosuch'"),
    (["bench", "router", "--lanes", "0"], "parameter 'lanes' must be at least 1, not 0"),
    (["bench", "router", "--per-lane", "0"], "parameter 'per_lane' must be at least 1, not 0"),
    (["bench", "router", "--word-bits", "12"], "parameter 'word_bits' must be one of"),
    (["synth", "lod", "--attribute", "0"], "expected a positive integer, not '0'"),
    (["synth", "lod", "--speed", "9"], "parameter 'speed' must be one of (6, 7, 8)"),
    (["bench", "ffn", "--merge-lanes", "3", "--no-save"],
     "parameter 'lanes' must be one of 1, 2, 4, 8, not 3"),
    (["bench", "ffn", "--merge-lanes", "x", "--no-save"], "parameter 'merge_lanes'"),
    (["bench", "ffn", "--sizes", "16", "--no-save"], "parameter 'sizes'"),
    (["generate", "eager", "--dim", "60"], "parameter 'dim' must be a multiple of lanes = 16"),
    (["generate", "systolic", "--lanes", "3"], "parameter 'lanes' must be one of 1, 2, 4, 8"),
    (["generate", "router", "--banks", "12"], "parameter 'banks' must be a power of two, not 12"),
    (["generate", "router", "--hash", "crc"], "parameter 'hash' must be one of"),
    (["generate", "router", "--return-ports", "3"],
     "parameter 'return_ports' must be one of 1, 2, 4, not 3"),
])
def test_bad_input_one_line_status_2(args, needle):
    r = exdisc(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0]
    assert "Traceback" not in r.stderr


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


def test_workload_command(tmp_path):
    r = exdisc("workload", "--per-class", "1", "--steps", "5", "--no-save", "--json",
               "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    import json
    report = json.loads(r.stdout)
    labels = [x["label"] for x in report["results"]]
    assert labels[:2] == ["ffn_reuse", "ffn_reuse/random-mask"] and len(labels) == 8
    assert "dense" in r.stderr  # progress goes to stderr when stdout carries the JSON
    pngs = sorted(p.name for p in tmp_path.iterdir())
    assert "overview.png" in pngs and len(pngs) == 9
    assert (tmp_path / "overview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
