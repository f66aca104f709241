"""`newswatch send` around the outbox, with a real SMTP server (aiosmtpd), a real webhook
receiver behind a `json://` apprise URL and real SQLite: the two dry runs describe the
same messages in every state an outbox can be in, `send --test` reaches every recipient
and channel with the server's answer, and waiting alerts follow their digest's schedule
when it changes."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent, indent

import pytest

from newswatch.config.digest import next_due
from newswatch.store.db import utcnow
from tests.conftest import db_rows, run_cli, write_config
from tests.site.pages import breaking
from tests.site.server import FixtureServer
from tests.smtp import SmtpServer, free_port
from tests.test_channels import ENV, Receiver


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def hook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


def config(tmp_path: Path, site: FixtureServer, smtp_port: int, hook_port: int,
           watches: str, sources: str = "") -> Path:
    return write_config(tmp_path, dedent(f"""
        sources:
          - name: daily
            feeds: ["{site.base}/feed.xml"]
        """) + indent(dedent(sources), "  ") + dedent(f"""
        alerts:
          from: "newswatch <alerts@newswatch.test>"
          to: [desk@example.org]
          ops: [ops@example.org]
          notify: ["json://127.0.0.1:{hook_port}/hook/${{NW_HOOK_TOKEN}}"]
          smtp:
            host: 127.0.0.1
            port: {smtp_port}
            security: none
            timeout: 5s
        """) + dedent(watches))


def described(output: str) -> list[str]:
    """What a dry run says it would send: its summary lines and each message's
    headers, whatever else the command printed (a crawl's table)."""
    return [line.replace(", nothing was stored", "") for line in output.splitlines()
            if line.startswith(("dry run:", "--- "))]


def test_both_dry_runs_describe_the_same_messages_in_every_outbox_state(
        fresh_site: FixtureServer, smtp: SmtpServer, hook: Receiver, tmp_path: Path) -> None:
    dead = free_port()  # a source whose host refuses: three bad runs make an ops email
    cfg = config(tmp_path, fresh_site, smtp.port, hook.port, """
        watches:
          - name: councils
            query: '"crypto council"'
          - name: mous
            query: 'memorandum of understanding'
            to: [policy@example.org]
            digest: daily
          - name: paused
            query: 'Pakistan AND crypto*'
            digest: daily
        """, sources=f"""
          - name: dead
            feeds: ["http://127.0.0.1:{dead}/feed.xml"]
        """)
    # the desk's email is refused for good (failed), the channel's message answered
    # with a 500 (pending, with the error); the digests' alerts wait
    smtp.handler.fail_next = ["550 5.1.1 mailbox unavailable"]
    hook.fail = [500] * 10  # each crawl tries it again
    assert run_cli("crawl", "--source", "daily", config=cfg, env=ENV).returncode == 0
    states = {r["status"] for r in db_rows(cfg, "select status from emails")}
    assert states == {"failed", "pending"}
    # a disabled watch's waiting alerts are held
    cfg.write_text(cfg.read_text().replace("  - name: paused\n",
                                           "  - name: paused\n    enabled: false\n"))
    # with the SMTP server down, the dead source's ops email stays pending
    smtp.stop()
    for _ in range(3):
        assert run_cli("crawl", "--source", "dead", config=cfg, env=ENV).returncode == 1
    ops = db_rows(cfg, "select status, last_error from emails where digest = 'health'")
    assert len(ops) == 1 and ops[0]["status"] == "pending" and ops[0]["last_error"]
    # the mous digest's time has come: an email and a channel message are due
    con = sqlite3.connect(tmp_path / "nw.db")
    with con:
        con.execute("update outbox set due = '2000-01-01 00:00:00' where digest = 'daily' "
                    "and match_id in (select id from matches where watch = 'mous')")
    con.close()
    before = db_rows(cfg, "select id, status, attempts from emails order by id")

    sent = run_cli("send", "--dry-run", config=cfg, env=ENV)
    crawled = run_cli("crawl", "--dry-run", "--source", "daily", config=cfg, env=ENV)
    for proc in (sent, crawled):
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stderr == ""
    assert described(sent.stdout) == described(crawled.stdout)
    said = described(sent.stdout)
    assert said[:3] == ["dry run: nothing was sent",
                        "dry run: 1 email and 1 channel message would be sent now",
                        "dry run: 1 email and 1 channel message composed before would be "
                        "tried again"]
    assert "--- To: policy@example.org" in said
    assert "--- Subject: [newswatch] mous: Pakistan and partner state sign blockchain " \
           "memorandum of understanding" in said
    assert "--- Title: newswatch: 1 new match (daily digest)" in said
    assert any(line.startswith("--- Again: to ops@example.org: [newswatch] source dead "
                               "is failing") for line in said)
    assert any(line.startswith("--- Again: to json://127.0.0.1:") and "error=500" in line
               for line in said)
    assert not any("paused" in line for line in said)  # held
    assert "== mous ==" in sent.stdout and "== mous ==" in crawled.stdout
    # nothing was sent, stored or changed
    assert db_rows(cfg, "select id, status, attempts from emails order by id") == before
    assert hook.posts == []

    # a new article: the dry-run crawl adds it to the messages a real crawl would send
    fresh_site.state.articles.append(breaking(
        "crypto-council-budget", "The crypto council asks for a budget",
        "The crypto council asked the finance ministry for its own budget line.",
        "Its members want staff of their own by the summer."))
    crawled = run_cli("crawl", "--dry-run", "--source", "daily", config=cfg, env=ENV)
    assert crawled.returncode == 0, crawled.stderr
    said = described(crawled.stdout)
    assert said[1] == "dry run: 2 emails and 2 channel messages would be sent now"
    assert "--- Subject: [newswatch] councils: The crypto council asks for a budget" in said
    assert db_rows(cfg, "select id, status, attempts from emails order by id") == before


def test_send_test_reaches_every_recipient_and_channel_with_the_servers_answer(
        fresh_site: FixtureServer, smtp: SmtpServer, hook: Receiver, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, smtp.port, hook.port, """
        watches:
          - name: councils
            query: '"crypto council"'
          - name: mous
            query: 'memorandum of understanding'
            to: [policy@example.org]
        """)
    proc = run_cli("send", "--test", config=cfg, env=ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == (f"send --test: a test message to 2 emails and 1 channel message; "
                        f"emails: SMTP 127.0.0.1:{smtp.port}")
    assert f"  desk@example.org (councils): sent: SMTP 127.0.0.1:{smtp.port} answered " \
           "250 OK" in lines
    assert f"  policy@example.org (mous): sent: SMTP 127.0.0.1:{smtp.port} answered " \
           "250 OK" in lines
    assert re.search(r"^  json://127\.0\.0\.1:\d+/… \(councils, mous\): sent: apprise: ok$",
                     proc.stdout, re.M), proc.stdout
    assert lines[-1] == "3 of 3 test message(s) went"
    mails = {str(m["To"]): m for m in smtp.received}
    assert set(mails) == {"desk@example.org", "policy@example.org"}
    assert mails["policy@example.org"]["Subject"] == "[newswatch] test message for mous"
    text = mails["policy@example.org"].get_content()
    assert "This is a test message from newswatch, for the watch mous." in text
    (path, body), = hook.posts
    assert path == "/hook/s3cret-token"
    assert body["title"] == "newswatch: test message for councils, mous"
    assert "for the watches councils, mous" in body["message"]
    assert db_rows(cfg, "select * from emails") == []  # the outbox is left alone

    # one watch; the server refuses the email for good and the channel answers 503
    smtp.handler.always = "550 5.1.1 mailbox unavailable"
    hook.fail = [503]
    proc = run_cli("send", "--test", "--watch", "mous", config=cfg, env=ENV)
    assert proc.returncode == 1
    assert "  policy@example.org (mous): NOT sent: SMTP 550 5.1.1 mailbox unavailable" \
        in proc.stdout.splitlines()
    assert re.search(r"json://127\.0\.0\.1:\d+/… \(mous\): NOT sent: .*error=503",
                     proc.stdout), proc.stdout
    assert "desk@example.org" not in proc.stdout
    assert proc.stdout.splitlines()[-1] == "0 of 2 test message(s) went"
    # the variable missing: that channel says why; an SMTP server that is down too
    smtp.stop()
    proc = run_cli("send", "--test", config=cfg, env={"NW_HOOK_TOKEN": ""})
    assert proc.returncode == 1
    assert "$NW_HOOK_TOKEN is not set in the environment" in proc.stdout
    assert (f"desk@example.org (councils): NOT sent: SMTP 127.0.0.1:{smtp.port}: "
            "ConnectionRefusedError") in proc.stdout
    assert run_cli("send", "--test", "--watch", "nope", config=cfg).returncode == 2


def test_a_digest_time_change_moves_the_waiting_alerts_to_one_digest(
        fresh_site: FixtureServer, smtp: SmtpServer, hook: Receiver, tmp_path: Path) -> None:
    from newswatch.alerts.deliver import deliver
    from newswatch.alerts.outbox import compose
    from newswatch.config.loader import load_config
    from newswatch.store.db import Store
    from tests.test_web import Web

    cfg = config(tmp_path, fresh_site, smtp.port, hook.port, """
        watches:
          - name: councils
            query: '"crypto council" OR "memorandum of understanding"'
            notify: []
            digest: daily
        """)
    assert run_cli("crawl", config=cfg, env=ENV).returncode == 0
    queued = db_rows(cfg, "select due, created from outbox")
    assert len(queued) == 2 and all(" 08:00:00" in r["due"] for r in queued)
    # a time 12 hours on: no digest time of the old or the new schedule passes meanwhile
    at = (utcnow() + timedelta(hours=12)).strftime("%H:%M")
    cfg.write_text(cfg.read_text().replace("digest: daily\n", f"digest: daily@{at}\n"))
    first = datetime.fromisoformat(queued[0]["created"]).replace(tzinfo=UTC)
    due = next_due(f"daily@{at}", UTC, first)
    shown = f"{due:%Y-%m-%d %H:%M} UTC"
    # every place that lists the waiting alerts says when they go, on the new schedule
    status = run_cli("status", config=cfg, env={"NW_HOOK_TOKEN": ""})
    assert status.returncode == 0, status.stderr
    assert f"  waiting: 2 alerts of councils (daily@{at} digest), due {shown}" \
        in status.stdout.splitlines()
    recent = run_cli("recent", config=cfg, env={"COLUMNS": "300", "NW_HOOK_TOKEN": ""})
    assert recent.stdout.count(f"desk@example.org: waiting, due {shown}") == 2, \
        recent.stdout
    web = Web(cfg, env={"NW_HOOK_TOKEN": ""}).up()  # needs no channel token either
    try:

        with web.open("/outbox") as r:
            page = r.read().decode()
    finally:
        assert web.stop() == 0
    assert f"2 alert(s) of councils for its daily@{at} digest: due {shown}" in page
    # a new match after the change goes in the same digest as the two before it
    fresh_site.state.articles.append(breaking(
        "crypto-council-budget", "The crypto council asks for a budget",
        "The crypto council asked the finance ministry for its own budget line."))
    assert run_cli("crawl", config=cfg, env=ENV).returncode == 0
    conf = load_config(cfg)
    store = Store(conf.database)
    try:
        assert compose(store, conf, now=due - timedelta(minutes=1)) == []
        made, = compose(store, conf, now=due)
        assert made.alerts == 3 and made.digest == f"daily@{at}"
        assert deliver(store, conf.alerts, force=True).sent == 1
    finally:
        store.close()
    msg, = smtp.received
    assert msg["Subject"] == "[newswatch] 3 new matches: councils (3)"
    assert db_rows(cfg, "select count(*) as n from outbox where email_id is null") == \
        [{"n": 0}]


def test_a_digest_made_immediate_sends_its_waiting_alerts_at_once(
        fresh_site: FixtureServer, smtp: SmtpServer, hook: Receiver, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, smtp.port, hook.port, """
        watches:
          - name: councils
            query: '"crypto council" OR "memorandum of understanding"'
            notify: []
            digest: weekly
        """)
    assert run_cli("crawl", config=cfg, env=ENV).returncode == 0
    assert smtp.received == []
    cfg.write_text(cfg.read_text().replace("digest: weekly\n", ""))
    proc = run_cli("send", config=cfg, env=ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "alerts: sent 1 email; retry later 0, failed 0" in proc.stdout
    msg, = smtp.received
    assert msg["Subject"] == "[newswatch] 2 new matches: councils (2)"
    assert db_rows(cfg, "select distinct digest from outbox") == [{"digest": "immediate"}]
