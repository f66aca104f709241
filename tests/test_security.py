"""Safe by default: no password on screen or in a log, and the files newswatch writes for
itself owner-only whatever the umask (the SQLite file, the maildir, the running config's
snapshot, error reports)."""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.private import mask_url
from newswatch.cli import guarded
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
