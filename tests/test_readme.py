"""The README cannot rot: its example runs, its quick start runs as written,
and its generated tables are what `exdisc report` gives."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _block_after(marker):
    """The fenced code block right after the HTML comment ``marker``."""
    m = re.search(re.escape(marker) + r"[^\n]*\n```[a-z]*\n(.*?)\n```", README, re.S)
    assert m, f"no code block after {marker!r} in README.md"
    return m.group(1)


def test_example_runs(capsys):
    code = _block_after("<!-- example:")
    namespace = {"__name__": "readme_example"}
    exec(compile(code, "README.md example", "exec"), namespace)
    out = capsys.readouterr().out
    assert "500 words match the golden model" in out and "lines of Verilog" in out


@pytest.mark.cocotb
@pytest.mark.synth
@pytest.mark.formal
def test_quick_start_runs_as_written(tmp_path):
    """Every command of the quick start, in one shell, from the checkout, as
    a user types them (the build directory moved aside)."""
    commands = _block_after("<!-- quick start:")
    assert commands.splitlines()[0] == "source .venv/bin/activate"
    venv = pathlib.Path(sys.executable).parent.parent
    script = commands.replace("source .venv/bin/activate", f"source {venv}/bin/activate", 1)
    env = dict(os.environ, EXDISC_BUILD_DIR=str(tmp_path / "build"))
    r = subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "lod_width16_k2_registered0" in r.stdout              # generate and synth
    assert "cocotb sign-off against the golden model: 1 passed" in r.stdout
    assert "PASS" in r.stdout and "within baseline" in r.stdout
    assert re.search(r"\| unit +\|", r.stdout)                 # report
    assert (tmp_path / "build" / "bench" / "conmerge.json").exists()


def test_generated_tables_are_current():
    """The README's results table and docs/results.md are what the stored
    baselines and reference results give (`exdisc report --update`)."""
    r = subprocess.run([sys.executable, "-m", "exdisc", "report", "--check"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_links_exist():
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), target
