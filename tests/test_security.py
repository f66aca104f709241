"""Safe by default: no password on screen or in a log, and the files newswatch writes for
itself owner-only whatever the umask (the SQLite file, the maildir, the running config's
snapshot, error reports)."""

from __future__ import annotations

import argparse
import os
import re
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newswatch.cli.main import guarded
from newswatch.config.private import mask_url
from tests.conftest import run_cli, write_config
from tests.procs import DaemonProc, wait_for
from tests.site.server import FixtureServer

PASSWORD = "Hunter2-s3cret"


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask: what newswatch writes must not depend on the user's being strict."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_urls_are_shown_without_their_password() -> None:
    assert mask_url(f"postgresql+psycopg://nw:{PASSWORD}@db:5432/nw") == \
        "postgresql+psycopg://nw:***@db:5432/nw"
    assert PASSWORD not in mask_url(f"redis://:{PASSWORD}@cache/0")
    assert PASSWORD not in mask_url(f"strange://user:{PASSWORD}@host with space")
    assert mask_url("sqlite:////srv/newswatch.db") == "sqlite:////srv/newswatch.db"


def test_check_masks_the_database_and_queue_passwords_read_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NW_DB_PASSWORD", raising=False)
    cfg = tmp_path / "newswatch.yaml"
    cfg.write_text("database: postgresql://nw:${NW_DB_PASSWORD}@127.0.0.1:1/nw\n"
                   "queue: postgresql://nw:${NW_DB_PASSWORD}@127.0.0.1:1/nw\n")
    done = run_cli("check", config=cfg, env={"NW_DB_PASSWORD": PASSWORD})
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert "database: postgresql+psycopg://nw:***@127.0.0.1:1/nw" in done.stdout
    assert "queue: postgresql+psycopg://nw:***@127.0.0.1:1/nw" in done.stdout

    missing = run_cli("check", config=cfg)  # the test's environment has no such variable
    assert missing.returncode == 2
    assert "newswatch.yaml:1: database: ${NW_DB_PASSWORD} is not set in the environment" \
        in missing.stderr, missing.stderr


def test_a_refused_queue_url_is_named_without_its_password(tmp_path: Path) -> None:
    cfg = tmp_path / "newswatch.yaml"
    cfg.write_text(f"queue: mysql://nw:{PASSWORD}@db/nw\n")
    done = run_cli("check", config=cfg)
    assert done.returncode == 2
    assert "mysql://nw:***@db/nw" in done.stderr and PASSWORD not in done.stderr


def test_a_crawl_writes_its_database_and_maildir_owner_only(
        site: FixtureServer, tmp_path: Path, umask_022: None) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    cfg = write_config(conf, f"""\
        sources:
          - name: daily
            feeds: ["{site.base}/feed.xml"]
        watches:
          - name: councils
            query: '"crypto council"'
        alerts:
          from: "nw <nw@example.org>"
          to: [desk@example.org]
          maildir: ../state/mail
        """)
    cfg.write_text(cfg.read_text().replace("database: nw.db", "database: ../state/db/nw.db"))
    done = run_cli("crawl", config=cfg)
    assert done.returncode == 0, done.stdout + done.stderr
    state = tmp_path / "state"
    db = state / "db" / "nw.db"
    assert mode(db) == 0o600 and mode(db.parent) == 0o700
    for side in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        if side.exists():  # SQLite gives them the database file's mode
            assert mode(side) == 0o600, side
    mail = state / "mail"
    files = list((mail / "new").iterdir())
    assert files, done.stdout
    assert {mode(f) for f in files} == {0o600}
    assert {mode(mail / d) for d in ("", "new", "cur", "tmp")} == {0o700}


def test_an_error_report_is_owner_only(tmp_path: Path, umask_022: None,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    def broken() -> int:
        raise RuntimeError(f"a bug that mentions {PASSWORD}")

    code = guarded(argparse.Namespace(verbose=False), broken)
    report = tmp_path / "state" / "newswatch" / "error.log"
    assert code == 1
    assert PASSWORD in report.read_text()  # the full report is for its owner...
    assert mode(report) == 0o600 and mode(report.parent) == 0o700  # ...only


@pytest.mark.slow
def test_the_daemons_config_snapshot_is_owner_only(site: FixtureServer, tmp_path: Path,
                                                   umask_022: None) -> None:
    cfg = write_config(tmp_path, f"""\
        sources:
          - name: daily
            feeds: ["{site.base}/feed.xml"]
            every: 1h
        alerts:
          from: "nw <nw@example.org>"
          to: [desk@example.org]
          smtp: {{host: 127.0.0.1, port: 1, password_env: NW_SMTP_PASSWORD}}
        """)
    cfg.chmod(0o600)
    daemon = DaemonProc(cfg)
    snapshot = tmp_path / ".newswatch.yaml.running"
    try:
        wait_for(snapshot.exists, 30, "the daemon's config snapshot")
        assert mode(snapshot) == 0o600
        wait_for(lambda: "run ok" in daemon.text(), 60, "the first poll")
    finally:
        assert daemon.stop() == 0, daemon.text()
    assert mode(tmp_path / "nw.db") == 0o600


class Host:
    """A few fixed paths on one loopback address, each request's path recorded."""

    def __init__(self, address: str, pages: dict[str, tuple[str, bytes]], delay: float = 0):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.pages = pages  # read at each request: paths may be added once the port is known
        seen: list[str] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                if self.path.endswith(".xml"):
                    time.sleep(delay)
                ctype, body = pages.get(self.path, ("text/plain", b""))
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _feed(links: list[str]) -> tuple[str, bytes]:
    items = "".join(f"<item><title>Story {i}</title><link>{u}</link></item>"
                    for i, u in enumerate(links))
    return ("application/rss+xml", f'<?xml version="1.0"?><rss version="2.0"><channel>'
            f"<title>f</title><link>http://x.example/</link>{items}</channel></rss>".encode())


def test_one_sources_private_allowance_is_not_anothers(tmp_path: Path) -> None:
    # both link to the same private host by name; only the source allowed 127.0.0.0/8
    # may fetch there, the other (allowed only its own feed's address) may not, even
    # when it asks after the first was let through
    story = ("text/html; charset=utf-8", ("<html><head><title>A story</title></head><body>"
             "<article><h1>A story</h1><p>" + "The council met again today to read the "
             "draft once more. " * 8 + "</p></article></body></html>").encode())
    private = Host("127.0.0.1", {"/story-a": story, "/story-b": story})
    lonely = Host("127.1.0.2", {}, delay=1.0)  # its feed is read after the first's
    shared = f"http://localhost:{private.port}"
    private.pages["/a.xml"] = _feed([f"{shared}/story-a"])
    lonely.pages["/b.xml"] = _feed([f"{shared}/story-b"])
    try:
        cfg = write_config(tmp_path, f"""\
            sources:
              - name: allowed
                feeds: ["http://127.0.0.1:{private.port}/a.xml"]
                allow_private: [127.0.0.0/8]
                obey_robots: false
              - name: not-allowed
                feeds: ["http://127.1.0.2:{lonely.port}/b.xml"]
                allow_private: [127.1.0.2/32]
                obey_robots: false
            """)
        done = run_cli("crawl", config=cfg)
        assert "/b.xml" in lonely.seen, done.stdout + done.stderr
        assert "/story-a" in private.seen, done.stdout + done.stderr
        assert "/story-b" not in private.seen, private.seen
    finally:
        private.close()
        lonely.close()


def test_the_resolver_refuses_a_private_answer_no_request_was_approved_for() -> None:
    # DNS rebinding: a name checked (and approved) at one address that answers another
    # when the connection is made is refused; an approved pair passes
    from scrapy.resolver import dnscache
    from twisted.internet import reactor
    from twisted.internet.error import DNSLookupError

    from newswatch.spiders.safety import Approvals, GuardedResolver

    approvals = Approvals()
    resolver = GuardedResolver(reactor, 100, 5.0)  # type: ignore[arg-type]
    resolver.approvals = approvals
    approvals.approve("news.test", "127.0.0.7")
    results: list[object] = []
    try:
        dnscache["news.test"] = "127.0.0.7"
        resolver.getHostByName("news.test").addBoth(results.append)
        dnscache["news.test"] = "127.0.0.8"  # the answer changed after the check
        resolver.getHostByName("news.test").addBoth(results.append)
    finally:
        dnscache.pop("news.test", None)
    assert results[0] == "127.0.0.7"
    assert isinstance(getattr(results[1], "value", None), DNSLookupError)
    results[1].trap(DNSLookupError)  # type: ignore[attr-defined]


# -- the web view ----------------------------------------------------------------------

def _web_config(tmp_path: Path, site: FixtureServer, web: str = "", database: str = "nw.db"
                ) -> Path:
    from tests.test_feeds import config as feeds_config

    cfg = feeds_config(tmp_path, site)
    text = cfg.read_text(encoding="utf-8").replace("database: nw.db",
                                                   f'database: "{database}"', 1)
    cfg.write_text(text + web, encoding="utf-8")
    return cfg


def _get(web: Any, path: str, headers: dict[str, str] | None = None
         ) -> tuple[int, dict[str, str], str]:
    """One request as sent, Host header included (urllib would set its own)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": f"127.0.0.1:{web.port}", **(headers or {})})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        conn.close()


@pytest.mark.slow
def test_the_web_view_login_host_check_and_feed_keys(site: FixtureServer,
                                                     tmp_path: Path) -> None:
    from tests.test_web import TOKEN, Web

    cfg = _web_config(tmp_path, site, "web:\n  hosts: [news.example.org]\n")
    assert run_cli("crawl", config=cfg).returncode == 0
    web = Web(cfg).up()
    try:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        # no token on 127.0.0.1 either
        assert _get(web, "/")[0] == 401
        assert _get(web, "/", bearer)[0] == 200
        # DNS rebinding: the right token, a foreign Host
        status, _, body = _get(web, "/", {**bearer, "Host": "evil.example"})
        assert status == 400 and "unknown Host" in body
        assert _get(web, "/", {**bearer, "Host": "localhost:1234"})[0] == 200
        assert _get(web, "/", {**bearer, "Host": "news.example.org"})[0] == 200  # web.hosts
        # the login link: a cookie that is not the token, and an address without it
        status, headers, _ = _get(web, "/login?token=wrong")
        assert status == 401 and "set-cookie" not in headers
        status, headers, _ = _get(web, f"/login?token={TOKEN}")
        assert status == 303 and headers["location"] == "/"
        cookie = headers["set-cookie"]
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= flags and "secure" not in flags
        session = cookie.split(";")[0]
        assert TOKEN not in session
        assert _get(web, "/sources", {"Cookie": session})[0] == 200
        assert _get(web, "/sources", {"Cookie": "newswatch_session=" + TOKEN})[0] == 401
        # a token in any other address opens nothing
        assert _get(web, f"/?token={TOKEN}")[0] == 401
        # each feed has its own key, shown on the page; it opens that feed only
        _, _, page = _get(web, "/?watch=councils", bearer)
        link = re.search(r'href="(/feeds/councils\.atom\?key=[0-9a-f]+)"', page)
        assert link is not None, page
        status, headers, _ = _get(web, link.group(1).replace("&amp;", "&"))
        assert status == 200 and headers["content-type"].startswith("application/atom+xml")
        key = link.group(1).split("key=")[1]
        assert _get(web, f"/feeds/all.atom?key={key}")[0] == 401
        assert _get(web, f"/?key={key}")[0] == 401
        _, _, page = _get(web, "/", bearer)
        every = re.search(r'href="(/feeds/all\.atom\?key=[0-9a-f]+)"', page)
        assert every is not None and _get(web, every.group(1))[0] == 200
        # the headers every answer carries, refusals included
        for _, headers, _ in (_get(web, "/", bearer), _get(web, "/")):
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
    finally:
        assert web.stop() == 0


@pytest.mark.slow
def test_secure_cookies_behind_https(site: FixtureServer, tmp_path: Path) -> None:
    from tests.test_web import TOKEN, Web

    def flags(web: Any, **headers: str) -> set[str]:
        _, got, _ = _get(web, f"/login?token={TOKEN}", headers)
        return {p.strip().lower() for p in got["set-cookie"].split(";")[1:]}

    cfg = _web_config(tmp_path, site)
    for web_section, plain, proxied in (
            ("", False, False),  # a proxy's header is not believed unless it is trusted
            ("web:\n  trusted_proxies: [127.0.0.1]\n", False, True),
            ("web:\n  https: true\n", True, True)):
        cfg.write_text(cfg.read_text().split("web:\n")[0] + web_section)
        web = Web(cfg).up()
        try:
            assert ("secure" in flags(web)) is plain, web_section
            assert ("secure" in flags(web, **{"X-Forwarded-Proto": "https"})) is proxied
        finally:
            assert web.stop() == 0


@pytest.mark.slow
def test_a_slow_query_holds_up_no_other_page(site: FixtureServer, postgres: Any,
                                             tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    from tests.test_web import TOKEN, Web

    url = postgres.new_database()
    cfg = _web_config(tmp_path, site, database=url)
    assert run_cli("crawl", config=cfg).returncode == 0
    web = Web(cfg).up()
    locker = create_engine(url)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    slow: list[int] = []
    try:
        with locker.connect() as conn:
            # the sources page reads the runs: it waits for this lock
            conn.execute(text("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE"))
            waiting = threading.Thread(
                target=lambda: slow.append(_get(web, "/sources", bearer)[0]), daemon=True)
            waiting.start()
            wait_for(lambda: bool(postgres_waits(locker)), 30, "the sources page to wait")
            # meanwhile another page answers
            assert _get(web, "/?watch=councils", bearer)[0] == 200
            assert waiting.is_alive() and not slow
            conn.rollback()  # the lock goes
        waiting.join(timeout=30)
        assert slow == [200]
    finally:
        locker.dispose()
        assert web.stop() == 0


def postgres_waits(engine: Any) -> list[Any]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return list(conn.execute(text(
            "select pid from pg_stat_activity where wait_event_type = 'Lock'")))


SMTP_PASSWORD = "Smtp-Pa55word-Never-Shown"


@pytest.mark.slow
def test_no_password_in_any_output_log_or_file(site: FixtureServer, postgres: Any,
                                               tmp_path: Path) -> None:
    """A whole session (check, crawl with -v, status, recent, send, feed, the daemon, the
    web view) with a database password and an SMTP password: neither appears in what
    it prints, logs, writes to files or stores."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
    from sqlalchemy import create_engine, text

    from tests.smtp import Handler, free_port
    from tests.test_web import TOKEN, Web

    logins: list[bytes] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        logins.append(auth_data.password)
        return AuthResult(success=auth_data.password == SMTP_PASSWORD.encode())

    smtp = Controller(Handler(), hostname="127.0.0.1", port=free_port(),
                      authenticator=authenticate, auth_require_tls=False)
    smtp.start()
    url = postgres.new_database().replace("postgres@", "postgres:${NW_DB_PASSWORD}@")
    cfg = _web_config(tmp_path, site, database=url)
    cfg.write_text(cfg.read_text().replace("maildir: mail", f"""smtp:
    host: 127.0.0.1
    port: {smtp.port}
    security: none
    username: alerts@newswatch.test
    password_env: NW_SMTP_PASSWORD"""))
    cfg.write_text(cfg.read_text().replace("/feed.xml\"]",
                                           "/feed.xml\"]\n    every: 2s\n    every_max: 2s"))
    assert "smtp:" in cfg.read_text() and "every: 2s" in cfg.read_text()
    env = {"NW_DB_PASSWORD": PASSWORD, "NW_SMTP_PASSWORD": SMTP_PASSWORD}
    os.environ.update(env)  # the daemon and the web view inherit it
    said: list[str] = []
    try:
        for args in (["check"], ["crawl", "-v"], ["status"], ["recent"], ["send"],
                     ["send", "--dry-run"], ["feed"], ["backtest", "--query", "council"]):
            done = run_cli(*args, config=cfg)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            said += [done.stdout, done.stderr]
        assert logins and logins[-1] == SMTP_PASSWORD.encode()  # it was used...
        daemon = DaemonProc(cfg)
        try:
            wait_for(lambda: "run ok" in daemon.text(), 60, "the daemon's first poll")
        finally:
            assert daemon.stop() == 0
        web = Web(cfg).up()
        try:
            for path in ("/", "/sources", "/outbox", "/feeds/all.atom"):
                status, _, body = _get(web, path, {"Authorization": f"Bearer {TOKEN}"})
                assert status == 200
                said.append(body)
        finally:
            assert web.stop() == 0
    finally:
        for name in env:
            os.environ.pop(name, None)
        smtp.stop()
    found = [text for text in said if PASSWORD in text or SMTP_PASSWORD in text]
    assert found == []  # ...and never shown
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert PASSWORD.encode() not in data and SMTP_PASSWORD.encode() not in data, path
    engine = create_engine(url.replace("${NW_DB_PASSWORD}", PASSWORD))
    try:
        with engine.connect() as conn:
            tables = [r[0] for r in conn.execute(text(
                "select tablename from pg_tables where schemaname = 'public'"))]
            for table in tables:
                dump = " ".join(str(row) for row in conn.execute(text(f'select * from "{table}"')))
                assert PASSWORD not in dump and SMTP_PASSWORD not in dump, table
    finally:
        engine.dispose()
