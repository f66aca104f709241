"""The fast YAML reader (libyaml) against ruamel.yaml's round-trip loader, the reference:
the same values and the same line for every key and item, for every config and YAML file
in the repository, every config example in the README, and generated documents full of
the scalars YAML 1.1 and 1.2 read differently (`yes`, `08:00`, `010`...). What the fast
reader does not take, ruamel reads, so the two never differ; the tests also prove the
fast reader is what reads ordinary configs (or nothing would be faster)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from newswatch.config.yaml_tree import LineMap, LineSeq, fast_tree, from_ruamel, read_tree
from newswatch.rules.query import QueryError, _two_steps, parse_syntax

ROOT = Path(__file__).resolve().parent.parent


def shape(tree: Any) -> Any:
    """Values and lines together, as plain tuples (so == compares both)."""
    if isinstance(tree, LineMap):
        return ("map", tuple((k, tree.lines.get(k), shape(v)) for k, v in tree.items()))
    if isinstance(tree, LineSeq):
        return ("seq", tuple((line, shape(v)) for line, v in zip(tree.lines, tree,
                                                                 strict=True)))
    if tree is None or isinstance(tree, str | int | float):
        return (type(tree).__name__, tree)
    return (type(tree).__name__, repr(tree))  # dates, ruamel's tagged values


def reference(text: str) -> Any:
    """ruamel's reading, or the syntax error it raises."""
    try:
        return shape(from_ruamel(YAML(typ="rt").load(text)))
    except MarkedYAMLError as exc:
        return ("error", str(exc))


def readme_configs() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)


CONFIGS = [ROOT / "config" / "newswatch.yaml", ROOT / "newswatch" / "cli" / "demo" / "demo.yaml"]
YAML_FILES = sorted(p for p in ROOT.rglob("*.yaml")
                    if ".venv" not in p.parts and ".git" not in p.parts)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_configs_shipped_are_read_fast_and_alike(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    fast, tree = fast_tree(text)
    assert fast, f"{path} fell back to ruamel"
    assert shape(tree) == reference(text)


def test_readme_config_examples_are_read_fast_and_alike() -> None:
    blocks = readme_configs()
    assert len(blocks) >= 3
    for block in blocks:
        fast, tree = fast_tree(block)
        assert fast, block
        assert shape(tree) == reference(block), block


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_reads_as_ruamel_reads_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert shape(read_tree(text)) == reference(text)


# plain scalars that YAML 1.1 (libyaml's resolver) and 1.2 (ruamel's) read differently,
# or that need care: each must come out as ruamel makes it
SCALARS = [
    "yes", "no", "on", "off", "y", "n", "Yes", "OFF", "true", "False", "TRUE", "~", "null",
    "Null", "", "08:00", "1:30", "190:20:30", "010", "007", "0", "-0", "+5", "12", "0o17",
    "0x1F", "0b101", "1_000", "1e3", "1.5e3", "1.5", "-2.25", "+.5", ".5", "1.", "-.inf",
    ".NaN", "2024-01-02", "2024-01-02 10:00:00", "2024-1-2T3:04:05Z", "<<", "=",
    "'quoted'", "'it''s'", '"dq \\u00e9 \\t end"', '"a: b"', "plain words here",
    "daily@08:00", "https://example.com/feed?x=1", "!!str 12", "!!int \"7\"", "!env X",
    "a # comment", "@mou AND x", "'08:00'", "\"yes\"", "[1, yes, '2']", "{a: 1, b: no}",
    "|\n  one\n  two\n", ">\n  folded\n  text\n", "&anchor value", "[a, [b, c]]",
]
KEYS = ["name", "query", "yes", "1", "on", "'quoted key'", "every", "a b", "<<", "08:00"]


def render(items: list[tuple[str, str | list[str]]], indent: str = "") -> str:
    lines = []
    for key, value in items:
        if isinstance(value, list):
            lines.append(f"{indent}{key}:")
            lines += [f"{indent}  - {v}".replace("\n", f"\n{indent}    ") for v in value]
        else:
            lines.append(f"{indent}{key}: {value}".replace("\n", f"\n{indent}  ")
                         .rstrip(" "))
    return "\n".join(lines) + "\n"


documents = st.lists(st.tuples(st.sampled_from(KEYS),
                               st.one_of(st.sampled_from(SCALARS),
                                         st.lists(st.sampled_from(SCALARS), max_size=4))),
                     max_size=6)


@pytest.mark.filterwarnings("ignore::ruamel.yaml.error.ReusedAnchorWarning")
@given(documents)
@example([("yes", "on"), ("every", "08:00"), ("1", "010")])
@example([("name", "a"), ("name", "b")])
@example([("name", "<<")])
def test_generated_documents_read_as_ruamel_reads_them(
        items: list[tuple[str, str | list[str]]]) -> None:
    text = render(items)
    try:
        got = shape(read_tree(text))
    except Exception as exc:  # a syntax error: ruamel's own, wrapped
        got = ("error", str(getattr(exc, "error", exc)))
    assert got == reference(text), text


def test_what_the_fast_reader_takes_and_leaves() -> None:
    taken = fast_tree("a: yes\nb: 08:00\nc: [1, -2, 1.5, true, null, ~, '', x]\n")
    assert taken == (True, {"a": "yes", "b": "08:00",
                            "c": [1, -2, 1.5, True, None, None, "", "x"]})
    for text in ("a: 0x10\n", "a: 1\na: 2\n", "a: !!str 12\n", "a: [1\n", "<<: {b: 1}\n",
                 "a: 2024-01-02\n", "%YAML 1.1\n---\na: 1\n", "a: &x [1]\nb: *x\n",
                 "1: a\n", "a: 1_000\n"):
        assert fast_tree(text) == (False, None), text


def test_lines_are_those_of_keys_and_items() -> None:
    tree = read_tree("# a comment\nwatches:\n  - name: a\n\n    query: x\n  -\n    name: b\n")
    assert tree.lines == {"watches": 1}
    assert tree["watches"].lines == [2, 6]
    assert tree["watches"][0].lines == {"name": 2, "query": 4}


QUERY_PARTS = ["a", "and", "OR", "AND", "NOT", "-", "(", ")", '"two words"', '"', "b*",
               "=MoU", "@set", "@", "title:", "foo:", "NEAR/3", "NEAR", "*", ":", "near",
               "c", '"x"*', "url:", "=", "or"]


@given(st.lists(st.sampled_from(QUERY_PARTS), min_size=1, max_size=7))
@example(["a", "and", "b", "("])
def test_queries_parse_as_in_two_steps(parts: list[str]) -> None:
    """The parser that builds nodes as it reduces gives the same tree, or the same
    error, as parsing first and building after."""
    query = " ".join(parts)

    def outcome(parse: Any) -> Any:
        try:
            return parse(query)
        except QueryError as exc:
            return str(exc)

    assert outcome(parse_syntax.__wrapped__) == outcome(_two_steps)
