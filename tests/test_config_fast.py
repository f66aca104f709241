"""The fast ways a config is read give what the slower ones gave: the loader reading with
libyaml names each error's line; and matching with lazily made hit lists and lazily
compiled tests gives the same matches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from newswatch.config.loader import ConfigError, parse_config_text
from newswatch.config.yaml_tree import fast_tree
from newswatch.rules.matcher import COMPILE_AFTER, Document, Match, Matcher
from newswatch.rules.nodes import Hits, compile_test
from newswatch.rules.plaintext import clean, for_terminal
from tests.test_rules_properties import VOCAB, queries, texts

BAD = """\
database: nw.db
sources:
  - name: daily
    feeds: [https://example.com/feed.xml]
    evry: 10m
  - name: daily
    feeds: [https://example.com/other.xml]
    every: soon
terms:
  mou: [MoU, "memorandum"]
watches:
  - name: ok
    query: '@mou AND crypto'
  - name: broken
    query: 'crypto AND'
  - name: unknown-set
    query: '@nosuch OR x'
  - name: Bad Name
    query: x
alerts:
  to: [not-an-address]
"""


def _issues(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config_text(text, "nw.yaml", Path("/tmp"), environment=False)
    return [str(i) for i in err.value.issues]


def test_each_error_is_on_its_line_when_libyaml_reads() -> None:
    assert fast_tree(BAD)[0]  # libyaml read it; ruamel.yaml was not needed
    said = "\n".join(_issues(BAD))
    for where in ("nw.yaml:5: sources[0].evry: unknown key", "nw.yaml:8: sources[1].every",
                  "nw.yaml:6: sources[1].name: duplicate name 'daily'",
                  "nw.yaml:15: watches[1].query: ", "nw.yaml:17: watches[2].query: ",
                  "nw.yaml:18: watches[3].name: bad name", "nw.yaml:21: alerts.to[0]"):
        assert where in said, (where, said)


@given(query=queries(), title=texts, text=texts)
@settings(max_examples=300)
def test_match_terms_are_those_of_its_hits(query: str, title: str, text: str) -> None:
    matcher = Matcher([("w", query), ("x", f"{VOCAB[0]} OR ({query})")])
    doc = Document.of(title=title, text=text)
    for lazy, eager in zip(matcher.match(doc), matcher.match(doc), strict=True):
        assert lazy.terms == sorted({str(h["term"]) for h in eager.hits})
        assert lazy == eager and lazy.snippets == eager.snippets


def test_a_match_made_with_its_hits_keeps_them() -> None:
    made = Match("w", "council", [{"term": "council"}], [])
    assert (made.hits, made.snippets, made.terms) == ([{"term": "council"}], [], ["council"])
    with pytest.raises(TypeError):
        Match("w", "council")


@given(query=queries(), title=texts, text=texts)
@settings(max_examples=300)
def test_walking_a_watch_and_its_compiled_test_agree(query: str, title: str,
                                                     text: str) -> None:
    matcher = Matcher([("w", query)])
    hits: Hits = matcher.scan(Document.of(title=title, text=text))
    watch = matcher.watches[0]
    assert watch.root.test(hits) == compile_test(watch.root)(hits.present, hits)


def test_a_watch_is_compiled_once_tested_often_and_answers_alike() -> None:
    matcher = Matcher([("w", '"crypto council" AND pakistan -ban')])
    watch = matcher.watches[0]
    docs = [Document.of(text="The crypto council of Pakistan met."),
            Document.of(text="The crypto council of Pakistan voted a ban."),
            Document.of(text="Pakistan's council on crypto met.")]
    answers: list[Any] = []
    for round_ in range(COMPILE_AFTER):
        walked = watch.check == watch._walk
        answers.append([matcher.matching_names(d) for d in docs])
        if round_ == 0:
            assert walked
    assert watch.check != watch._walk  # compiled by now
    assert all(a == [["w"], [], []] for a in answers)
    assert [matcher.matching_names(d) for d in docs] == [["w"], [], []]


def test_plain_text_passes_through_and_controls_do_not() -> None:
    plain = "Headline\nterms: crypto, ban\tand more é ا"
    assert for_terminal(plain) is plain and clean(plain) is plain
    assert for_terminal("a\x1b[31mred\x1b[0m\u202eb\u2028c\rd") == "aredb\nc\nd"
    assert clean("a\x07b\x85c") == "ab\nc"
