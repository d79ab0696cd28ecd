"""Where exdisc writes, and how concurrent runs share it.

Every build product (Verilator models, synthesis runs, proofs, benchmark
results) goes below one *build directory*: ``$EXDISC_BUILD_DIR`` if set,
else ``build/`` in the current working directory. Nothing is ever written
into the installed package, so a non-editable install works from any
directory. The *reference results* (``docs/results/``) and the stored
synthesis baselines (``synth/baselines/``) are files of a source checkout;
commands change them only when asked (``--update``), and only in a checkout.

Nothing here imports the rest of exdisc: ``sim``, ``synth`` and the command
line all build on it.
"""

import contextlib
import datetime
import fcntl
import json
import os
import pathlib


__all__ = ["build_root", "build_dir", "build_lock", "write_if_changed", "source_root",
           "reference_dir", "save_record", "NotACheckout"]


#: Environment variable that overrides the build directory.
BUILD_ENV = "EXDISC_BUILD_DIR"


class NotACheckout(RuntimeError):
    """A command wants to change a file of the source checkout, and exdisc is
    not running from one (a non-editable install)."""


def build_root():
    """The build directory (absolute): ``$EXDISC_BUILD_DIR`` or ``./build``."""
    return pathlib.Path(os.environ.get(BUILD_ENV) or "build").resolve()


def build_dir(*parts):
    """A directory below :func:`build_root` (not created)."""
    return build_root().joinpath(*parts)


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


def source_root():
    """The source checkout exdisc runs from, or None (an installed copy).

    The checkout is recognised by its layout: this package's folder beside
    ``pyproject.toml``, ``hw/`` and ``docs/``.
    """
    root = pathlib.Path(__file__).resolve().parents[2]
    if all((root / name).exists() for name in ("pyproject.toml", "hw", "docs")):
        return root
    return None


def reference_dir(*, required=False):
    """``docs/results/`` of the checkout: the committed reference results.

    None outside a checkout, or :class:`NotACheckout` with ``required``.
    """
    root = source_root()
    if root is None:
        if required:
            raise NotACheckout("the reference results live in a source checkout of exdisc "
                               "(docs/results/); this copy is installed, not checked out")
        return None
    return root / "docs" / "results"


def save_record(directory, name, record):
    """Write ``record`` (a JSON-able dict, dated) as ``directory/name.json``."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    record = dict(record, date=datetime.date.today().isoformat())
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path
