"""A non-editable install: one `exdisc` package, no setuptools warning, and it
runs from any directory without writing into the installed package."""

import os
import re
import pathlib
import subprocess
import shutil
import sys
import sysconfig

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _files(directory):
    return {p for p in directory.rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtual environment with exdisc installed from a copy of the
    checkout (``pip install .``, no dependencies: they come from the test's
    own environment through a .pth file). Returns ``(python, site-packages,
    pip's output)``."""
    base = tmp_path_factory.mktemp("install")
    # A copy, because setuptools builds in the source tree's build/, which is
    # also where exdisc keeps its results.
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", str(source)],
                         cwd=base, capture_output=True, text=True)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    site = pathlib.Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    # The toolchain (amaranth, cocotb, the tools) from this environment; its
    # editable exdisc is not seen: a .pth line adds a path, not its .pth files.
    (site / "toolchain.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, site, pip.stdout + pip.stderr


def test_pip_prints_no_setuptools_warning(installed):
    _, _, output = installed
    lines = [line for line in output.splitlines() if "warn" in line.lower()
             # the machine's pip configuration, not the package
             and not line.startswith("WARNING: Location 'file:")]
    assert not lines, "\n".join(lines)


def test_one_exdisc_namespace(installed):
    _, site, _ = installed
    top = {p.name for p in site.iterdir()}
    assert "exdisc" in top
    assert not top & {"hw", "golden", "sim", "synth"}, top
    for sub in ("hw", "golden", "sim", "synth", "cli", "common"):
        assert (site / "exdisc" / sub / "__init__.py").exists(), sub
    for data in ("golden/weights/tiny_dit.npz", "synth/baselines", "sim/harness/primitives/DP16KD.v"):
        assert (site / "exdisc" / data).exists(), data


@pytest.mark.cocotb
def test_installed_copy_works_and_writes_only_where_it_runs(installed, tmp_path):
    python, site, _ = installed
    before = _files(site / "exdisc")
    env = {k: v for k, v in os.environ.items() if k != "EXDISC_BUILD_DIR"}
    env["PATH"] = f"{python.parent}{os.pathsep}{env['PATH']}"

    def exdisc(*args):
        r = subprocess.run([str(python), "-m", "exdisc", *args], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        return r

    r = exdisc("generate", "lod", "--width", "8", "-o", "out")
    assert (tmp_path / "out" / "lod_width8_k2_registered0.v").exists()
    r = exdisc("sim", "lod", "--width", "8")
    assert "1 passed" in r.stdout
    assert (tmp_path / "build" / "sim" / "lod_width8_k2_registered0").is_dir()
    r = exdisc("report")                                    # baselines ship with the package
    assert re.search(r"\| unit +\|", r.stdout)
    r = subprocess.run([str(python), "-m", "exdisc", "bench", "conmerge", "--update"],
                       cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "source checkout" in r.stderr     # nothing to update here
    assert _files(site / "exdisc") == before
