"""What schedulers and workers on several machines share through `queue:` (SPEC §11):
the procrastinate job queue of polls on PostgreSQL, the scheduler's lease (exactly one
leads; a standby takes over when the leader's lease runs out) and the register of
workers that `newswatch status` shows. Everything lives in the queue's database;
times are the database's, so the machines' clocks need not agree."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from procrastinate import App, PsycopgConnector
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

TASK = "newswatch.poll"
QUEUE = "polls"
SCHEDULER = "scheduler"  # the lease's name
# an advisory lock key of our own: two processes starting at once create the schema once
SCHEMA_LOCK = 0x6E777363
# a scheduler's lease lasts this many heartbeats, and a worker silent for this many has
# its polls taken over
BEATS = 3


def silence(heartbeat: float) -> float:
    """Seconds without a heartbeat after which a scheduler or worker counts as gone."""
    return BEATS * heartbeat

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
    id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started timestamptz NOT NULL DEFAULT now(),
    heartbeat timestamptz NOT NULL DEFAULT now(),
    queue_worker integer,
    state text NOT NULL DEFAULT 'running'
);
CREATE TABLE IF NOT EXISTS newswatch_queue_schema (
    component text PRIMARY KEY,
    version text NOT NULL
);
"""
# the queue's tables as newswatch 0.1.0 left them (procrastinate pinned at 3.10)
FIRST_QUEUE_VERSION = "3.10.0"


def libpq_url(url: str) -> str:
    """The queue's SQLAlchemy URL (postgresql+psycopg://...) as psycopg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_app(url: str, **pool: Any) -> App:
    """A procrastinate app on the queue. The task itself is registered by the worker
    (newswatch.queue_worker); a scheduler only defers it by name."""
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
    """procrastinate's tables and ours, created once by whoever comes first."""
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
        conn.exec_driver_sql(TABLES)
        conn.execute(text("INSERT INTO newswatch_queue_schema VALUES ('procrastinate', :v) "
                          "ON CONFLICT DO NOTHING"), {"v": created})


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


# -- the scheduler's lease ---------------------------------------------------------------
_TAKE = text("""
INSERT INTO newswatch_leases AS l (name, holder, host, pid, since, expires)
VALUES (:name, :holder, :host, :pid, now(), now() + make_interval(secs => :ttl))
ON CONFLICT (name) DO UPDATE
   SET holder = excluded.holder, host = excluded.host, pid = excluded.pid,
       since = CASE WHEN l.holder = excluded.holder THEN l.since ELSE now() END,
       expires = excluded.expires
 WHERE l.holder = excluded.holder OR l.expires < now()
RETURNING holder
""")


def take_lease(engine: Engine, holder: str, ttl: float, name: str = SCHEDULER) -> bool:
    """Take or renew the lease `name` for `ttl` seconds; False while another holds it."""
    host, _, pid = holder.rpartition(":")
    with engine.begin() as conn:
        row = conn.execute(_TAKE, {"name": name, "holder": holder, "host": host,
                                   "pid": int(pid), "ttl": ttl}).first()
    return row is not None


def release_lease(engine: Engine, holder: str, name: str = SCHEDULER) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM newswatch_leases WHERE name = :n AND holder = :h"),
                     {"n": name, "h": holder})


@dataclass(frozen=True)
class Leader:
    holder: str
    since: datetime
    expires: datetime
    valid: bool


def leader(engine: Engine, name: str = SCHEDULER) -> Leader | None:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT holder, since, expires, expires > now() AS valid "
                                "FROM newswatch_leases WHERE name = :n"), {"n": name}).first()
    return Leader(row.holder, row.since, row.expires, row.valid) if row else None


# -- the register of workers ---------------------------------------------------------------
def register_worker(engine: Engine, wid: str) -> None:
    host, _, pid = wid.rpartition(":")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO newswatch_workers (id, host, pid) VALUES (:id, :host, :pid) "
            "ON CONFLICT (id) DO UPDATE SET heartbeat = now(), state = 'running'"),
            {"id": wid, "host": host, "pid": int(pid)})


def beat(engine: Engine, wid: str, queue_worker: int | None, state: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE newswatch_workers SET heartbeat = now(), "
                          "queue_worker = :q, state = :s WHERE id = :id"),
                     {"id": wid, "q": queue_worker, "s": state})


def unregister_worker(engine: Engine, wid: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM newswatch_workers WHERE id = :id"), {"id": wid})


@dataclass(frozen=True)
class WorkerRow:
    id: str
    host: str
    pid: int
    started: datetime
    heartbeat: datetime
    age: float  # seconds since its last heartbeat, by the database's clock
    state: str
    in_flight: int
    queue_worker: int | None  # procrastinate's id of it


def workers(engine: Engine) -> list[WorkerRow]:
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT w.id, w.host, w.pid, w.started, w.heartbeat, w.state, w.queue_worker,
                   extract(epoch FROM now() - w.heartbeat) AS age,
                   (SELECT count(*) FROM procrastinate_jobs j
                     WHERE j.status = 'doing' AND j.worker_id = w.queue_worker) AS in_flight
              FROM newswatch_workers w ORDER BY w.host, w.pid""")).all()
    return [WorkerRow(r.id, r.host, r.pid, r.started, r.heartbeat, float(r.age), r.state,
                      int(r.in_flight), r.queue_worker) for r in rows]


def forget_workers(engine: Engine, older_than: float) -> list[str]:
    """Drop register entries of workers silent for `older_than` seconds."""
    with engine.begin() as conn:
        rows = conn.execute(text(
            "DELETE FROM newswatch_workers WHERE heartbeat < now() - make_interval(secs => :s) "
            "RETURNING id"), {"s": older_than}).all()
    return [r.id for r in rows]


def waiting(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo' "
            "AND queue_name = :q"), {"q": QUEUE}).scalar() or 0)


def where(url: str) -> str:
    """host:port/dbname of a queue URL, for log lines (never its password)."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"
