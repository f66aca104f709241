"""The hand-written query parser (rules.query) reads every query it accepts exactly as
the lark grammar (rules.grammar) does, and leaves every other one to the grammar, whose
error is the one reported; a config whose queries are right never imports lark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from newswatch.rules import grammar
from newswatch.rules.query import QueryError, _Reader, parse_syntax
from tests.conftest import ROOT, write_config

PARTS = ["a", "b", "OR", "AND", "NOT", "-", "(", ")", '"two words"', '"', "c*", "=MoU",
         '="Crypto Council"', "@set", "@", "title:", "text:", "url:", "source:", "foo:",
         "NEAR/3", "NEAR", "NEARBY", "*", ":", "and", "near", "x-y", "ORx", "\n", "\t",
         "@s:", "title:url:", "cr*pto", '""', "\u00e9t\u00e9", "NEAR/\u0663", "\u00a0"]


def outcome(parse: Any, query: str) -> Any:
    try:
        return parse(query)
    except QueryError as exc:
        return ("error", str(exc), exc.column)


@given(st.lists(st.sampled_from(PARTS), min_size=1, max_size=8), st.sampled_from([" ", ""]))
@example(["b*", "b*", '="Crypto Council"', "title:", "a", "@set"], " ")
@example(["a", "\n", "@set"], " ")
@example(["(", "a", "OR", "@set", ")", "NEAR/3", "title:", "b"], " ")
@settings(max_examples=1500)
def test_both_parsers_read_a_query_alike(parts: list[str], glue: str) -> None:
    query = glue.join(parts)
    if not query.strip():
        return
    # what is reported: the grammar's tree, or its error with its column
    assert outcome(parse_syntax.__wrapped__, query) == outcome(grammar.parse, query)
    try:
        tree = _Reader(query).query()
    except Exception:  # the reader gives up: the grammar decides
        return
    assert tree == grammar.parse(query)


def test_the_set_column_kept_for_expansion_is_the_grammars() -> None:
    query = "a OR\n  (b AND @unknown)"
    assert _Reader(query).query() == grammar.parse(query)
    assert parse_syntax.__wrapped__(query) == grammar.parse(query)


def test_mistakes_are_reported_as_the_grammar_reports_them() -> None:
    for query, said in [("a AND", "column 6: unexpected the end of the query: expected a term"),
                        ("a and b", 'column 3: lowercase "and" is taken as a word'),
                        ("foo:bar", "column 1: unknown field 'foo'"),
                        ("a NEAR b", "column 3: NEAR needs a distance in words"),
                        ("(a OR b", "column 8: unexpected the end of the query: expected )")]:
        try:
            parse_syntax.__wrapped__(query)
        except QueryError as exc:
            assert str(exc).startswith(said), (query, str(exc))
        else:
            raise AssertionError(f"{query!r} was accepted")


def _modules_after(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                           "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_check_of_a_right_config_imports_neither_lark_nor_sqlalchemy(tmp_path: Path) -> None:
    path = write_config(tmp_path, """
        sources:
          - name: daily
            feeds: ["http://127.0.0.1:9/feed.xml"]
        terms:
          mou: [MoU, "memorandum of understanding"]
        alerts:
          to: [desk@example.com]
          maildir: mail
        watches:
          - name: mous
            query: '@mou AND (crypto* OR "digital assets") -title:rumour'
        """)
    loaded = _modules_after("import contextlib, io\nfrom newswatch.cli.main import main\n"
                            "with contextlib.redirect_stdout(io.StringIO()):\n"
                            f"    assert main(['check', '-c', {str(path)!r}]) == 0")
    assert "newswatch" in loaded and "pydantic" in loaded
    assert not {"lark", "sqlalchemy", "scrapy", "procrastinate", "trafilatura"} & loaded


def test_a_bad_query_brings_the_grammar_and_its_words(tmp_path: Path) -> None:
    path = write_config(tmp_path, """
        watches:
          - name: broken
            query: 'crypto AND'
        """)
    loaded = _modules_after("from newswatch.config.loader import ConfigError, load_config\n"
                            "try:\n"
                            f"    load_config({str(path)!r})\n"
                            "except ConfigError as exc:\n"
                            "    print(exc)\n")
    assert "lark" in loaded
