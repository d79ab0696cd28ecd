"""exdisc.common.workdir: where results go, and how concurrent runs share it."""

import json
import multiprocessing
import time

from exdisc.common.workdir import (BUILD_ENV, build_dir, build_lock, build_root, reference_dir,
                                   save_record, source_root, write_if_changed)


def _hold(directory, log, tag):
    with build_lock(directory):
        with open(log, "a") as f:
            f.write(f"{tag} in\n")
        time.sleep(0.3)
        with open(log, "a") as f:
            f.write(f"{tag} out\n")


def test_build_lock_excludes_other_processes(tmp_path):
    log = tmp_path / "log"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hold, args=(tmp_path / "model", log, n)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    lines = log.read_text().split()
    # Each holder's "in" is followed by its own "out" before anyone else's "in".
    pairs = [lines[i:i + 4] for i in range(0, len(lines), 4)]
    assert len(pairs) == 3
    assert all(a == b and x == "in" and y == "out" for a, x, b, y in pairs), lines


def test_build_root_follows_the_environment_and_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(BUILD_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert build_root() == tmp_path / "build"
    monkeypatch.setenv(BUILD_ENV, str(tmp_path / "elsewhere"))
    assert build_dir("sim", "x") == tmp_path / "elsewhere" / "sim" / "x"


def test_write_if_changed_keeps_an_unchanged_file(tmp_path):
    path = tmp_path / "a" / "b.v"
    assert write_if_changed(path, "module m;\n")
    stamp = path.stat().st_mtime_ns
    time.sleep(0.01)
    assert not write_if_changed(path, "module m;\n") and path.stat().st_mtime_ns == stamp
    assert write_if_changed(path, "module n;\n") and path.read_text() == "module n;\n"


def test_records_are_dated_json(tmp_path):
    path = save_record(tmp_path / "r", "thing", {"x": 1})
    record = json.loads(path.read_text())
    assert record["x"] == 1 and len(record["date"]) == 10


def test_the_checkout_is_found():
    root = source_root()
    assert root is not None and (root / "pyproject.toml").exists()
    assert reference_dir() == root / "docs" / "results"
