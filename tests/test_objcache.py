"""sim.objcache: Verilator's run-time objects compiled once, reused by every model."""

import sys

from exdisc.sim.harness.objcache import compile_cached

# A stand-in compiler: writes the object and its .d, and counts its runs.
FAKE_CXX = """
import pathlib, sys
args = sys.argv[1:]
if "FAIL" in args:
    sys.exit(3)
out = pathlib.Path(args[args.index("-o") + 1])
src = pathlib.Path(args[-1])
out.write_text("object of " + src.read_text() + " with " + " ".join(args[:args.index("-c")]))
out.with_suffix(".d").write_text("deps of " + src.name)
with open(sys.argv[0] + ".runs", "a") as f:
    f.write("x")
"""


def _setup(tmp_path):
    fake = tmp_path / "cxx.py"
    fake.write_text(FAKE_CXX)
    runtime = tmp_path / "include"
    runtime.mkdir()
    (runtime / "verilated.cpp").write_text("runtime")
    user = tmp_path / "model.cpp"
    user.write_text("model")
    runs = lambda: len((tmp_path / "cxx.py.runs").read_text()) if (tmp_path / "cxx.py.runs").exists() else 0
    return fake, runtime, user, runs


def _compile(tmp_path, fake, runtime, build, source, *flags):
    build.mkdir(exist_ok=True)
    cmd = [sys.executable, str(fake), *flags, "-c", "-o", str(build / "verilated.o"), str(source)]
    return compile_cached(tmp_path / "cache", runtime, cmd)


def test_runtime_object_compiled_once(tmp_path):
    fake, runtime, _, runs = _setup(tmp_path)
    src = runtime / "verilated.cpp"
    assert _compile(tmp_path, fake, runtime, tmp_path / "a", src, "-O1") == 0
    assert _compile(tmp_path, fake, runtime, tmp_path / "b", src, "-O1") == 0
    assert runs() == 1
    for d in ("a", "b"):
        assert (tmp_path / d / "verilated.o").read_text() == "object of runtime with -O1"
        assert (tmp_path / d / "verilated.d").read_text() == "deps of verilated.cpp"
    # other flags (say VM_TRACE=1 for a traced model) are another object
    assert _compile(tmp_path, fake, runtime, tmp_path / "c", src, "-O1", "-DVM_TRACE=1") == 0
    assert runs() == 2
    assert (tmp_path / "c" / "verilated.o").read_text().endswith("-DVM_TRACE=1")
    # an edited source is recompiled
    src.write_text("runtime v2")
    assert _compile(tmp_path, fake, runtime, tmp_path / "d", src, "-O1") == 0
    assert runs() == 3 and (tmp_path / "d" / "verilated.o").read_text().startswith("object of runtime v2")


def test_model_sources_and_failures_not_cached(tmp_path):
    fake, runtime, user, runs = _setup(tmp_path)
    for d in ("a", "b"):
        assert _compile(tmp_path, fake, runtime, tmp_path / d, user, "-O1") == 0
    assert runs() == 2
    src = runtime / "verilated.cpp"
    assert _compile(tmp_path, fake, runtime, tmp_path / "e", src, "FAIL") == 3
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
