"""Shared fixtures: the fixture news site (one real HTTP server per test session),
config files written per test, and the CLI run as a real process of its own (forked from
a process that has imported it already: tests/cli_runner.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text

from tests.cli_runner import run_command
from tests.procs import DaemonProc
from tests.site.server import FixtureServer

ROOT = Path(__file__).resolve().parent.parent

# Property tests explore freely on a developer's machine (and remember what they found
# in .hypothesis/); CI runs one fixed, reproducible set of examples, so every fresh clone
# gets the same verdict. Counterexamples ever found stay as explicit @example cases.
# No deadline: a loaded machine makes an example slow, never wrong (a deadline would be a
# timed assertion, and the verdict would depend on the machine's load).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True,
                          deadline=None)
settings.register_profile("dev", print_blob=True, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def site() -> Iterator[FixtureServer]:
    server = FixtureServer().start()
    yield server
    server.stop()


@pytest.fixture
def fresh_site(site: FixtureServer) -> Iterator[FixtureServer]:
    """The session's site with its counters cleared and its switches reset."""
    site.state.reset_hits()
    site.state.broken_feed = False
    site.state.no_text = False
    articles = list(site.state.articles)
    tracking = site.state.feed_tracking
    yield site
    site.state.feed_tracking = tracking
    site.state.broken_feed = False
    site.state.no_text = False
    site.state.articles = articles


def write_config(tmp_path: Path, body: str, crawl: str | None = None) -> Path:
    """A config with the test crawl defaults (loopback allowed, no delays) and `body`."""
    crawl = crawl if crawl is not None else textwrap.dedent("""\
        crawl:
          allow_private: [127.0.0.0/8]
          download_delay: 0s
          max_age: 30d
          timeout: 3s
          extract_timeout: 20s
        """)
    path = tmp_path / "newswatch.yaml"
    path.write_text("database: nw.db\n" + crawl + textwrap.dedent(body), encoding="utf-8")
    return path


def run_cli(*args: str, config: Path | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m newswatch.cli ARGS [-c CONFIG]` in the repository's root: its exit code,
    stdout and stderr (a TimeoutExpired after `timeout` seconds)."""
    argv = [*args, *(["-c", str(config)] if config is not None else [])]
    # pytest-xdist's workers set COLUMNS=80 and LINES: a command's output must not
    # depend on how the tests were started, so only a test that sets them has them
    inherited = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    full_env = {**inherited, "NEWSWATCH_EXTRACT_WORKERS": "2", **(env or {})}
    return run_command(argv, full_env, ROOT, timeout)


def table_row(output: str, first: str) -> dict[str, str]:
    """The row of the crawl table whose source is `first`, by column heading."""
    from newswatch.cli.crawl import COLUMNS

    heads = ["source", "result", *(title.replace("\n", " ") for _, title in COLUMNS)]
    for line in output.splitlines():
        cells = line.split()
        if cells and cells[0] == first and len(cells) == len(heads):
            return dict(zip(heads, cells, strict=True))
    raise AssertionError(f"no row {first!r} in:\n{output}")


def db_rows(config: Path, sql: str) -> list[dict[str, Any]]:
    db = config.parent / "nw.db"
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql)]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # a daemon is still creating the database
            return []
        raise
    finally:
        con.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A real PostgreSQL server for the session (`make test` installs Debian's package
    when it is missing; elsewhere the PostgreSQL tests are skipped without it)."""
    from tests.pg import PostgresServer, binaries

    bindir = binaries()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's initdb is not installed")
        pytest.skip("PostgreSQL's initdb is not installed")
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture
def start() -> Iterator[Callable[..., DaemonProc]]:
    """Starts a daemon (or a worker: command="worker", log="w1.log"; with -v: verbose)
    on a config; whatever is left running is killed afterwards."""
    started: list[DaemonProc] = []

    def launch(config: Path, command: str = "run", log: str = "daemon.log",
               verbose: bool = False) -> DaemonProc:
        started.append(DaemonProc(config, command, log, verbose))
        return started[-1]

    yield launch
    for d in started:
        if d.proc.poll() is None:
            os.killpg(d.proc.pid, signal.SIGKILL)
            d.proc.wait()


# what makes a test end to end: a site to crawl, a server to talk to, a daemon to start
SERVERS = {"site", "fresh_site", "sites", "postgres", "start", "runs", "smtp", "hook",
           "crawled", "many_sources"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks `e2e` every test that crawls a site or talks to a server it starts (by its
    fixtures, its `db` backend being PostgreSQL, or its module's E2E = True):
    `make test-fast` leaves them out."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (fixtures & SERVERS or params.get("db") == "postgresql"
                or getattr(item.module, "E2E", False)):
            item.add_marker(pytest.mark.e2e)
    # the longest first (the daemons', then the other end-to-end tests): pytest-xdist's
    # workers then share the short ones at the end, and neither waits alone on a long
    # test it took last
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None,
                                 item.get_closest_marker("e2e") is None))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database's URL, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nw.db'}"
    return str(request.getfixturevalue("postgres").new_database())


def rows(db: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()
