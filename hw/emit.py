"""Verilog and RTLIL emission, deterministic for the same parameters."""

import contextlib
import fcntl
import pathlib
import re

from amaranth.back import rtlil, verilog


__all__ = ["emit_verilog", "emit_rtlil", "write_if_changed", "build_lock", "PROJECT_ROOT"]


PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent

# Source attributes carry absolute paths, which differ between checkouts and
# virtual environments; rewriting them keeps the text identical everywhere.
_SRC_PATH = re.compile(r'(src = ")([^"]*)(")')


def _portable_src(text):
    root = str(PROJECT_ROOT) + "/"

    def fix_one(path):
        marker = "/site-packages/"
        if marker in path:
            return path.split(marker, 1)[1]
        if path.startswith(root):
            return path[len(root):]
        return path

    def fix(match):
        paths = match.group(2).split("|")
        return match.group(1) + "|".join(fix_one(p) for p in paths) + match.group(3)

    return _SRC_PATH.sub(fix, text)


def emit_verilog(component, name, platform=None):
    """Verilog text of ``component`` with top module ``name``; ``platform``
    is a :mod:`hw.platform` target or None for portable RTL."""
    return _portable_src(verilog.convert(component, name=name, platform=platform, emit_src=True))


def emit_rtlil(component, name, platform=None):
    """RTLIL text of ``component`` with top module ``name``."""
    return _portable_src(rtlil.convert(component, name=name, platform=platform, emit_src=True))


def write_if_changed(path, text):
    """Write ``text`` to ``path`` unless the file already holds exactly it.

    Leaving an unchanged file untouched keeps its timestamp, so Verilator and
    make see nothing to rebuild. Returns True when the file was written.
    """
    path = pathlib.Path(path)
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True


@contextlib.contextmanager
def build_lock(directory):
    """Hold ``directory`` (a build or work directory) for this process alone.

    Parallel test workers (``make test`` runs pytest with ``-n``) and
    concurrent commands may build the same design at the same parameter
    point; one builds while the other waits, then finds the result up to
    date. The lock is an ``flock`` on a file beside the directory, released
    when the block ends or the process dies.
    """
    directory = pathlib.Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield directory
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
