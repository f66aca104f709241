"""The fast ways a config is read give what the slower ones gave: the line-by-line YAML
reader the trees (lines included) libyaml builds, the loader the same errors on the same
lines; and matching with lazily made hit lists and lazily compiled tests the same
matches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from newswatch.config import yaml_lines
from newswatch.config.loader import ConfigError, parse_config_text
from newswatch.config.yaml_lines import lines_tree
from newswatch.config.yaml_tree import fast_tree
from newswatch.rules.matcher import COMPILE_AFTER, Document, Match, Matcher
from newswatch.rules.nodes import Hits, compile_test
from newswatch.rules.plaintext import clean, for_terminal
from tests.test_rules_properties import VOCAB, queries, texts
from tests.test_yaml_tree import CONFIGS, documents, readme_configs, render, shape

LINES = ["a: 1", "- x", "  b: 1", "c:", "  - 1", "  - 'q'", "d: [1, 'a, b', \"c\"]", "# c", "",
         "e: x # y", "    f: 2", "-", "  g:", "h: 'it''s'", "i: yes", "j: 08:00", "k: -3",
         "l: 1.5", "m: ~", "n: null", "o: a: b", "p: @x", "  - name: a", "    query: 'x'",
         'q: "a # b"', "r: a#b", "s: []", "t: [a, b,]", "u: a  ", "  -   v: 1", "w:", "- y",
         "   z: 3", "x: [a, [b]]", "y: 'open", "z: |", "  text", "A: &x 1", "B: *x",
         "C: !!str 1", "D: 0x1F", "E: 2024-01-02", "F: \"a\\tb\"", "G: ''", "H: -", "on: off"]


@settings(max_examples=400)
@given(st.lists(st.sampled_from(LINES), min_size=1, max_size=9))
@example(["a: 1", "- x"])
@example(["c:", "- 1", "- 2", "a: 1"])
@example(["c:", "  - name: a", "    query: 'x'", "  -", "    name: b"])
def test_the_line_reader_builds_what_libyaml_builds(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    sure, tree = lines_tree(text)
    if sure:  # what it takes, libyaml takes too, and builds alike, lines included
        read, reference = fast_tree(text)
        assert read, text
        assert shape(tree) == shape(reference), text


@given(documents)
@settings(max_examples=300)
def test_generated_documents_read_alike(items: list[tuple[str, str | list[str]]]) -> None:
    text = render(items)
    sure, tree = lines_tree(text)
    if sure:
        read, reference = fast_tree(text)
        assert read and shape(tree) == shape(reference), text


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_the_configs_shipped_are_read_line_by_line(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    sure, tree = lines_tree(text)
    assert sure
    assert shape(tree) == shape(fast_tree(text)[1])


def test_what_the_line_reader_leaves_to_the_others() -> None:
    assert lines_tree("a: 1\nb: [x, 'y, z']\nc:\n- 2\n") == (
        True, {"a": 1, "b": ["x", "y, z"], "c": [2]})
    for text in ("a: 'open\n  close'\n", "a: |\n  x\n", "a:\tb\n", "a: 1\na: 2\n",
                 "a: &x 1\n", "a: 0x10\n", "'a': 1\n", "- 1\n", "a: b: c\n", "a: 1\n  b: 2\n",
                 "a:\n  -\n  - 2\n", "true: 1\n", "a: x\r\n"):
        assert lines_tree(text) == (False, None), text
    for block in readme_configs():  # whoever reads them, they read as libyaml reads them
        sure, tree = lines_tree(block)
        assert not sure or shape(tree) == shape(fast_tree(block)[1]), block


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


def test_errors_are_on_the_same_lines_whichever_reader_reads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert lines_tree(BAD)[0]
    fast = _issues(BAD)
    monkeypatch.setattr(yaml_lines, "lines_tree", lambda text: (False, None))
    assert _issues(BAD) == fast
    said = "\n".join(fast)
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
