"""Plain text: scraped strings cleaned of what a terminal (or a log, or a mail client)
would act on instead of showing. Here, in the lowest layer, so that the pipeline cleans
what it stores and every command cleans what it prints (rows stored before the cleaning
existed included) with the same rules.

- `clean` is for storing: escape sequences (CSI, OSC, DCS, 8-bit forms) go whole, other
  C0/C1 control characters go (tab and newline stay; CR, vertical tab, form feed and NEL
  are line breaks, so they become newlines). Bidi controls are kept: a headline mixing
  Urdu and English may need them (one-line labels, an email's Subject, drop them:
  `newswatch.alerts.render.one_line`).
- `for_terminal` is for printing: `clean`, and the bidi embeddings, overrides and
  isolates (U+202A-U+202E, U+2066-U+2069) removed too, because a terminal cannot confine
  them to a table cell: an override reorders everything after it on the line.
- `html_controls` is for markup before it is parsed: lxml refuses a document holding a
  control character (raw or as `&#8;`, `&#x1b;`), and trafilatura then finds nothing.
"""

from __future__ import annotations

import re

# ESC or its 8-bit forms: CSI (parameters, then a final byte); OSC, DCS, SOS, PM and APC
# (a string up to BEL, ST or the end of the line: an unterminated one must not swallow
# the rest of an article); any other ESC and the one character it introduces
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?")
_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85]")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_LINE_SEPARATORS = re.compile("[\u2028\u2029]")
# a character that `clean` (the first range) or `for_terminal` (all of them) changes:
# text without one is returned as it is, after one search instead of a substitution each
_UNCLEAN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_UNSHOWABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
# a numeric character reference: decimal or hexadecimal, the semicolon optional as in HTML
_REFERENCE = re.compile(r"&#(?:([0-9]{1,8})|[xX]([0-9a-fA-F]{1,6}));?")
# HTML5 reads references to 0x80-0x9F as windows-1252 (&#150; is an en dash), not as C1
_WINDOWS_1252 = {n: bytes([n]).decode("cp1252", errors="ignore") for n in range(0x80, 0xA0)}


def clean(text: str) -> str:
    """`text` without escape sequences and control characters (tab and newline stay)."""
    if text.isprintable() or not _UNCLEAN.search(text):  # the common cases, fast
        return text
    text = _ESCAPES.sub("", text)
    text = _BREAKS.sub("\n", text)
    return _CONTROLS.sub("", text)


def clean_optional(text: str | None) -> str | None:
    return None if text is None else clean(text)


def for_terminal(text: str) -> str:
    """`text` safe to print: `clean`, bidi controls gone, line separators as newlines."""
    if not _UNSHOWABLE.search(text):  # a table cell of plain text, lines and all
        return text
    text = _BIDI.sub("", clean(text))
    return _LINE_SEPARATORS.sub("\n", text)


def _reference(match: re.Match[str]) -> str:
    number = int(match.group(1) or match.group(2), 10 if match.group(1) else 16)
    if number in (0x09, 0x0A, 0x0D):
        return match.group(0)
    if number < 0x20 or number == 0x7F:
        # the character itself, for `clean` to take out with the escape sequence it may
        # start (`&#27;[2J`) or turn into a line break (`&#11;`, a word processor's)
        return chr(number)
    if 0x80 <= number < 0xA0:
        return _WINDOWS_1252[number] or ""
    return match.group(0)


def html_controls(markup: str) -> str:
    """HTML markup without control characters, raw or written as references, so that a
    parser accepts it; references to 0x80-0x9F become the windows-1252 characters HTML
    means by them."""
    if "&#" in markup:
        markup = _REFERENCE.sub(_reference, markup)
    return clean(markup)
