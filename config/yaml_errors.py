"""A YAML syntax error in plain words: the parser says `expected <block end>, but found
'<block mapping start>'`; a person wants to hear "bad indentation", on which line, and
to see that line. The common mistakes (indentation, a tab, an unclosed quote or bracket,
a colon missing or one too many, a key given twice) each get their own words; anything
else keeps the parser's, with the line's text all the same."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only read here; importing ruamel.yaml costs every command time
    from ruamel.yaml.error import MarkedYAMLError

INDENTED_MORE = "bad indentation: this line is indented more than the key above it allows"
INDENTED_ODD = ("bad indentation: this line lines up with nothing above it (the keys of "
                "one mapping, and the items of one list, start in the same column)")
ITEM_AMONG_KEYS = ("a list item among the keys of a mapping: either every entry here "
                   "starts with '- ' or none does")
MISSING_COLON = "missing colon: a key needs ': ' before its value"
NO_SPACE = "missing space after the colon: write 'key: value'"
EXTRA_COLON = ("a colon inside a value: put the value in quotes "
               "(a colon followed by a space starts a key)")
AFTER_QUOTE = ("text after a closing quote: inside '...' write a quote as '' "
               "(it''s), or quote the value with the other kind of quotes")
TAB = "a tab: YAML indents with spaces only; replace the tab with spaces"
CLOSERS = {"[": "]", "{": "}"}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _meaningful(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _above(lines: list[str], index: int) -> int | None:
    """The nearest line above `index` that holds something (not blank, not a comment)."""
    for i in range(min(index, len(lines)) - 1, -1, -1):
        if _meaningful(lines[i]):
            return i
    return None


def _first_key(lines: list[str], key: str, start: int, end: int, column: int) -> int | None:
    """The line (0-based) in [start, end) where `key` is first given at `column` (after
    nothing but the indentation and a list item's dash)."""
    pattern = re.compile(re.escape(key) + r"\s*:")
    for i in range(max(start, 0), min(end, len(lines))):
        line = lines[i]
        if pattern.match(line, column) and not line[:column].strip(" -"):
            return i
    return None


def _colon_not_allowed(lines: list[str], row: int, column: int) -> tuple[int, str]:
    """`mapping values are not allowed here`: a colon where no key can start. Either a
    value holds ': ' itself, or the line above lacks its colon (so this line reads as
    the rest of that line's text), or this line is indented under a key's value."""
    line = lines[row] if row < len(lines) else ""
    if re.search(r":(\s|$)", line[:column]):
        return row, EXTRA_COLON
    above = _above(lines, row)
    if above is None:
        return row, MISSING_COLON
    previous = lines[above]
    if not re.search(r":(\s|$)", previous.split("#")[0]):
        return above, NO_SPACE if ":" in previous else MISSING_COLON
    if _indent(line) > _indent(previous):
        return row, INDENTED_MORE
    return row, EXTRA_COLON


def _block_end(lines: list[str], row: int, column: int, found: str) -> tuple[int, str]:
    """`expected <block end>, but found ...`: a line that fits no block above it."""
    line = lines[row] if row < len(lines) else ""
    if found == "<scalar>" and re.search(r"['\"]", line[:column]):
        return row, AFTER_QUOTE
    above = _above(lines, row)
    if above is None:
        return row, INDENTED_ODD
    here, there = _indent(line), _indent(lines[above])
    if here > there:
        return row, INDENTED_MORE
    if found == "-" and here == there:
        return row, ITEM_AMONG_KEYS
    return row, INDENTED_ODD


def explain(exc: MarkedYAMLError, text: str) -> tuple[int | None, str, str | None]:
    """The line (1-based) to point at, what is wrong there, and that line's text."""
    lines = text.splitlines()
    problem = str(exc.problem or "")
    context = str(exc.context or "")
    mark, start = exc.problem_mark, exc.context_mark
    row = mark.line if mark is not None else None
    column = mark.column if mark is not None else 0
    message: str | None = None
    if "'\\t'" in problem and row is not None:
        message = TAB
    elif "duplicate key" in problem and row is not None:
        key = re.search(r'duplicate key "(.*?)"', problem)
        name = key.group(1) if key else "?"
        first = _first_key(lines, name, start.line if start else 0, row, column)
        where = f" (first on line {first + 1})" if first is not None else ""
        message = f"duplicate key '{name}'{where}: a key may be given once in a mapping"
    elif "quoted scalar" in context and start is not None:
        row = start.line
        quote = lines[row][start.column] if start.column < len(lines[row]) else "'"
        message = f"unclosed quote: the {quote} that opens the value on this line is " \
                  "never closed"
    elif ("flow sequence" in context or "flow mapping" in context) and start is not None:
        row = start.line
        opener = "[" if "sequence" in context else "{"
        message = (f"unclosed bracket: the {opener} on this line has no matching "
                   f"{CLOSERS[opener]} (or a comma is missing between its items)")
    elif "could not find expected ':'" in problem and start is not None:
        row, message = start.line, MISSING_COLON
    elif "mapping values are not allowed" in problem and row is not None:
        row, message = _colon_not_allowed(lines, row, column)
    elif "expected <block end>, but found" in problem and row is not None:
        found = problem.rpartition("found ")[2].strip("'")
        row, message = _block_end(lines, row, column, found)
    if message is None:
        message = f"YAML syntax error: {problem or exc}"
    if row is None:
        return None, message, None
    shown = lines[row] if row < len(lines) else ""
    return row + 1, message, shown if shown.strip() else None
