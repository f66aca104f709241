"""A reloaded config keeps the compiled watches when its watches and term sets did not
change, and compiles them again when they did: the match stage of a crawl worker, given
the configs that `load_config` reads from a file edited between reloads (as the daemon's
SIGHUP and a queue worker's reload hand them over)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from newswatch.config.loader import load_config
from newswatch.pipeline.match import MatchPipeline
from newswatch.rules.matcher import Document
from newswatch.spiders.runtime import ListFeed, Runtime
from tests.conftest import write_config

BODY = """
    sources:
      - name: daily
        feeds: ["http://127.0.0.1:9/feed.xml"]
    terms:
      ports: [harbour, "container terminal"]
    alerts:
      to: [desk@example.com]
    watches:
      - name: ports
        query: '@ports AND dredging'
      - name: budget
        query: 'provincial budget'
"""

HARBOUR = Document.of(title="Dredging starts", text="The harbour gets its dredging at last.")
TERMINAL = Document.of(title="Dredging starts", text="The container terminal is dredged: "
                                                     "dredging begins on Monday.")
BUDGET = Document.of(title="Budget", text="The provincial budget was passed.")


def pipeline(config_path: Path) -> tuple[MatchPipeline, Runtime]:
    rt = Runtime(load_config(config_path), ListFeed(["daily"]), reloadable=True)
    # the match stage finds the runtime on its crawler: the rest of a crawler is unused
    crawler = cast(Any, SimpleNamespace(newswatch_runtime=rt))
    return MatchPipeline(crawler), rt


def names(pipe: MatchPipeline, doc: Document) -> list[str]:
    return pipe.matcher.matching_names(doc)


def test_reload_with_the_same_watches_keeps_the_compiled_matcher(tmp_path: Path) -> None:
    path = write_config(tmp_path, BODY)
    pipe, rt = pipeline(path)
    first = pipe.matcher
    assert names(pipe, HARBOUR) == ["ports"]
    # the same file read again, and then with a new recipient, a digest and a muted
    # watch: a new Config each time, the same watches
    rt.config = load_config(path)
    assert rt.config is not None and pipe.matcher is first
    path.write_text(path.read_text(encoding="utf-8")
                    .replace("desk@example.com", "night@example.com")
                    .replace("query: 'provincial budget'",
                             "query: 'provincial budget'\n    digest: daily\n"
                             "    enabled: false"), encoding="utf-8")
    rt.config = load_config(path)
    assert rt.config.alerts.to == ["night@example.com"]
    assert pipe.matcher is first
    assert pipe._compiled.compiled == 1
    assert names(pipe, BUDGET) == ["budget"]


def test_reload_with_a_changed_query_compiles_again(tmp_path: Path) -> None:
    path = write_config(tmp_path, BODY)
    pipe, rt = pipeline(path)
    first = pipe.matcher
    assert names(pipe, BUDGET) == ["budget"]
    path.write_text(path.read_text(encoding="utf-8").replace(
        "'provincial budget'", "'provincial deficit'"), encoding="utf-8")
    rt.config = load_config(path)
    assert pipe.matcher is not first
    assert pipe._compiled.compiled == 2
    assert names(pipe, BUDGET) == []
    assert names(pipe, Document.of(text="A provincial deficit again.")) == ["budget"]


def test_reload_with_a_changed_term_set_compiles_again(tmp_path: Path) -> None:
    path = write_config(tmp_path, BODY)
    pipe, rt = pipeline(path)
    first = pipe.matcher
    assert names(pipe, TERMINAL) == ["ports"]
    path.write_text(path.read_text(encoding="utf-8").replace(
        '[harbour, "container terminal"]', "[harbour]"), encoding="utf-8")
    rt.config = load_config(path)
    assert pipe.matcher is not first
    assert names(pipe, TERMINAL) == []
    assert names(pipe, HARBOUR) == ["ports"]


def test_reload_with_a_watch_added_or_renamed_compiles_again(tmp_path: Path) -> None:
    path = write_config(tmp_path, BODY)
    pipe, rt = pipeline(path)
    first = pipe.matcher
    path.write_text(path.read_text(encoding="utf-8").replace(
        "name: budget", "name: budgets"), encoding="utf-8")
    rt.config = load_config(path)
    renamed = pipe.matcher
    assert renamed is not first
    assert names(pipe, BUDGET) == ["budgets"]
    path.write_text(path.read_text(encoding="utf-8") +
                    "  - name: deficit\n    query: 'deficit'\n", encoding="utf-8")
    rt.config = load_config(path)
    assert pipe.matcher is not renamed
    assert names(pipe, Document.of(text="The provincial budget deficit grew.")) == \
        ["budgets", "deficit"]
