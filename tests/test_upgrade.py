"""Upgrades (SPEC §13): a database made by the previous release (0.1.0, run from its own
source tree) is brought to the current schema, by itself on SQLite and by `newswatch
migrate` on a shared PostgreSQL, with every article, match and alert kept and nothing
alerted twice."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from newswatch.store import migrate
from newswatch.store.db import make_engine
from tests.conftest import ROOT, db_rows, run_cli, write_config
from tests.site.server import FixtureServer

# newswatch 0.1.0, tagged v0.1.0 (CHANGELOG.md): the release before migrations
PREVIOUS = "db9f15e"


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's source tree, from this repository's history."""
    found = subprocess.run(["git", "cat-file", "-e", f"{PREVIOUS}^{{commit}}"], cwd=ROOT,
                           capture_output=True)
    if found.returncode != 0:
        pytest.skip(f"the repository's history lacks {PREVIOUS} (a shallow clone?)")
    tree = tmp_path_factory.mktemp("newswatch-0.1.0")
    archive = subprocess.run(["git", "archive", "--format=tar", PREVIOUS], cwd=ROOT,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def old_cli(tree: Path, *args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "newswatch.cli", *args, "-c", str(config)],
                          cwd=tree, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)


def config(tmp_path: Path, site: FixtureServer, database: str = "nw.db") -> Path:
    cfg = write_config(tmp_path, f"""\
        sources:
          - name: daily
            feeds: ["{site.base}/feed.xml"]
        watches:
          - name: councils
            query: '"crypto council"'
          - name: pakistan-crypto
            query: 'Pakistan AND crypto*'
        alerts:
          to: [desk@example.org]
          maildir: mail
        """)
    cfg.write_text(cfg.read_text().replace("database: nw.db", f'database: "{database}"', 1))
    return cfg


def contents(rows: Any) -> dict[str, list[tuple[Any, ...]]]:
    """What must survive an upgrade, as comparable tuples."""
    return {table: sorted(tuple(r.values()) for r in rows(query)) for table, query in {
        "articles": "select id, url_key, title, text, published, first_seen, fingerprint "
                    "from articles",
        "matches": "select id, watch, article_id, query, matched_at from matches",
        "outbox": "select id, match_id, recipient, message_id, email_id from outbox",
        "emails": "select id, recipient, message_id, subject, status from emails",
    }.items()}


def test_a_sqlite_database_of_the_previous_release_upgrades_by_itself(
        previous: Path, fresh_site: FixtureServer, tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site)
    made = old_cli(previous, "crawl", config=cfg)
    assert made.returncode == 0, made.stdout + made.stderr
    before = contents(lambda q: db_rows(cfg, q))
    mails = sorted((tmp_path / "mail" / "new").iterdir())
    assert before["matches"] and before["emails"] and mails
    assert not db_rows(cfg, "select name from sqlite_master where name = 'alembic_version'")

    crawled = run_cli("crawl", config=cfg)  # the new release, on the old database
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    assert db_rows(cfg, "select version_num from alembic_version") == [
        {"version_num": migrate.head()}]
    assert contents(lambda q: db_rows(cfg, q)) == before  # every row kept as it was
    assert sorted((tmp_path / "mail" / "new").iterdir()) == mails  # nothing sent again
    assert "0 pending, 0 failed" in run_cli("status", config=cfg).stdout


@pytest.mark.slow
def test_a_shared_postgresql_waits_for_newswatch_migrate(
        previous: Path, fresh_site: FixtureServer, postgres: Any, tmp_path: Path) -> None:
    from tests.test_postgres import pg_rows

    url = postgres.new_database()
    cfg = config(tmp_path, fresh_site, url)
    made = old_cli(previous, "crawl", config=cfg)
    assert made.returncode == 0, made.stdout + made.stderr
    before = contents(lambda q: pg_rows(url, q))
    mails = sorted((tmp_path / "mail" / "new").iterdir())
    assert before["emails"] and mails

    refused = run_cli("crawl", config=cfg)
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "run `newswatch migrate`" in lines[0], refused.stderr
    assert contents(lambda q: pg_rows(url, q)) == before  # untouched

    done = run_cli("migrate", config=cfg)
    assert done.returncode == 0, done.stderr
    assert f"schema from before 0.2.0 -> {migrate.head()}" in done.stdout
    again = run_cli("migrate", config=cfg)
    assert f"schema {migrate.head()}, up to date" in again.stdout

    crawled = run_cli("crawl", config=cfg)
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    assert contents(lambda q: pg_rows(url, q)) == before
    assert sorted((tmp_path / "mail" / "new").iterdir()) == mails


def test_a_new_database_is_made_at_the_newest_schema_and_a_newer_one_refused(
        tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        assert migrate.state(engine) == (None, False)
        migrate.ensure(engine, auto=False)  # new: made here even where upgrades wait
        assert migrate.state(engine) == (migrate.head(), True)
        with engine.begin() as conn:
            conn.exec_driver_sql("update alembic_version set version_num = '9999'")
        with pytest.raises(migrate.SchemaBehind, match="newer than this newswatch"):
            migrate.ensure(engine, auto=True)
    finally:
        engine.dispose()
