"""Tables of results, rendered for the terminal or as Markdown.

Benchmarks, synthesis and reports build :class:`Table` objects (headers,
rows, an optional title and caption); the command line renders them with
:meth:`Table.text`, and ``exdisc report`` with :meth:`Table.markdown`. Both
go through `rich <https://rich.readthedocs.io>`_'s table layout, so there is
one formatter for every table exdisc prints.

Nothing here imports the rest of exdisc.
"""

import dataclasses
import io
import numbers

from rich import box
from rich.console import Console
from rich.table import Table as _RichTable


__all__ = ["Table", "cell"]


def cell(value, fmt=None):
    """A value as a table cell: ``fmt`` applied if given, None as ``-``."""
    if value is None:
        return "-"
    return format(value, fmt) if fmt else str(value)


@dataclasses.dataclass
class Table:
    """A table of results.

    Members
    -------
    headers : list of str
    rows : list of list
        Cells, any value (rendered with ``str``); numbers are right-aligned.
    title : str or None
        A line above the table.
    caption : str or None
        Lines below it: what was measured, and how.
    """
    headers: list
    rows: list
    title: str = None
    caption: str = None

    def _layout(self, style):
        numeric = [all(isinstance(r[i], numbers.Number) or _numeric_text(r[i]) for r in self.rows)
                   and bool(self.rows) and i > 0 for i in range(len(self.headers))]
        table = _RichTable(box=style, show_edge=style is box.MARKDOWN,
                           pad_edge=style is box.MARKDOWN)
        for header, right in zip(self.headers, numeric):
            table.add_column(str(header), justify="right" if right else "left", no_wrap=True)
        for row in self.rows:
            table.add_row(*(cell(c) for c in row))
        out = io.StringIO()
        Console(file=out, width=100_000, color_system=None, highlight=False).print(table)
        return "\n".join(line.rstrip() for line in out.getvalue().splitlines() if line.strip())

    def text(self):
        """For the terminal: aligned columns under a rule."""
        parts = [self.title] if self.title else []
        parts.append(self._layout(box.SIMPLE_HEAD))
        if self.caption:
            parts.append(self.caption)
        return "\n".join(parts)

    def markdown(self):
        """As a Markdown table, the title in bold above it, the caption below."""
        parts = [f"**{self.title}**", ""] if self.title else []
        parts.append(self._layout(box.MARKDOWN))
        if self.caption:
            parts += ["", self.caption]
        return "\n".join(parts)

    def as_dict(self):
        return dataclasses.asdict(self)


def _numeric_text(value):
    if not isinstance(value, str):
        return False
    text = value.rstrip("%+").split(" ")[0].replace(",", "")
    try:
        float(text)
    except ValueError:
        return text == "-"
    return True
