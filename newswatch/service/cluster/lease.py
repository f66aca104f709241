"""Who leads and who works on a cluster (SPEC §11): the scheduler's lease (exactly one
scheduler leads; a standby takes over when the leader's lease runs out) and the register
naming the workers procrastinate knows (host, pid, started, draining) for `newswatch
status`. A worker's liveness is procrastinate's own heartbeat; the register only names
its entries. Times are the database's, so the machines' clocks need not agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, text

SCHEDULER = "scheduler"  # the lease's name
# a scheduler's lease lasts this many heartbeats, and a worker silent for this many has
# its polls taken over
BEATS = 3


def silence(heartbeat: float) -> float:
    """Seconds without a heartbeat after which a scheduler or worker counts as gone."""
    return BEATS * heartbeat


def forget_after(heartbeat: float) -> float:
    """Seconds of silence after which a worker leaves the register (and `status`): long
    after its polls were taken over, so that status can still show it silent."""
    return max(300.0, 30 * heartbeat)

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
def register_worker(engine: Engine, queue_worker: int, wid: str) -> None:
    """Name procrastinate's entry `queue_worker` as this process (host:pid). A process
    whose queue restarted (the database came back) gets a new entry: its old name goes,
    its start time stays."""
    host, _, pid = wid.rpartition(":")
    with engine.begin() as conn:
        started = conn.execute(text("DELETE FROM newswatch_workers WHERE id = :id "
                                    "RETURNING started"), {"id": wid}).scalar()
        conn.execute(text(
            "INSERT INTO newswatch_workers (queue_worker, id, host, pid, started) "
            "VALUES (:q, :id, :host, :pid, coalesce(:started, now())) "
            "ON CONFLICT (queue_worker) DO NOTHING"),
            {"q": queue_worker, "id": wid, "host": host, "pid": int(pid), "started": started})


def named(engine: Engine, queue_worker: int) -> bool:
    """Whether procrastinate's entry `queue_worker` has its name in the register."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM newswatch_workers WHERE queue_worker = :q"),
                            {"q": queue_worker}).first() is not None


def set_state(engine: Engine, wid: str, state: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE newswatch_workers SET state = :s WHERE id = :id"),
                     {"id": wid, "s": state})


def unregister_worker(engine: Engine, wid: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM newswatch_workers WHERE id = :id"), {"id": wid})


@dataclass(frozen=True)
class WorkerRow:
    id: str
    host: str
    pid: int
    started: datetime
    heartbeat: datetime  # procrastinate's last heartbeat of it
    age: float  # seconds since its last heartbeat, by the database's clock
    state: str
    in_flight: int
    queue_worker: int  # procrastinate's id of it


def workers(engine: Engine) -> list[WorkerRow]:
    """The workers procrastinate knows, with their names and procrastinate's heartbeat."""
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT w.id, w.host, w.pid, w.started, p.last_heartbeat AS heartbeat, w.state,
                   w.queue_worker, extract(epoch FROM now() - p.last_heartbeat) AS age,
                   (SELECT count(*) FROM procrastinate_jobs j
                     WHERE j.status = 'doing' AND j.worker_id = w.queue_worker) AS in_flight
              FROM newswatch_workers w
              JOIN procrastinate_workers p ON p.id = w.queue_worker
             ORDER BY w.host, w.pid""")).all()
    return [WorkerRow(r.id, r.host, r.pid, r.started, r.heartbeat, float(r.age), r.state,
                      int(r.in_flight), r.queue_worker) for r in rows]


def forget_workers(engine: Engine) -> int:
    """Names of workers procrastinate no longer knows (pruned, or stopped while their
    name was written) go too."""
    with engine.begin() as conn:
        return conn.execute(text(
            "DELETE FROM newswatch_workers w WHERE NOT EXISTS (SELECT 1 FROM "
            "procrastinate_workers p WHERE p.id = w.queue_worker)")).rowcount
