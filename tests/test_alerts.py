"""Alerts end to end: crawls of the fixture site whose matches reach a real SMTP server
(aiosmtpd on 127.0.0.1) once, and only once, whatever the server does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from textwrap import dedent, indent

import pytest

from newswatch.store.db import utcnow
from tests.conftest import db_rows, run_cli, table_row, write_config
from tests.site.server import FixtureServer
from tests.smtp import SmtpServer, free_port, self_signed

WATCHES = """
    terms:
      mou: ["=MoU", "memorandum of understanding"]
    watches:
      - name: councils
        query: '"crypto council"'
      - name: pakistan-crypto
        query: 'Pakistan AND crypto*'
      - name: mous
        query: '@mou AND blockchain'
        to: [policy@example.org]
"""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def config(tmp_path: Path, site: FixtureServer, port: int, *, more_sources: str = "",
           watches: str = WATCHES) -> Path:
    return write_config(tmp_path, dedent(f"""
        sources:
          - name: daily
            feeds: ["{site.base}/feed.xml"]
        """) + indent(dedent(more_sources), "  ") + dedent("""
        alerts:
          from: "newswatch <alerts@newswatch.test>"
          to: [desk@example.org]
          smtp:
            host: 127.0.0.1
            port: {port}
            security: none
            timeout: 5s
        """).replace("{port}", str(port)) + dedent(watches))


def plain(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def html(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def by_recipient(server: SmtpServer) -> dict[str, list[EmailMessage]]:
    out: dict[str, list[EmailMessage]] = {}
    for msg in server.received:
        out.setdefault(str(msg["To"]), []).append(msg)
    return out


def test_a_crawl_sends_one_email_per_recipient_grouped_by_watch(
        fresh_site: FixtureServer, smtp: SmtpServer, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, smtp.port)
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0, proc.stderr
    assert "sent 2" in proc.stdout, proc.stdout
    mails = by_recipient(smtp)
    assert set(mails) == {"desk@example.org", "policy@example.org"}
    desk, = mails["desk@example.org"]
    # two watches matched the council story and one the MoU story: one email names both
    assert desk["Subject"] == "[newswatch] 3 new matches: councils (1), pakistan-crypto (2)"
    assert desk.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in desk.iter_parts()] == ["text/plain", "text/html"]
    text = plain(desk)
    assert "== councils ==" in text and "== pakistan-crypto ==" in text
    council_url = next(a.path for a in fresh_site.state.articles
                       if a.slug == "crypto-council-first-meeting")
    # the canonical URL, without the feed's tracking parameters, on a line of its own
    assert re.search(rf"^{re.escape(fresh_site.base + council_url)}$", text, re.M)
    assert text.count(fresh_site.base + council_url + "\n") == 2  # under both watches
    assert "utm_" not in text
    # the footer's two sentences on two lines
    assert "`newswatch status`.\nTo stop these alerts, write to alerts@newswatch.test" in text
    assert "<mark" in html(desk) and "Crypto Council</mark>" in html(desk)
    policy, = mails["policy@example.org"]
    assert policy["Subject"] == ("[newswatch] mous: Pakistan and partner state sign "
                                 "blockchain memorandum of understanding")
    assert policy["Message-ID"] != desk["Message-ID"]
    # a second crawl finds nothing new and sends nothing
    assert run_cli("crawl", config=cfg).returncode == 0
    assert len(smtp.received) == 2


def test_smtp_down_then_back_delivers_every_alert_once(fresh_site: FixtureServer,
                                                       tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet
    cfg = config(tmp_path, fresh_site, port)
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0, proc.stderr
    assert "retry later 2" in proc.stdout, proc.stdout
    # the last error names the server: a wrong port shows
    assert f"last error: SMTP 127.0.0.1:{port}: ConnectionRefusedError" in proc.stdout
    rows = db_rows(cfg, "select status, attempts, message_id from emails order by id")
    assert [r["status"] for r in rows] == ["pending", "pending"]
    server = SmtpServer()
    server.port = port
    server.start()
    try:
        proc = run_cli("send", config=cfg)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        assert "sent 2" in proc.stdout
        assert sorted(m["Message-ID"] for m in server.received) == \
            sorted(r["message_id"] for r in rows)
        assert run_cli("send", config=cfg).returncode == 0
        assert len(server.received) == 2
    finally:
        server.stop()


def test_a_4xx_is_retried_and_a_5xx_is_held_as_failed(fresh_site: FixtureServer,
                                                      smtp: SmtpServer, tmp_path: Path) -> None:
    smtp.handler.fail_next = ["451 4.3.0 try again later"]
    cfg = config(tmp_path, fresh_site, smtp.port)
    proc = run_cli("crawl", config=cfg)
    assert (f"alerts: sent 1 email; retry later 1, failed 0\n"
            f"outbox: 2 composed now; 1 pending, 0 failed, 0 waiting for a digest\n"
            f"emails: SMTP 127.0.0.1:{smtp.port}\n") in proc.stdout, proc.stdout
    assert run_cli("send", config=cfg).returncode == 0
    assert len(smtp.received) == 2
    assert {r["status"] for r in db_rows(cfg, "select status from emails")} == {"sent"}

    smtp.handler.always = "550 5.1.1 mailbox unavailable"
    (tmp_path / "second").mkdir()
    cfg2 = config(tmp_path / "second", fresh_site, smtp.port)  # a fresh database
    proc = run_cli("crawl", config=cfg2)
    assert "failed 2" in proc.stdout, proc.stdout
    status = run_cli("status", config=cfg2).stdout
    assert "2 failed" in status and "550 5.1.1 mailbox unavailable" in status
    # held, not retried: a later send leaves them alone
    smtp.handler.always = None
    assert run_cli("send", config=cfg2).returncode == 0
    assert len(smtp.received) == 2


def test_killed_after_the_server_accepted_repeats_at_most_once_with_the_same_id(
        fresh_site: FixtureServer, smtp: SmtpServer, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, smtp.port)
    smtp.handler.kill_claimant_of = tmp_path / "nw.db"
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == -9  # SIGKILL, mid-batch
    assert len(smtp.received) == 1
    proc = run_cli("send", config=cfg)
    assert proc.returncode == 0, proc.stderr
    ids = [m["Message-ID"] for m in smtp.received]
    assert len(ids) == 3 and len(set(ids)) == 2  # one repeat, with the same Message-ID
    assert run_cli("send", config=cfg).returncode == 0
    assert len(smtp.received) == 3


def test_starttls_needs_the_ca_of_a_self_signed_server(fresh_site: FixtureServer,
                                                       tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = SmtpServer(tls_cert=(cert, key)).start()
    try:
        base = config(tmp_path, fresh_site, server.port)
        cfg = base.parent / "tls.yaml"
        cfg.write_text(base.read_text().replace("security: none", "security: starttls"))
        proc = run_cli("crawl", config=cfg)
        assert "certificate" in proc.stdout and "retry later 2" in proc.stdout, proc.stdout
        assert server.received == []
        cfg.write_text(cfg.read_text().replace("security: starttls",
                                               f"security: starttls\n    ca_file: {cert}"))
        proc = run_cli("send", config=cfg)
        assert "sent 2" in proc.stdout, proc.stdout + proc.stderr
        assert len(server.received) == 2
    finally:
        server.stop()


def test_tracking_variants_of_one_article_alert_once(fresh_site: FixtureServer,
                                                     smtp: SmtpServer, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, smtp.port, watches="""
        watches:
          - name: councils
            query: '"crypto council"'
        """)
    for tracking in ("utm_source=rss", "utm_source=twitter&utm_campaign=x", "fbclid=abc"):
        fresh_site.state.feed_tracking = tracking
        assert run_cli("crawl", config=cfg).returncode == 0
    assert len(smtp.received) == 1
    assert len(db_rows(cfg, "select * from matches")) == 1


def test_one_story_on_two_sites_is_one_alert_naming_both(fresh_site: FixtureServer,
                                                         smtp: SmtpServer,
                                                         tmp_path: Path) -> None:
    # the wire is "another site": same server, another host name, its own layout
    wire = fresh_site.base.replace("127.0.0.1", "localhost")
    cfg = config(tmp_path, fresh_site, smtp.port, more_sources=f"""
          - name: wire
            feeds: ["{wire}/wire/feed.xml"]
        """, watches="""
        watches:
          - name: councils
            query: '"crypto council"'
        """)
    proc = run_cli("crawl", config=cfg)
    assert proc.returncode == 0, proc.stderr
    msg, = smtp.received
    body = plain(msg)
    assert msg["Subject"] == ("[newswatch] councils: National Crypto Council holds its first "
                              "meeting in Islamabad")
    first, copy = db_rows(cfg, "select m.id, m.duplicate_of, a.source, a.url from matches m "
                               "join articles a on a.id = m.article_id order by m.id")
    assert first["duplicate_of"] is None and copy["duplicate_of"] == first["id"]
    assert f"also reported by {copy['source']}:\n  {copy['url']}" in body
    # a third crawl of either site adds nothing and sends nothing
    assert run_cli("crawl", config=cfg).returncode == 0
    assert len(smtp.received) == 1


def test_dry_run_prints_the_emails_and_sends_nothing(fresh_site: FixtureServer,
                                                     smtp: SmtpServer, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, smtp.port)
    proc = run_cli("crawl", "--dry-run", config=cfg)
    assert proc.returncode == 0, proc.stderr
    assert "dry run: nothing was sent, nothing was stored\ndry run: 2 emails would be sent " \
           "now\n" in proc.stdout
    assert "--- To: desk@example.org" in proc.stdout
    assert "--- Subject: [newswatch] 3 new matches: councils (1), pakistan-crypto (2)" \
        in proc.stdout
    assert "== councils ==" in proc.stdout
    assert smtp.received == []
    assert db_rows(cfg, "select * from emails") == []


def maildir_config(tmp_path: Path, site: FixtureServer) -> Path:
    """The site's feed and the watches, alerts delivered to the maildir ./mail."""
    return write_config(tmp_path, dedent(f"""
        sources:
          - name: daily
            feeds: ["{site.base}/feed.xml"]
        alerts:
          to: [desk@example.org]
          maildir: mail
        """) + dedent(WATCHES))


def test_maildir_delivery_writes_one_file_per_email(fresh_site: FixtureServer,
                                                    tmp_path: Path) -> None:
    cfg = maildir_config(tmp_path, fresh_site)
    assert run_cli("crawl", config=cfg).returncode == 0
    files = sorted((tmp_path / "mail" / "new").iterdir())
    assert len(files) == 2
    assert run_cli("crawl", config=cfg).returncode == 0
    assert len(list((tmp_path / "mail" / "new").iterdir())) == 2
    status = run_cli("status", config=cfg)
    assert "0 pending, 0 failed, 2 sent" in status.stdout


def test_digest_alerts_wait_for_their_time(fresh_site: FixtureServer, smtp: SmtpServer,
                                           tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, smtp.port, watches="""
        watches:
          - name: councils
            query: '"crypto council" OR "memorandum of understanding"'
            digest: daily@07:30
        """)
    proc = run_cli("crawl", config=cfg)
    assert "2 waiting for a digest" in proc.stdout, proc.stdout
    assert smtp.received == []
    due = {r["due"] for r in db_rows(cfg, "select due from outbox")}
    assert len(due) == 1 and " 07:30:00" in due.pop()  # the config's timezone is UTC

    # at the digest time (here: compose as of then), one email carries both matches
    from newswatch.alerts.deliver import deliver
    from newswatch.alerts.outbox import compose
    from newswatch.config.loader import load_config
    from newswatch.store.db import Store

    conf = load_config(cfg)
    store = Store(conf.database)
    later = utcnow() + timedelta(days=1)
    assert len(compose(store, conf, now=later)) == 1
    assert deliver(store, conf.alerts, force=True).sent == 1
    msg, = smtp.received
    assert msg["Subject"] == "[newswatch] 2 new matches: councils (2)"
    assert "(daily@07:30 digest)" in plain(msg)
    store.close()


def test_a_login_without_a_password_is_a_clear_error_not_a_prompt(
        fresh_site: FixtureServer, smtp: SmtpServer, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, smtp.port)
    cfg.write_text(cfg.read_text().replace(
        "security: none", "security: none\n    username: alerts@newswatch.test\n"
                          "    password_env: NW_TEST_SMTP_PASSWORD"))
    proc = run_cli("crawl", config=cfg, env={"NW_TEST_SMTP_PASSWORD": ""})
    assert proc.returncode == 0
    assert "no SMTP password for alerts@newswatch.test: set $NW_TEST_SMTP_PASSWORD" in \
        " ".join(proc.stdout.split())  # a wrapped line, as a terminal shows it
    assert smtp.received == []
    assert {r["status"] for r in db_rows(cfg, "select status from emails")} == {"pending"}


def test_the_crawl_summary_counts_alerts_per_source(fresh_site: FixtureServer,
                                                    smtp: SmtpServer, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site, smtp.port)
    proc = run_cli("crawl", config=cfg)
    counts = table_row(proc.stdout, "daily")
    # 3 matches for desk@ (councils, pakistan-crypto x2) and 1 for policy@
    assert counts["matches"] == "4" and counts["alerts"] == "4"
