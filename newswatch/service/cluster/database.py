"""The cluster's database (SPEC §11): connections to the PostgreSQL that schedulers and
workers on several machines share through `queue:`, the tables of procrastinate's job
queue of polls and of our lease and register (made and upgraded by `newswatch migrate`
alone; `run` and `worker` check them at start), and the removal of old jobs. The lease
and the register themselves are in lease.py."""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

from procrastinate import App, PsycopgConnector
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url

from newswatch.store.migrate import SchemaBehind

log = logging.getLogger(__name__)

TASK = "newswatch.poll"
QUEUE = "polls"
# an advisory lock key of our own: two processes starting at once create the schema once
SCHEMA_LOCK = 0x6E777363
# finished and failed jobs go with the runs they duplicate (retention.runs); when runs
# are kept forever, after this long all the same (the runs table holds every outcome)
JOBS_KEPT = timedelta(days=30)
FINAL = ("succeeded", "failed", "cancelled", "aborted")


TABLES = """
CREATE TABLE IF NOT EXISTS newswatch_leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    since timestamptz NOT NULL,
    expires timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS newswatch_workers (
    queue_worker bigint PRIMARY KEY,  -- procrastinate_workers.id (no foreign key: its
                                      -- migrations may rebuild that table)
    id text NOT NULL,                 -- host:pid, as in runs.worker
    host text NOT NULL,
    pid integer NOT NULL,
    started timestamptz NOT NULL DEFAULT now(),
    state text NOT NULL DEFAULT 'running'
);
CREATE TABLE IF NOT EXISTS newswatch_queue_schema (
    component text PRIMARY KEY,
    version text NOT NULL
);
"""
# the queue's tables as newswatch 0.1.0 left them (procrastinate pinned at 3.10)
FIRST_QUEUE_VERSION = "3.10.0"
# our own tables' version: 1 until 0.2.0 (a register with a heartbeat of its own), 2 the
# register naming procrastinate's workers
OURS = 2


def libpq_url(url: str) -> str:
    """The queue's SQLAlchemy URL (postgresql+psycopg://...) as psycopg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_app(url: str, **pool: Any) -> App:
    """A procrastinate app on the queue. The task itself is registered by the worker
    (newswatch.service.cluster.worker); a scheduler only defers it by name."""
    # (procrastinate's pool checks each connection before use, so after a database
    # restart its old connections are dropped instead of failing one query each)
    return App(connector=PsycopgConnector(
        conninfo=libpq_url(url), kwargs={"application_name": "newswatch",
                                         "connect_timeout": 5},
        min_size=1, max_size=4, timeout=10, **pool))


def make_engine(url: str) -> Engine:
    # connections die with a database restart: each use checks its connection first
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2,
                         connect_args={"connect_timeout": 5})


def ensure_schema(engine: Engine) -> None:
    """procrastinate's tables and ours, created once by whoever comes first (`newswatch
    migrate`); ours brought to version OURS."""
    from procrastinate.schema import SchemaManager

    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
            # through the driver without parameters: the schema's own % signs stay
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute(SchemaManager.get_schema())
            log.info("queue: procrastinate's tables created")
            created = procrastinate_version()
        else:
            created = FIRST_QUEUE_VERSION  # made before its version was recorded
        if _ours(conn) < 2 and _exists(conn, "newswatch_workers"):
            # the register of 0.2.0 and before kept a heartbeat of its own; what it held
            # is who runs now, and every process is stopped to migrate: nothing to keep
            conn.exec_driver_sql("DROP TABLE newswatch_workers")
        conn.exec_driver_sql(TABLES)
        conn.execute(text("INSERT INTO newswatch_queue_schema VALUES ('procrastinate', :v) "
                          "ON CONFLICT DO NOTHING"), {"v": created})
        conn.execute(text("INSERT INTO newswatch_queue_schema VALUES ('newswatch', :v) "
                          "ON CONFLICT (component) DO UPDATE SET version = excluded.version"),
                     {"v": str(OURS)})


def _exists(conn: Connection, table: str) -> bool:
    return conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar() is True


def _ours(conn: Connection) -> int:
    """Our tables' version: 0 none yet, 1 from before it was recorded."""
    if not _exists(conn, "newswatch_queue_schema"):
        return 1 if _exists(conn, "newswatch_leases") else 0
    found = conn.execute(text("SELECT version FROM newswatch_queue_schema WHERE component "
                              "= 'newswatch'")).scalar()
    return int(found) if found else 1


def check_schema(url: str) -> None:
    """At the start of `run` and `worker`: the queue's tables are there and match this
    newswatch and its procrastinate; else SchemaBehind saying what to do (they are
    changed by `newswatch migrate` alone, never by whichever process starts first)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            made = _exists(conn, "procrastinate_jobs") and _exists(conn, "newswatch_leases")
            ours = _ours(conn)
        if not made:
            raise SchemaBehind(f"the job queue at {where(url)} has no tables yet: run "
                               "`newswatch migrate` once, then start again")
        at, todo = queue_migrations(engine) if ours > 1 else (FIRST_QUEUE_VERSION, [])
    finally:
        engine.dispose()
    installed = procrastinate_version()
    if ours > OURS or _version(at) > _version(installed):
        raise SchemaBehind(f"the job queue at {where(url)} was set up by a newer newswatch "
                           f"(procrastinate {at}): upgrade newswatch")
    if ours < OURS or todo:
        needs = (f"procrastinate {at} -> {installed}" if todo else
                 "its register of workers from before 0.3.0")
        raise SchemaBehind(f"the job queue at {where(url)} is behind this newswatch ({needs}):"
                           " run `newswatch migrate` once (with every newswatch process "
                           "sharing it stopped), then start again")


def procrastinate_version() -> str:
    from importlib.metadata import version

    return version("procrastinate")


def _version(text_: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text_.split(".")[:3])


def queue_migrations(engine: Engine) -> tuple[str, list[Path]]:
    """The procrastinate version the queue's tables are at, and the migration files of
    the installed procrastinate that they still need (its own SQL, in its order)."""
    import procrastinate

    with engine.connect() as conn:
        at = conn.execute(text("SELECT version FROM newswatch_queue_schema WHERE "
                               "component = 'procrastinate'")).scalar()
    at = at or FIRST_QUEUE_VERSION
    folder = Path(procrastinate.__file__).parent / "sql" / "migrations"
    installed = _version(procrastinate_version())
    todo = sorted(f for f in folder.glob("*.sql")
                  if _version(at) < _version(f.name.split("_")[0]) <= installed)
    return at, todo


def migrate_queue(engine: Engine) -> list[str]:
    """procrastinate's migrations from the recorded version to the installed one, in one
    transaction under the schema lock; the names of the files applied."""
    ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
        _, todo = queue_migrations(engine)
        raw = conn.connection.driver_connection
        assert raw is not None
        for migration in todo:
            raw.execute(migration.read_text(encoding="utf-8"))
        conn.execute(text("UPDATE newswatch_queue_schema SET version = :v WHERE component "
                          "= 'procrastinate'"), {"v": procrastinate_version()})
    return [m.name for m in todo]


def has_schema(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT to_regclass('newswatch_workers') IS NOT NULL "
                                 "AND to_regclass('procrastinate_jobs') IS NOT NULL")
                            ).scalar() is True


# -- finished jobs ---------------------------------------------------------------------------
def jobs_window(runs: timedelta | None) -> timedelta:
    """How long finished and failed jobs stay: as long as the runs they duplicate."""
    return runs if runs is not None else JOBS_KEPT


def _hours(older_than: timedelta) -> int:
    # procrastinate counts whole hours; a part of one keeps the job longer, never shorter
    return max(1, math.ceil(older_than.total_seconds() / 3600))


def old_jobs(engine: Engine, older_than: timedelta) -> int:
    """How many of our jobs procrastinate's remove_old_jobs would delete: in a final
    state (succeeded, failed, cancelled, aborted) since before `older_than` ago, by
    their latest event."""
    with engine.connect() as conn:
        return int(conn.execute(text("""
            SELECT count(*) FROM procrastinate_jobs j
             WHERE j.queue_name = :q AND j.status::text = ANY(:final)
               AND (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id)
                   < now() - make_interval(hours => :h)"""),
            {"q": QUEUE, "final": list(FINAL), "h": _hours(older_than)}).scalar() or 0)


async def remove_old_jobs(app: App, engine: Engine, older_than: timedelta) -> int:
    """Delete our finished and failed jobs older than `older_than` with procrastinate's
    own JobManager.delete_old_jobs (what its builtin remove_old_jobs task runs); queued
    and running jobs stay whatever their age. Returns how many went."""
    import asyncio

    count = await asyncio.to_thread(old_jobs, engine, older_than)
    if count:
        await app.job_manager.delete_old_jobs(
            nb_hours=_hours(older_than), queue=QUEUE, include_failed=True,
            include_cancelled=True, include_aborted=True)
    return count


def prune_jobs(url: str, runs: timedelta | None, dry_run: bool = False) -> int:
    """`newswatch prune`: the queue's old finished and failed jobs removed now (or,
    dry, counted)."""
    import asyncio

    engine = make_engine(url)
    try:
        if not has_schema(engine):
            return 0
        older_than = jobs_window(runs)
        if dry_run:
            return old_jobs(engine, older_than)

        async def remove() -> int:
            app = make_app(url)
            async with app.open_async():
                return await remove_old_jobs(app, engine, older_than)

        return asyncio.run(remove())
    finally:
        engine.dispose()


def waiting(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo' "
            "AND queue_name = :q"), {"q": QUEUE}).scalar() or 0)


def where(url: str) -> str:
    """host:port/dbname of a queue URL, for log lines (never its password)."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"
