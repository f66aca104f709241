"""Source health: one email to alerts.ops when a source starts failing, none while it
stays broken, one when it recovers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from newswatch.service.health import FAILING_AFTER, assess
from tests.conftest import run_cli, write_config
from tests.site.pages import breaking
from tests.site.server import FixtureServer
from tests.smtp import SmtpServer


def run(status: str = "ok", pages: int = 5, no_text: int = 0) -> dict[str, Any]:
    return {"status": status, "pages": pages, "no_text": no_text, "message": None}


EMPTY = "5 article pages fetched and none had article text"


@pytest.mark.parametrize(("runs", "state", "expected"), [
    ([run("failed"), run("failed")], "healthy", None),
    ([run("failed")] * FAILING_AFTER, "healthy", "failing"),
    ([run("failed"), run("failed"), run(), run("failed")], "healthy", None),
    ([run(pages=4, no_text=4)], "healthy", "failing"),   # at once: extraction came back empty
    ([run(pages=1, no_text=1)], "healthy", None),        # one odd page is not a broken site
    ([run(pages=0)], "healthy", None),
    ([run("failed")] * 5, "failing", None),               # no repeats while it holds
    ([run("partial")] * 3, "healthy", "failing"),          # a dead feed among live ones
    ([run("partial"), run("failed"), run("partial")], "healthy", "failing"),
    ([run("partial")] * 2, "healthy", None),
    ([run(pages=0), run("failed")], "failing", "healthy"),
    ([run(pages=3, no_text=3), run()], "failing", None),
])
def test_assess(runs: list[dict[str, Any]], state: str, expected: str | None) -> None:
    verdict = assess(runs, state, "3 bad runs in a row" if state == "failing" else None)
    assert (verdict[0] if verdict else None) == expected


@pytest.mark.parametrize(("newest", "expected"), [
    (run(pages=0), None),                  # nothing new fetched: no evidence of text yet
    (run(pages=2, no_text=1), "healthy"),  # text again
])
def test_recovery_from_empty_pages_needs_text(newest: dict[str, Any],
                                              expected: str | None) -> None:
    verdict = assess([newest, run(pages=5, no_text=5)], "failing", EMPTY)
    assert (verdict[0] if verdict else None) == expected


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def config(tmp_path: Path, site: FixtureServer, port: int) -> Path:
    return write_config(tmp_path, dedent(f"""
        sources:
          - name: daily
            feeds: ["{site.base}/feed.xml"]
        alerts:
          to: [desk@example.org]
          ops: [ops@example.org]
          smtp: {{host: 127.0.0.1, port: {port}, security: none}}
        """))


def ops_mail(smtp: SmtpServer) -> list[str]:
    return [str(m["Subject"]).strip() for m in smtp.received if m["To"] == "ops@example.org"]


def test_a_broken_feed_is_reported_once_then_its_recovery(fresh_site: FixtureServer,
                                                          smtp: SmtpServer,
                                                          tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, smtp.port)
    fresh_site.state.broken_feed = True
    for _ in range(FAILING_AFTER - 1):
        assert run_cli("crawl", config=cfg).returncode == 1
    assert ops_mail(smtp) == []
    proc = run_cli("crawl", config=cfg)
    assert "source daily is now failing" in proc.stdout, proc.stdout
    assert ops_mail(smtp) == [
        "[newswatch] source daily is failing: 3 bad runs in a row; the last: feed "
        f"{fresh_site.base}/feed.xml: HTTP 500 Internal Server Error"]
    for part in ("plain", "html"):  # each bad run with its reason, in both parts
        body = smtp.received[0].get_body((part,)).get_content()
        assert body.count("HTTP 500 Internal Server Error") >= FAILING_AFTER, body
    assert run_cli("crawl", config=cfg).returncode == 1  # still broken: no second email
    assert len(ops_mail(smtp)) == 1
    assert "failing" in run_cli("status", config=cfg).stdout

    fresh_site.state.broken_feed = False
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0
    assert ops_mail(smtp)[1:] == [
        "[newswatch] source daily has recovered: the last run was good"]


def test_pages_without_text_fail_at_once_and_recover_with_text(fresh_site: FixtureServer,
                                                               smtp: SmtpServer,
                                                               tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, smtp.port)
    fresh_site.state.no_text = True  # a new layout: every article page is an empty shell
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0
    subject, = ops_mail(smtp)
    assert subject.startswith("[newswatch] source daily is failing: 5 article pages fetched "
                              "and none had article text")
    body = smtp.received[-1].get_body(("plain",))
    assert body is not None and "no text 5" in str(body.get_content())

    fresh_site.state.no_text = False
    fresh_site.state.articles.append(breaking(
        "layout-fixed", "Site layout restored after a brief outage",
        "The site's editors restored the usual article layout on Friday after readers "
        "reported empty pages for most of the morning.",
        "A spokesperson said a faulty template had been published by mistake and that no "
        "stories had been lost."))
    assert run_cli("crawl", config=cfg).returncode == 0
    assert ops_mail(smtp)[1:] == ["[newswatch] source daily has recovered: the last run was good"]
