"""Properties of the matcher, checked by hypothesis over generated queries and texts."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from newswatch.rules.matcher import Document, Matcher
from newswatch.rules.normalize import fold

VOCAB = ["crypto", "council", "bitcoin", "mining", "ban", "pakistan", "mou", "ether",
         "ordinance", "assets", "virtual", "law"]

letters = st.characters(categories=("Lu", "Ll", "Lo"))
word = st.text(letters, min_size=1, max_size=8)
separator = st.sampled_from([" ", "  ", "\n", " - ", "-", ", ", ": ", "\u00ad ", " (", ") "])


@given(
    before=st.lists(word, max_size=30), after=st.lists(word, max_size=30),
    phrase=st.lists(word, min_size=1, max_size=4), seps=st.lists(separator, min_size=4),
    upper=st.booleans(),
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_a_phrase_inserted_into_text_is_found(before: list[str], after: list[str],
                                              phrase: list[str], seps: list[str],
                                              upper: bool) -> None:
    written = [w.upper() if upper else w for w in phrase]
    # case-insensitive means equal under Unicode case folding (dotless ı is not i)
    assume(all(fold(a) == fold(b) for a, b in zip(written, phrase, strict=True)))
    inner = [seps[i % len(seps)] for i in range(len(phrase) - 1)]
    body = written[0] + "".join(s + w for s, w in zip(inner, written[1:], strict=True))
    text = " ".join(before) + " " + body + ". " + " ".join(after)
    query = '"' + " ".join(phrase) + '"'
    matcher = Matcher([("w", query)])
    assert matcher.matching_names(Document.of(text=text)) == ["w"]


def queries(depth: int = 3) -> st.SearchStrategy[str]:
    term = st.one_of(
        st.sampled_from(VOCAB),
        st.sampled_from(VOCAB).map(lambda w: w[:4] + "*"),
        st.lists(st.sampled_from(VOCAB), min_size=2, max_size=3).map(
            lambda ws: '"' + " ".join(ws) + '"'),
    )
    near = st.tuples(term, st.integers(0, 4), term).map(lambda t: f"({t[0]} NEAR/{t[1]} {t[2]})")
    leaf = st.one_of(term, near, st.sampled_from(VOCAB).map(lambda w: "title:" + w))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, inner).map(lambda t: f"({t[0]} AND {t[1]})"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]} OR {t[1]})"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]} -{t[1]})"),
        )

    return st.recursive(leaf, extend, max_leaves=6)


texts = st.lists(st.sampled_from([*VOCAB, "the", "of", "cryptocurrency", "bitcoins"]),
                 max_size=40).map(" ".join)


@given(anchor=st.sampled_from(VOCAB), query=queries(), title=texts, text=texts)
@settings(max_examples=300)
def test_a_query_and_its_negation_never_both_match(anchor: str, query: str, title: str,
                                                   text: str) -> None:
    doc = Document.of(title=title, text=anchor + " " + text)
    matcher = Matcher([("yes", f"{anchor} AND ({query})"), ("no", f"{anchor} AND NOT ({query})")])
    # the anchor is in the text, so exactly one of the two holds
    assert len(matcher.matching_names(doc)) == 1


SHAPES = ["{a} AND {b}", "{a} OR {b}", '"{a} {b}"', "{a} NEAR/2 {b}", "{a}* -{b}", "title:{a}"]
_rng = random.Random(3)
OTHERS = [(f"other{i}", SHAPES[i % len(SHAPES)].format(a=_rng.choice(VOCAB), b=_rng.choice(VOCAB)))
          for i in range(1000)]


# Several generated watches share each example's thousand others: building a Matcher of
# a thousand watches is most of the cost, so 25 examples of up to eight watches check
# about as many watches as 100 examples of one did (and each also sits among the
# example's other generated watches, which share its vocabulary)
@given(watches=st.lists(queries(), min_size=1, max_size=8), title=texts, text=texts)
@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
def test_a_watch_alone_and_among_a_thousand_others_gives_the_same_result(
        watches: list[str], title: str, text: str) -> None:
    assume(text or title)
    doc = Document.of(title=title, text=text)
    mine = [(f"me{i}", query) for i, query in enumerate(watches)]
    among = Matcher([*OTHERS, *mine]).match(doc)
    for name, query in mine:
        alone = Matcher([(name, query)]).match(doc)
        assert alone == [m for m in among if m.watch == name], query
