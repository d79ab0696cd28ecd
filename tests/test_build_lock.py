"""hw.emit.build_lock: two processes never hold one build directory at once."""

import multiprocessing
import time

from hw.emit import build_lock


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

