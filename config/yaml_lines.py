"""The fastest of the config's YAML readers: a line-by-line reader of the block YAML a
config is written in (keys and `- ` items, one per line; plain, 'single' and "double"
quoted scalars; one-line [flow, lists]; comments), in plain Python, several times faster
than building libyaml's nodes for a config of 10,000 watches.

It reads only what it is sure of and gives up on anything else (a tab, a quote left
open, a multi-line scalar, |, >, {, &, *, !, a key given twice or not a plain word, a
scalar YAML 1.2 reads as something other than a string, a number, true/false or null,
an indentation it does not expect...): config.yaml_tree then reads the text as before,
with libyaml or ruamel.yaml, whose trees and errors are the reference. Lines are the
same as theirs: a key's own line, and the line on which an item's value starts.
"""

from __future__ import annotations

import re
from typing import Any

from newswatch.config.yaml_tree import (
    _BOOL,
    BOOL,
    FLOAT,
    INT,
    NULL,
    STR,
    LineMap,
    LineSeq,
    _resolve,
)

# a key: a plain word (one YAML 1.2 reads as a string: checked with _resolve), its colon,
# then the value (or nothing); an item: `-` and its value (or nothing)
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?: +(.*))?\Z")
_SINGLE = re.compile(r"'((?:[^']|'')*)'(?: *| +#.*)\Z")
_DOUBLE = re.compile(r'"([^"\\]*)"(?: *| +#.*)\Z')
_FLOW = re.compile(r"\[(.*)\](?: *| +#.*)\Z")
_FLOW_ITEM = re.compile(r""" *(?:'((?:[^']|'')*)'|"([^"\\]*)"|([^,'"\[\]{}#\s][^,\[\]{}#]*?))"""
                        r" *(,|\Z)")
# what may not start a plain scalar (YAML's indicators), and what may not be in one here
_NOT_FIRST = set("-?:,[]{}#&*!|>'\"%@`")


class _Unsure(Exception):
    """Text this reader leaves to the others."""


def _plain(text: str) -> Any:
    """A plain scalar's value (comments already cut off)."""
    if not text or (text[0] in _NOT_FIRST and not (
            text[0] == "-" and len(text) > 1 and text[1] not in " #")):
        raise _Unsure
    if ": " in text or text.endswith(":") or "#" in text:
        raise _Unsure
    tag = _resolve(text)
    if tag == STR:
        return text
    if tag == INT:
        return int(text)
    if tag == FLOAT:
        return float(text)
    if tag == BOOL:
        return _BOOL[text]
    if tag == NULL:
        return None
    raise _Unsure  # hex, octal, dates, .inf... read by ruamel as YAML 1.2 says


def _scalar(text: str, number: int) -> Any:
    """A value written after `key: ` or `- `: a scalar or a one-line [list]."""
    first = text[0]
    if first == "'":
        m = _SINGLE.match(text)
        if m is None:
            raise _Unsure
        return m.group(1).replace("''", "'")
    if first == '"':
        m = _DOUBLE.match(text)
        if m is None:
            raise _Unsure
        return m.group(1)
    if first == "[":
        m = _FLOW.match(text)
        if m is None:
            raise _Unsure
        return _flow(m.group(1), number)
    cut = text.find(" #")
    return _plain((text if cut < 0 else text[:cut]).rstrip())


def _flow(inner: str, number: int) -> LineSeq:
    items = LineSeq()
    if not inner.strip():
        return items
    pos = 0
    while True:
        m = _FLOW_ITEM.match(inner, pos)
        if m is None:
            raise _Unsure
        single, double, plain, end = m.groups()
        if single is not None:
            items.append(single.replace("''", "'"))
        elif double is not None:
            items.append(double)
        else:
            items.append(_plain(plain.rstrip()))
        items.lines.append(number)
        if not end:
            return items
        pos = m.end()
        if not inner[pos:].strip():
            raise _Unsure  # a trailing comma


class _Frame:
    """A mapping or list being read, and the column its keys or dashes are at."""

    __slots__ = ("column", "node", "shared")

    def __init__(self, column: int, node: LineMap | LineSeq, shared: bool = False):
        # shared: a list whose dashes are at its key's column (`key:` then `- a`)
        self.column, self.node, self.shared = column, node, shared


def lines_tree(text: str) -> tuple[bool, Any]:
    """(True, the tree) when this reader is sure of `text`; (False, None) when the others
    must read it."""
    try:
        return True, _read(text)
    except _Unsure:
        return False, None


def _read(text: str) -> Any:
    if "\t" in text or "\r" in text or text.startswith("\ufeff"):
        raise _Unsure
    stack: list[_Frame] = []
    # a `key:` or `-` without a value: (the mapping or list, the key or index, the column
    # of the key or dash); it holds the block that follows, more indented, or null
    open_slot: tuple[LineMap | LineSeq, Any, int] | None = None
    # an item whose value starts on a later line: its line is that value's first line
    item_line: tuple[LineSeq, int] | None = None
    root: LineMap | None = None
    for number, line in enumerate(text.split("\n")):
        line = line.rstrip(" ")
        body = line.lstrip(" ")
        if not body or body[0] == "#":
            continue
        if not line.isprintable() or body.startswith(("---", "...", "%")):
            raise _Unsure
        column = len(line) - len(body)
        is_item = body[0] == "-" and (len(body) == 1 or body[1] == " ")
        if open_slot is not None:
            parent, key, at = open_slot
            open_slot = None
            nested: LineMap | LineSeq | None = None
            if column > at or (is_item and column == at and isinstance(parent, LineMap)):
                nested = LineSeq() if is_item else LineMap()
                stack.append(_Frame(column, nested, shared=column == at))
            parent[key] = nested
            if isinstance(parent, LineSeq):
                if nested is None:
                    raise _Unsure  # an empty item: where its line is, is libyaml's call
                assert item_line is not None
                item_line[0].lines[item_line[1]] = number
            item_line = None
        elif root is None:
            if column != 0 or is_item:
                raise _Unsure  # a document that is not a mapping at the left margin
            root = LineMap()
            stack.append(_Frame(0, root))
        while stack and stack[-1].column > column:
            stack.pop()
        if stack and stack[-1].shared and not is_item and stack[-1].column == column:
            stack.pop()  # the keys after a `key:` list at the key's own column
        if not stack or stack[-1].column != column:
            raise _Unsure
        frame = stack[-1]
        if is_item:
            if not isinstance(frame.node, LineSeq):
                raise _Unsure
            seq = frame.node
            rest = body[1:].lstrip(" ")
            seq.append(None)
            seq.lines.append(number)
            if not rest or rest[0] == "#":
                open_slot, item_line = (seq, len(seq) - 1, column), (seq, len(seq) - 1)
                continue
            key = _KEY.match(rest)
            if key is None:
                seq[-1] = _scalar(rest, number)
                continue
            item = LineMap()
            seq[-1] = item
            frame = _Frame(column + len(body) - len(rest), item)
            stack.append(frame)
            body = rest
        if not isinstance(frame.node, LineMap):
            raise _Unsure
        m = _KEY.match(body)
        if m is None:
            raise _Unsure
        name, value = m.group(1), m.group(2)
        if name in frame.node or _resolve(name) != STR:
            raise _Unsure
        frame.node.lines[name] = number
        if value is None or value[0] == "#":
            frame.node[name] = None
            open_slot = (frame.node, name, frame.column)
        else:
            frame.node[name] = _scalar(value, number)
    if open_slot is not None and isinstance(open_slot[0], LineSeq):
        raise _Unsure
    return root
