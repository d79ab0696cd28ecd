"""Compiler wrapper for the ``OBJCACHE`` hook of Verilator's makefiles.

Every Verilator model links the same run-time library objects
(``verilated.o``, ``verilated_vpi.o``, ...), and the generated makefile
compiles them again in each model's build directory: about ten seconds of
compiler per model, for some thirty models in ``make test``. This wrapper,
run as ``OBJCACHE`` in front of each compile, keeps one copy of every
run-time object under a key of the exact command line and the source file,
and copies it into the next build directory that asks for the same one.
Compiles of anything else (the model itself, cocotb's ``verilator.cpp``,
which includes the model's header) run unchanged.

Usage (what :mod:`exdisc.sim.harness.verilator` passes to make)::

    OBJCACHE="python sim/objcache.py CACHE_DIR RUNTIME_DIR"
"""

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile


def _cached_source(cmd, runtime_dir):
    """The run-time library source that ``cmd`` compiles, or None."""
    if "-c" not in cmd or "-o" not in cmd:
        return None
    sources = [a for a in cmd if a.endswith(".cpp")]
    if len(sources) != 1:
        return None
    source = pathlib.Path(sources[0]).resolve()
    return source if source.is_relative_to(runtime_dir) else None


def compile_cached(cache_dir, runtime_dir, cmd):
    """Run the compile ``cmd``, or copy its outputs from ``cache_dir``.
    Returns the exit status."""
    source = _cached_source(cmd, pathlib.Path(runtime_dir).resolve())
    if source is None:
        return subprocess.call(cmd)
    out = pathlib.Path(cmd[cmd.index("-o") + 1])
    dep = out.with_suffix(".d")
    stat = source.stat()
    # The key is the command as it would run in any build directory.
    keyed = list(cmd)
    keyed[cmd.index("-o") + 1] = out.name
    key = hashlib.sha256(json.dumps(
        [keyed, str(source), stat.st_size, stat.st_mtime_ns]).encode()).hexdigest()[:24]
    entry = pathlib.Path(cache_dir) / key
    if (entry / "obj").is_file():
        shutil.copyfile(entry / "obj", out)
        if (entry / "dep").is_file():
            shutil.copyfile(entry / "dep", dep)
        return 0
    status = subprocess.call(cmd)
    if status == 0 and out.is_file():
        # Two builds may compile the same object at once: each fills its own
        # directory, and the first rename wins.
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = pathlib.Path(tempfile.mkdtemp(dir=entry.parent, prefix=".tmp-"))
        shutil.copyfile(out, tmp / "obj")
        if dep.is_file():
            shutil.copyfile(dep, tmp / "dep")
        try:
            os.rename(tmp, entry)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


def main(argv):
    if len(argv) < 3:
        print("usage: objcache.py CACHE_DIR RUNTIME_DIR COMPILER ARGS...", file=sys.stderr)
        return 2
    return compile_cached(argv[0], argv[1], argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
