"""Normalize: split text into Unicode words and fold them (NFKC, case, accents,
possessives, Arabic-script letter and digit forms) so that queries and articles meet on
the same token stream.

An article field is tokenized once; `Tokens.joined` is the folded words separated by
single spaces, with a space at each end, which is what the Aho-Corasick automaton scans:
a whole word is ` word `, a phrase ` crypto council `, a prefix ` crypto`.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate

import regex

# letters, digits and combining marks of any script; an apostrophe joins two word parts
# (O'Brien) and a trailing possessive is dropped (Pakistan's, Pakistan’s -> pakistan)
_WORD = regex.compile(r"[\p{L}\p{N}\p{M}_]+(?:['’][\p{L}\p{N}\p{M}_]+)*")
_POSSESSIVE = regex.compile(r"['’][sS](?= |$)")
# format characters hide inside words: soft hyphens, zero-width (non-)joiners, bidi marks
_FORMAT = regex.compile(r"\p{Cf}+")
_MARKS = regex.compile(r"\p{Mn}+")
_FLATTEN = {ord(c): " " for c in "\n\r\t\v\f\x85\u2028\u2029"}


# Arabic script as Urdu, Persian and Arabic sites mix it: the Arabic and the Persian/Urdu
# forms of yeh, kaf and heh are one letter each, tatweel (a stretch) is nothing, and
# Arabic-Indic and Extended (Urdu, Persian) digits are ASCII digits. Diacritics (harakat)
# are combining marks, dropped with the accents.
_ARABIC = str.maketrans({
    "\u064a": "\u06cc", "\u0649": "\u06cc",  # Arabic yeh, alef maksura -> Farsi yeh
    "\u0643": "\u06a9",  # Arabic kaf -> keheh
    "\u06c1": "\u0647", "\u06be": "\u0647", "\u06d5": "\u0647",  # heh goal, doachashmee, ae
    "\u0640": None,  # tatweel
    **{chr(0x0660 + d): str(d) for d in range(10)},
    **{chr(0x06F0 + d): str(d) for d in range(10)},
})


def fold(word: str) -> str:
    """Case, accent and Arabic-script folding of one word or of space-separated words."""
    word = word.casefold()
    if word.isascii():
        return word
    word = unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFD", word)))
    return word.translate(_ARABIC)


def prepare(text: str) -> str:
    """NFKC with format characters removed: the text that offsets refer to."""
    return _FORMAT.sub("", unicodedata.normalize("NFKC", text))


@dataclass(frozen=True)
class Tokens:
    """One field's words: the prepared text, the words as written (for case-sensitive
    terms) and folded (for everything else), and `joined` for the automaton. Word
    offsets are worked out only when a field has hits."""

    text: str
    raw: tuple[str, ...]
    folded: tuple[str, ...]
    joined: str

    def __len__(self) -> int:
        return len(self.raw)

    @cached_property
    def starts(self) -> list[int]:
        return list(accumulate((len(w) + 1 for w in self.folded[:-1]), initial=1))

    @cached_property
    def flat(self) -> str:
        """`text` with each line break or tab as one space (same length, same offsets)."""
        return self.text.translate(_FLATTEN)

    @cached_property
    def spans(self) -> list[tuple[int, int]]:
        """Each word's (start, end) in `text`, possessive included."""
        return [m.span() for m in _WORD.finditer(self.text)]

    def token_at(self, offset: int) -> int:
        """The index of the word that starts at `offset` of `joined`."""
        return bisect_right(self.starts, offset) - 1


def words(text: str) -> list[str]:
    """The words of a piece of text as written (NFKC, possessives dropped)."""
    return list(tokenize(text).raw)


def tokenize(text: str | None) -> Tokens:
    prepared = prepare(text or "")
    found = _WORD.findall(prepared)
    if not found:
        return Tokens(prepared, (), (), " ")
    # all word-level steps run on the space-joined words, at C speed: words hold no spaces
    line = " ".join(found)
    if "'" in line or "’" in line:
        line = _POSSESSIVE.sub("", line).replace("’", "'")
    raw = line.split(" ")
    folded = fold(line).split(" ")
    return Tokens(prepared, tuple(raw), tuple(folded), " " + " ".join(folded) + " ")
