"""What the commands print on a terminal: tables that fit its width and prose wrapped
to it, every string plain text.

- Plain text only: a cell or a line is a `str`, never Rich markup (a scraped headline
  holding `[/]` or `[link=…]` is shown as written), and passes through
  `newswatch.rules.plaintext.for_terminal` (no escape sequence, control character or bidi
  override reaches the terminal, whatever an old database row holds).
- Tables fit by leaving out secondary columns, in the order each table declares,
  never by folding a name: a column that does not wrap is as wide as its widest cell,
  and only the columns declared `wrap` (headlines, prose) wrap, at word boundaries. A
  line under the table names what was left out; `--wide` shows every column (and may be
  wider than the terminal).
- URLs print whole on a line of their own, below their row: a terminal wraps a long one
  and still knows it as one link; folded into a cell it would be broken mid-word.
- The width is the terminal's; piped or logged, $COLUMNS if set, else 160 for tables
  (a cron mail or a `grep` keeps whole rows) and no wrapping for prose (a line per
  fact, whole).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TextIO

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

from newswatch.rules.plaintext import for_terminal

PIPED_WIDTH = 160
GAP = "  "
WRAP_MIN = 20  # a wrapping column narrower than this reads worse than a dropped column
WORD_MAX = 40  # a longer word in a wrapping column is folded, not made its width
_SGR = re.compile(r"\x1b\[[0-9;]*m")  # the styling `explain.marked` puts in a snippet
_WORDS = re.compile(r"(\s*)(\S+)")
HEADING, TITLE, NOTE = Style(bold=True), Style(italic=True), Style(dim=True)


def console_for(stream: TextIO | None = None) -> Console:
    """A console that prints text as it is: no markup, no emoji codes, no highlighting."""
    stream = stream or sys.stdout
    width = None
    if not stream.isatty():
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and int(columns) > 0 else PIPED_WIDTH
    return Console(file=stream, width=width, highlight=False, markup=False, emoji=False)


def add_wide(parser: argparse.ArgumentParser) -> None:
    """The `--wide` flag of a command that prints tables."""
    parser.add_argument("--wide", action="store_true",
                        help="every column of the tables, even wider than the terminal")


def prose_width(console: Console) -> int | None:
    """The width prose is wrapped to: the terminal's, or $COLUMNS; piped without
    $COLUMNS, None: a line per fact, whole, for grep and logs."""
    if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        return None
    return console.width


# a long table measures the same cells and words many times over
_cells = lru_cache(maxsize=65536)(cell_len)


@lru_cache(maxsize=65536)
def _width(word: str) -> int:
    return cell_len(_SGR.sub("", word) if "\x1b" in word else word)


def _fold(word: str, width: int) -> list[str]:
    """A word cut into pieces of `width` cells (only for a word wider than its cell)."""
    pieces, piece = [], ""
    for char in word:
        if piece and cell_len(piece + char) > width:
            pieces.append(piece)
            piece = ""
        piece += char
    return [*pieces, piece]


def _lines(paragraph: str, width: int, indent: str, fold: bool) -> list[str]:
    own = paragraph[:len(paragraph) - len(paragraph.lstrip())]
    hang = own + indent
    out: list[str] = []
    line, size = own, cell_len(own)
    for space, word in _WORDS.findall(paragraph.strip()):
        room = width - cell_len(hang if out else own)
        pieces = _fold(word, max(room, 1)) if fold and _width(word) > room else [word]
        for piece in pieces:
            w, gap = _width(piece), (space or " ") if line.strip() else ""
            if line.strip() and size + len(gap) + w > width:
                out.append(line)
                line, size = hang + piece, cell_len(hang) + w
            else:
                line, size = line + gap + piece, size + len(gap) + w
            space = ""
    return [*out, line if line.strip() else ""]


def wrap(text: str, width: int | None, indent: str = "", fold: bool = False) -> list[str]:
    """Lines of `text` at most `width` cells wide, broken at spaces (a paragraph's own
    indentation and spacing kept), the lines after a paragraph's first indented by
    `indent` more. A word wider than that (a URL) stays whole on a line of its own,
    unless `fold` (a table cell, which must keep its width). No width: no wrapping."""
    if width is None:
        return text.split("\n")
    return [line for paragraph in text.split("\n")
            for line in _lines(paragraph, width, indent, fold)]


def say(console: Console, text: str, indent: str = "  ") -> None:
    """Print a line of prose wrapped to the console's width (long words whole)."""
    # one print for all the lines: rich's work per call is what a long list costs
    console.print("\n".join(wrap(for_terminal(text), prose_width(console), indent)),
                  soft_wrap=True)


def write(out: TextIO, text: str, indent: str = "  ") -> None:
    """`say` for a plain stream: each line of `text` wrapped to its `prose_width`."""
    out.write("\n".join(wrap(for_terminal(text), prose_width(console_for(out)), indent))
              + "\n")


@dataclass
class _Column:
    heading: list[str]
    right: bool
    wraps: bool
    least: int = 1


@dataclass
class Table:
    """Rows of plain-text cells (a cell may hold line breaks), each row optionally
    followed by its URL; laid out at the width it is printed at."""

    title: str
    columns: list[_Column]
    drop: list[int] = field(default_factory=list)
    wide: bool = False
    rows: list[tuple[list[list[str]], str | None]] = field(default_factory=list)

    def add_row(self, *cells: str, url: str | None = None) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        for cell in cells:
            if not isinstance(cell, str):  # plain text only: no markup, no renderables
                raise TypeError(f"a table cell is a str, not {type(cell).__name__}")
        self.rows.append(([for_terminal(c).split("\n") for c in cells],
                          for_terminal(url).replace("\n", "") if url else None))

    def _natural(self, i: int) -> int:
        cells = [_cells(line) for row, _ in self.rows for line in row[i]]
        return max([*cells, *(cell_len(h) for h in self.columns[i].heading),
                    self.columns[i].least])

    def _least(self, i: int) -> int:
        natural = self._natural(i)
        if not self.columns[i].wraps:
            return natural
        # a wrapping column is at least as wide as its longest word (a source's name
        # among them), up to WORD_MAX: only a longer word is folded
        words = [min(_width(w), WORD_MAX) for row, _ in self.rows for line in row[i]
                 for w in line.split()]
        return max(min(natural, max(WRAP_MIN, self.columns[i].least)), *words,
                   *(cell_len(h) for h in self.columns[i].heading))

    def layout(self, width: int) -> tuple[list[int], dict[int, int]]:
        """The columns shown (secondary ones left out until the rest fit) and their
        widths."""
        shown = list(range(len(self.columns)))
        least = {i: self._least(i) for i in shown}

        def total(cols: list[int]) -> int:
            return sum(least[i] for i in cols) + len(GAP) * (len(cols) - 1)

        for i in [] if self.wide else self.drop:
            if total(shown) <= width:
                break
            shown.remove(i)
        widths = dict(least)
        spare = width - total(shown)
        # what is left goes to the wrapping columns, the one that needs least first:
        # a short column (a list of recipients) is then whole, the headlines take the rest
        growing = sorted((i for i in shown if self.columns[i].wraps),
                         key=lambda i: self._natural(i) - least[i])
        for i in growing:
            if spare > 0:
                more = min(spare, self._natural(i) - least[i])
                widths[i] += more
                spare -= more
        return shown, widths

    def lines(self, width: int) -> Iterator[tuple[str, Style | None, bool]]:
        """(line, style, is a URL line) for each line of the table at `width`."""
        shown, widths = self.layout(width)
        # a line wrapped once per column: a backtest repeats a headline in a row for
        # every watch it matched
        wrapped: dict[tuple[int, str], list[str]] = {}

        def cell(i: int, lines: list[str]) -> list[str]:
            if not self.columns[i].wraps:
                return lines
            out = []
            for line in lines:
                pieces = wrapped.get((i, line))
                if pieces is None:
                    pieces = wrapped[(i, line)] = wrap(line, widths[i], fold=True)
                out += pieces
            return out

        def joined(cells: dict[int, list[str]], bottom: bool) -> Iterator[str]:
            height = max(len(c) for c in cells.values())
            for n in range(height):
                parts = []
                for i in shown:
                    c = cells[i]
                    k = n - (height - len(c)) if bottom else n
                    text = c[k] if 0 <= k < len(c) else ""
                    pad = " " * (widths[i] - _cells(text))
                    parts.append(pad + text if self.columns[i].right else text + pad)
                yield GAP.join(parts).rstrip()

        if self.title:
            yield self.title, TITLE, False
        for line in joined({i: self.columns[i].heading for i in shown}, bottom=True):
            yield line, HEADING, False
        yield "─" * (sum(widths[i] for i in shown) + len(GAP) * (len(shown) - 1)), None, False
        for cells, url in self.rows:
            yield from ((line, None, False)
                        for line in joined({i: cell(i, cells[i]) for i in shown}, False))
            if url:
                yield url, None, True
        left_out = [" ".join(self.columns[i].heading) for i in range(len(self.columns))
                    if i not in shown]
        if left_out:
            note = f"(left out at {width} columns: {', '.join(left_out)}; --wide shows them)"
            yield from ((line, NOTE, False) for line in wrap(note, width, " "))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line, style, _ in self.lines(options.max_width):
            yield Segment(line, style)
            yield Segment.line()


def show(console: Console, table: Table) -> None:
    """Print a table, its URL lines whole (`console.print` would crop them)."""
    console.print(table, crop=False)


def table(title: str, headings: Sequence[str], numeric_from: int = 2, *,
          drop: Iterable[str] = (), wrap: Iterable[str] = (), wide: bool = False,
          least: Mapping[str, int] | None = None) -> Table:
    """A table: columns from `numeric_from` on are right-aligned numbers; the ones named
    in `wrap` wrap at word boundaries, every other one is as wide as its widest cell. To
    fit the width, the columns named in `drop` are left out, first named first. A heading
    may hold a line break; `drop`, `wrap` and `least` (the width a column keeps even
    when its cells are narrower: a live table that does not jump) name it with a space
    instead."""
    def key(heading: str) -> str:
        return " ".join(heading.split())

    index = {key(h): i for i, h in enumerate(headings)}
    wrapping = {index[key(h)] for h in wrap}
    widths = {index[key(h)]: n for h, n in (least or {}).items()}
    columns = [_Column(h.split("\n"), i >= numeric_from, i in wrapping, widths.get(i, 1))
               for i, h in enumerate(headings)]
    return Table(title, columns, [index[key(h)] for h in drop], wide)
