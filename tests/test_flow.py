"""`exdisc flow` end to end on the default preset (the main job of `make flow`)."""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.cocotb
@pytest.mark.synth
def test_flow_default(tmp_path):
    r = subprocess.run([sys.executable, "-m", "exdisc", "flow", "--preset", "default",
                        "-o", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((tmp_path / "default" / "summary.json").read_text())
    assert summary, "empty summary"
    for row in summary:
        assert pathlib.Path(row["verilog"]).exists()
        assert row["sim"]["passed"] and "failed" not in row["sim"]
        assert row["synth"]["fmax_mhz"] > 0
        assert row["baseline"]["status"] == "within", row["baseline"]
        if row["unit"] == "lod":
            assert row["formal"]["passed"]
    assert "done in" in r.stdout and "seed=" in r.stderr
