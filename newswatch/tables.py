"""Tables on the terminal: they fit the terminal's width (80 columns included) by
wrapping headings onto a second line and folding long names, never by cutting words
to `…`; piped or logged, they keep every column at a comfortable width."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table


def console_for(stream: TextIO | None = None) -> Console:
    stream = stream or sys.stdout
    width = None
    if not stream.isatty():
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and int(columns) > 0 else 160
    return Console(file=stream, width=width, highlight=False)


def table(title: str, headings: list[str], numeric_from: int = 2) -> Table:
    """A table whose first column (a name) folds when space is short; columns from
    `numeric_from` on are right-aligned numbers. A heading may hold a line break."""
    out = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                collapse_padding=True, title_justify="left")
    for i, heading in enumerate(headings):
        if i == 0:
            out.add_column(heading, overflow="fold")
        else:
            out.add_column(heading, justify="right" if i >= numeric_from else "left",
                           no_wrap=True)
    return out
