"""Chat and webhook channels (SPEC §12) end to end: crawls of the fixture site whose
matches reach a real HTTP receiver on 127.0.0.1 behind a `json://` apprise URL, whose
token comes from the environment, through the same outbox as email: once per batch,
retried after a 500, held as failed after a 4xx, never twice. And a watch with
`enabled: false` sends nothing."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import db_rows, run_cli, write_config
from tests.site.pages import breaking
from tests.site.server import FixtureServer


class Receiver:
    """A webhook endpoint: records each POST (path, JSON body); answers `fail` codes
    first, then 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.fail: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                code = receiver.fail.pop(0) if receiver.fail else 200
                if code == 200:
                    receiver.posts.append((self.path, json.loads(body)))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


ENV = {"NW_HOOK_TOKEN": "s3cret-token"}


def config(tmp_path: Path, site: FixtureServer, port: int, extra: str = "") -> Path:
    return write_config(tmp_path, f"""
sources:
  - name: daily
    feeds: ["{site.base}/feed.xml"]
alerts:
  notify: ["json://127.0.0.1:{port}/hook/${{NW_HOOK_TOKEN}}"]
watches:
  - name: councils
    query: '"crypto council"'
  - name: pakistan-crypto
    query: 'Pakistan AND crypto*'
{extra}""")


def test_each_batch_reaches_the_channel_once_grouped_by_watch(
        fresh_site: FixtureServer, hook: Receiver, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, hook.port)
    proc = run_cli("crawl", config=cfg, env=ENV)
    assert proc.returncode == 0, proc.stderr
    (path, body), = hook.posts  # one message for the whole crawl
    assert path == "/hook/s3cret-token"  # the token from the environment
    assert body["title"] == "newswatch: 3 new matches"
    text = body["message"]
    assert text.index("== councils ==") < text.index("== pakistan-crypto ==")
    council = next(a for a in fresh_site.state.articles if a.slug == "crypto-council-first-meeting")
    assert text.count(fresh_site.base + council.path) == 2  # the link, under both watches
    assert "utm_" not in text
    # the token is in no row of the database
    assert "s3cret" not in json.dumps(db_rows(cfg, "select * from emails"), default=str)
    assert run_cli("crawl", config=cfg, env=ENV).returncode == 0
    assert len(hook.posts) == 1  # nothing new, nothing sent


def test_a_500_is_retried_then_delivered_and_a_4xx_is_held_as_failed(
        fresh_site: FixtureServer, hook: Receiver, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, hook.port)
    hook.fail = [500]
    assert run_cli("crawl", config=cfg, env=ENV).returncode == 0
    assert hook.posts == []
    row, = db_rows(cfg, "select status, last_error, attempts from emails")
    assert row["status"] == "pending" and "error=500" in row["last_error"]
    assert "s3cret" not in row["last_error"]
    status = run_cli("status", config=cfg, env=ENV).stdout
    assert "to retry: to json://127.0.0.1" in status and "error=500" in status
    sent = run_cli("send", config=cfg, env=ENV)  # `send` tries now, whatever the backoff
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert len(hook.posts) == 1
    assert db_rows(cfg, "select status from emails") == [{"status": "sent"}]
    # a new match, and the service refuses it for good: held as failed with its answer
    fresh_site.state.articles.append(breaking(
        "crypto-council-second-meeting", "The crypto council meets again",
        "The crypto council met again in Islamabad to go through the draft of the "
        "virtual assets ordinance clause by clause.",
        "Its members asked the finance ministry for a timetable."))
    hook.fail = [403]
    run_cli("crawl", config=cfg, env=ENV)
    failed = db_rows(cfg, "select status, last_error from emails where status = 'failed'")
    assert len(failed) == 1 and "error=403" in failed[0]["last_error"]
    assert len(hook.posts) == 1
    assert "failed: to json://127.0.0.1" in run_cli("status", config=cfg, env=ENV).stdout


def test_a_missing_variable_is_a_warning_and_only_sending_needs_it(
        fresh_site: FixtureServer, hook: Receiver, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, hook.port)
    unset = {"NW_HOOK_TOKEN": ""}
    proc = run_cli("check", config=cfg, env=unset)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"warning: \S+newswatch\.yaml:\d+: alerts\.notify\[0\]: \$\{NW_HOOK_TOKEN\} "
                     r"is not set in the environment: messages to this channel wait in the "
                     r"outbox until it is", proc.stdout), proc.stdout
    # the crawl stores and queues; the channel's message waits with the reason
    assert run_cli("crawl", config=cfg, env=unset).returncode == 0
    assert hook.posts == []
    row, = db_rows(cfg, "select status, last_error from emails")
    assert row["status"] == "pending"
    assert "$NW_HOOK_TOKEN is not set in the environment" in row["last_error"]
    # the read-only commands need no token
    status = run_cli("status", config=cfg, env=unset)
    assert status.returncode == 0, status.stderr
    assert "to retry: to json://127.0.0.1" in status.stdout
    assert "$NW_HOOK_TOKEN is not set" in status.stdout
    page = tmp_path / "page.html"
    page.write_text("<html><head><title>Crypto council meets</title></head><body><article>"
                    "<p>The crypto council of Pakistan met on Monday to talk about the "
                    "rules for exchanges and the new virtual assets ordinance.</p>"
                    "</article></body></html>", encoding="utf-8")
    for command in (["recent"], ["feed"], ["backtest", "--since", "all"],
                    ["match", str(page)]):
        proc = run_cli(*command, config=cfg, env=unset)
        assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
        assert "is not set" not in proc.stdout + proc.stderr
    # with the variable set, the waiting message goes
    assert run_cli("send", config=cfg, env=ENV).returncode == 0
    (path, _), = hook.posts
    assert path == "/hook/s3cret-token"


def test_a_plain_query_parameter_is_dropped_by_apprise_and_check_says_so(
        hook: Receiver, tmp_path: Path) -> None:
    """apprise's json:// takes `?-key=` to pass `key` on, and drops a plain `?key=`: a
    real receiver sees the one and not the other, and `check` warns about the other."""
    cfg = write_config(tmp_path, f"""
        alerts:
          notify: ["json://127.0.0.1:{hook.port}/plain?token=${{NW_HOOK_TOKEN}}",
                   "json://127.0.0.1:{hook.port}/minus?-token=${{NW_HOOK_TOKEN}}"]
        watches:
          - name: councils
            query: '"crypto council"'
        """)
    proc = run_cli("check", config=cfg, env=ENV)
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stdout.splitlines() if "warning:" in line]
    assert len(warned) == 1, proc.stdout
    assert "alerts.notify[0]: apprise's json:// drops ?token= (not one of its options), " \
           "so the server never sees it; write ?-token=... to pass it on to the server" \
           in warned[0]
    proc = run_cli("send", "--test", config=cfg, env=ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [path for path, _ in hook.posts] == ["/plain", "/minus?token=s3cret-token"]


def test_a_disabled_watch_sends_nothing_and_its_queued_alerts_are_held(
        fresh_site: FixtureServer, hook: Receiver, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, hook.port, "    digest: daily\n")
    assert run_cli("crawl", config=cfg, env=ENV).returncode == 0
    # the digest watch's alerts wait for their time; the watch is disabled meanwhile
    cfg.write_text(cfg.read_text().replace("    digest: daily\n", "    enabled: false\n"))
    checked = run_cli("check", config=cfg, env=ENV).stdout
    assert "watch pakistan-crypto" in checked and "held until it is enabled" in checked
    con = sqlite3.connect(cfg.parent / "nw.db")  # and now their time has come
    with con:
        con.execute("update outbox set due = '2000-01-01 00:00:00'")
    con.close()
    assert run_cli("send", config=cfg, env=ENV).returncode == 0
    assert not any("pakistan-crypto" in body["message"] for _, body in hook.posts)
    assert len(db_rows(cfg, "select id from outbox where email_id is null")) == 2
    assert "held (their watch is disabled)" in run_cli("status", config=cfg, env=ENV).stdout
    listed = run_cli("recent", "--watch", "pakistan-crypto", config=cfg,
                     env={**ENV, "COLUMNS": "200"}).stdout
    assert re.search(r"json://127\.0\.0\.1:\d+/…: held", listed), listed
