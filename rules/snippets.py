"""Snippets: which terms hit where, and one or two ~30-word excerpts of the text around
the places where most of a watch's terms meet, with the hits marked by character
offsets (the email escapes the text and then highlights, never the other way round)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from newswatch.rules.normalize import Tokens

WINDOW = 30
LEAD = 10  # words of context before the first hit of a window

Span = tuple[str, int, int]


class Snippet(TypedDict):
    field: str
    text: str
    highlights: list[list[int]]


def hit_summary(found: Mapping[str, list[Span]],
                fields: Mapping[str, Tokens]) -> list[dict[str, object]]:
    """Per term and field: how often, the words as they appear, and character offsets."""
    out: list[dict[str, object]] = []
    for label, spans in found.items():
        by_field: dict[str, list[Span]] = {}
        for span in sorted(set(spans), key=lambda s: (s[0] != "title", s[0], s[1])):
            by_field.setdefault(span[0], []).append(span)
        for name, group in by_field.items():
            tokens = fields[name]
            seen: list[str] = []
            for _, first, last in group:
                phrase = tokens.text[tokens.spans[first][0]:tokens.spans[last][1]]
                if phrase not in seen:
                    seen.append(phrase)
            out.append({
                "term": label, "field": name, "count": len(group), "found": seen[:5],
                "at": [[tokens.spans[f][0], tokens.spans[la][1]] for _, f, la in group[:10]],
            })
    return out


def _windows(spans: list[tuple[str, int, int]], size: int) -> list[tuple[int, int]]:
    """Up to two non-overlapping windows, the ones covering the most distinct terms."""
    scored: list[tuple[int, int, int, int]] = []
    for _, first, _ in spans:
        start = max(0, first - LEAD)
        end = start + size
        inside = [(label, f) for label, f, la in spans if f >= start and la < end]
        scored.append((-len({label for label, _ in inside}), -len(inside), start, end))
    scored.sort()
    chosen: list[tuple[int, int]] = []
    for _, _, start, end in scored:
        if all(end <= s or start >= e for s, e in chosen):
            chosen.append((start, end))
        if len(chosen) == 2:
            break
    return sorted(chosen)


def _render(tokens: Tokens, start: int, end: int,
            marks: list[tuple[int, int]], field: str) -> Snippet:
    end = min(end, len(tokens))
    lo, hi = tokens.spans[start][0], tokens.spans[end - 1][1]
    # keep the punctuation that closes the last word ("Friday." not "Friday")
    limit = tokens.spans[end][0] if end < len(tokens) else len(tokens.text)
    while hi < limit and not tokens.text[hi].isspace():
        hi += 1
    lead = "… " if start > 0 else ""
    # `flat` turns line breaks into spaces one for one, so offsets need no remapping
    text = lead + tokens.flat[lo:hi] + (" …" if end < len(tokens) else "")
    shift = len(lead) - lo
    merged: list[list[int]] = []
    for f, la in sorted(m for m in marks if m[0] >= start and m[1] < end):
        a, b = tokens.spans[f][0] + shift, tokens.spans[la][1] + shift
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return {"field": field, "text": text, "highlights": merged}


def snippets(found: Mapping[str, list[Span]], fields: Mapping[str, Tokens],
             size: int = WINDOW) -> list[Snippet]:
    """One or two excerpts of the text around the strongest hits; the opening of the
    text when only the title (or url) was hit."""
    text = fields.get("text")
    if text is None or not len(text):
        return []
    in_text = sorted(((label, f, la) for label, spans in found.items()
                      for name, f, la in spans if name == "text"), key=lambda s: s[1])
    if not in_text:
        return [_render(text, 0, size, [], "text")]
    marks = [(f, la) for _, f, la in in_text]
    return [_render(text, s, e, marks, "text") for s, e in _windows(in_text, size)]
