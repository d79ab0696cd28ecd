"""Messages and progress of long steps, on standard error.

Standard output carries results only (tables, or one JSON document with
``--json``); everything a run says while it works goes to standard error:
:func:`log` lines, and for the steps that take long (Verilator builds,
synthesis, place and route, proofs, sampling loops, sweeps) a live display
from `rich <https://rich.readthedocs.io>`_: a spinner with the elapsed time
(:func:`step`) or a bar with a count (:func:`track`). Nested steps share one
display, since rich allows one live display at a time. Where standard error
is not a terminal (CI, pytest, a pipe), nothing live is drawn and only the
log lines appear.

Nothing here imports the rest of exdisc.
"""

import contextlib

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn)
from rich.text import Text


__all__ = ["log", "step", "track", "bar"]


_console = Console(stderr=True, highlight=False, soft_wrap=True)


class _Counted:
    """A column drawn only for tasks with a total (bars), not for spinners."""

    def render(self, task):
        return super().render(task) if task.total is not None else Text("")


class _Bar(_Counted, BarColumn):
    pass


class _Count(_Counted, MofNCompleteColumn):
    pass


class _Display:
    """The one live display, open while any step or bar is."""

    def __init__(self):
        self.progress = None
        self.users = 0

    @contextlib.contextmanager
    def task(self, description, total):
        if not _console.is_terminal:
            # nothing live on a pipe or a log file: it would only add blank lines
            yield lambda n=1: None
            return
        if self.users == 0:
            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), _Bar(),
                                     _Count(), TimeElapsedColumn(), console=_console,
                                     transient=True)
            self.progress.start()
        self.users += 1
        task = self.progress.add_task(description, total=total)
        try:
            yield lambda n=1: self.progress.advance(task, n)
        finally:
            self.progress.remove_task(task)
            self.users -= 1
            if self.users == 0:
                self.progress.stop()
                self.progress = None


_display = _Display()


def log(message):
    """One line on standard error (above the live display, if one is open)."""
    _console.print(message, markup=False)


@contextlib.contextmanager
def step(description):
    """Show ``description`` with a spinner and the elapsed time while the block runs."""
    with _display.task(description, None):
        yield


@contextlib.contextmanager
def bar(description, total):
    """A bar of ``total`` units while the block runs; yields ``advance(n=1)``."""
    with _display.task(description, total) as advance:
        yield advance


def track(iterable, description, total=None):
    """Iterate over ``iterable`` with a bar: ``description``, done of ``total``
    (``len(iterable)`` when not given)."""
    if total is None:
        total = len(iterable)
    with _display.task(description, total) as advance:
        for item in iterable:
            yield item
            advance()
