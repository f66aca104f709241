"""The shared queue kept for years (SPEC §11, §13), on a real PostgreSQL server:
`run` and `worker` stop with one line naming `newswatch migrate` while the queue's
tables are missing or behind (a register from 0.2.0 included), and the leading
scheduler's daily prune removes old finished and failed jobs with procrastinate's own
facility while queued and running ones stay."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psycopg
from procrastinate import jobs
from procrastinate.schema import SchemaManager

from newswatch.config.loader import load_config
from newswatch.service.cluster import database
from newswatch.service.daemon import Daemon
from tests.conftest import run_cli


def queue_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "newswatch.yaml"
    path.write_text(f"database: {url}\nqueue: {url}\n", encoding="utf-8")
    return path


def sql(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database.libpq_url(url), autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def refused(cfg: Path, command: str) -> str:
    """`command` stops at once with one line on stderr and exit 1; that line."""
    done = run_cli(command, config=cfg, timeout=60)
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_run_and_worker_wait_for_migrate_to_set_up_and_upgrade_the_queue(
        postgres: Any, tmp_path: Path) -> None:
    url = postgres.new_database()
    cfg = queue_config(tmp_path, url)
    for command in ("worker", "run"):
        said = refused(cfg, command)
        assert "has no tables yet" in said and "`newswatch migrate`" in said, said
    # neither created anything of the queue's: that is migrate's alone
    assert sql(url, "select to_regclass('procrastinate_jobs')") == [(None,)]

    done = run_cli("migrate", config=cfg)
    assert done.returncode == 0, done.stderr
    assert f"procrastinate {database.procrastinate_version()}" in done.stdout
    database.check_schema(url)  # what run and worker check at start: all there

    # tables left by an older procrastinate than the one installed
    sql(url, "update newswatch_queue_schema set version = '3.0.0' "
             "where component = 'procrastinate'")
    said = refused(cfg, "worker")
    assert f"procrastinate 3.0.0 -> {database.procrastinate_version()}" in said, said
    assert "run `newswatch migrate` once" in said
    shown = run_cli("status", config=cfg)  # status reads on and says the same
    assert shown.returncode == 0, shown.stderr
    assert "queue: the job queue at" in shown.stdout and "newswatch migrate" in shown.stdout

    # ... or by a newer newswatch than this one
    sql(url, "update newswatch_queue_schema set version = '9.0.0' "
             "where component = 'procrastinate'")
    said = refused(cfg, "run")
    assert "set up by a newer newswatch" in said and "upgrade newswatch" in said, said


# the queue's own tables as newswatch 0.2.0 made them (its register kept a heartbeat)
TABLES_0_2_0 = """
CREATE TABLE newswatch_leases (name text PRIMARY KEY, holder text NOT NULL,
    host text NOT NULL, pid integer NOT NULL, since timestamptz NOT NULL,
    expires timestamptz NOT NULL);
CREATE TABLE newswatch_workers (id text PRIMARY KEY, host text NOT NULL,
    pid integer NOT NULL, started timestamptz NOT NULL DEFAULT now(),
    heartbeat timestamptz NOT NULL DEFAULT now(), queue_worker integer,
    state text NOT NULL DEFAULT 'running');
CREATE TABLE newswatch_queue_schema (component text PRIMARY KEY, version text NOT NULL);
INSERT INTO newswatch_queue_schema VALUES ('procrastinate', '3.10.0');
INSERT INTO newswatch_workers (id, host, pid) VALUES ('old-host:4242', 'old-host', 4242);
"""


def test_a_queue_from_0_2_0_is_behind_until_migrate_replaces_its_register(
        postgres: Any, tmp_path: Path) -> None:
    url = postgres.new_database()
    with psycopg.connect(database.libpq_url(url), autocommit=True) as conn:
        conn.execute(SchemaManager.get_schema())
        conn.execute(TABLES_0_2_0)
    cfg = queue_config(tmp_path, url)
    said = refused(cfg, "worker")
    assert "register of workers from before 0.3.0" in said, said
    assert "run `newswatch migrate` once" in said

    done = run_cli("migrate", config=cfg)
    assert done.returncode == 0, done.stderr
    database.check_schema(url)
    columns = {r[0] for r in sql(url, "select column_name from information_schema.columns "
                                      "where table_name = 'newswatch_workers'")}
    assert "heartbeat" not in columns and "queue_worker" in columns
    assert sql(url, "select version from newswatch_queue_schema where component = "
                    "'newswatch'") == [(str(database.OURS),)]
    # a second migrate finds nothing to do and keeps what is there
    sql(url, "insert into newswatch_leases values ('x', 'h:1', 'h', 1, now(), now())")
    again = run_cli("migrate", config=cfg)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stdout
    assert sql(url, "select holder from newswatch_leases") == [("h:1",)]


async def make_jobs(url: str) -> dict[str, int]:
    """One job in each state, by name, through procrastinate's own calls."""
    app = database.make_app(url)
    made: dict[str, int] = {}

    async def defer(name: str) -> None:
        deferrer = app.configure_task(database.TASK, queue=database.QUEUE, lock=name,
                                      queueing_lock=name)
        made[name] = await deferrer.defer_async(source=name, due=time.time())

    async with app.open_async():
        manager = app.job_manager
        worker_id = await manager.register_worker()
        taken = ("doing", "succeeded", "failed", "aborted", "failed-young")
        for name in taken:
            await defer(name)
        for name in taken:  # fetched in the order deferred
            job = await manager.fetch_job([database.QUEUE], worker_id)
            assert job is not None and job.id == made[name]
        for name, status in (("succeeded", jobs.Status.SUCCEEDED),
                             ("failed", jobs.Status.FAILED),
                             ("aborted", jobs.Status.ABORTED),
                             ("failed-young", jobs.Status.FAILED)):
            await manager.finish_job_by_id_async(made[name], status, delete_job=False)
        await defer("todo")
        await defer("cancelled")
        assert await manager.cancel_job_by_id_async(made["cancelled"])
    return made


def test_the_leaders_daily_prune_removes_old_finished_jobs_and_keeps_the_rest(
        postgres: Any, tmp_path: Path) -> None:
    url = postgres.new_database()
    cfg = queue_config(tmp_path, url)
    assert run_cli("migrate", config=cfg).returncode == 0
    made = asyncio.run(make_jobs(url))
    states = dict(sql(url, "select id, status::text from procrastinate_jobs"))
    assert {name: states[i] for name, i in made.items()} == {
        "todo": "todo", "doing": "doing", "succeeded": "succeeded", "failed": "failed",
        "cancelled": "cancelled", "aborted": "aborted", "failed-young": "failed"}
    # everything but the young failure happened 31 days ago (the runs' 30 days, plus one)
    old = [i for name, i in made.items() if name != "failed-young"]
    sql(url, "update procrastinate_events set at = at - interval '31 days' "
             "where job_id = any(%s)", old)

    dry = run_cli("prune", "--dry-run", config=cfg)  # counted by hand, removed by none
    assert dry.returncode == 0, dry.stderr
    assert "queue: 4 finished or failed job(s) older than 30d would be deleted" in dry.stdout
    assert len(sql(url, "select id from procrastinate_jobs")) == len(made)

    # the worker holding the running job stays alive for the leader (its heartbeat an
    # hour ahead), whatever this loaded machine's pauses: its job is not taken over
    sql(url, "update procrastinate_workers set last_heartbeat = now() + interval '1 hour'")
    daemon = Daemon(cfg, load_config(cfg))
    try:
        daemon.queue.start()
        deadline = time.monotonic() + 30
        while not daemon.queue.leading:  # the lease, taken on its first tick
            assert time.monotonic() < deadline, "the daemon never led"
            daemon.queue.tick()
            time.sleep(0.1)
        daemon.prune()  # what the scheduler runs daily at 03:30
    finally:
        daemon.queue.stop(0)
        daemon.store.close()
    left = {i for (i,) in sql(url, "select id from procrastinate_jobs")}
    assert left == {made["todo"], made["doing"], made["failed-young"]}
    # their events went with them
    assert sql(url, "select count(*) from procrastinate_events where job_id <> all(%s)",
               list(left)) == [(0,)]
    assert daemon.metrics.registry.get_sample_value(
        "newswatch_pruned_rows_total", {"kind": "jobs"}) == 4
    again = run_cli("prune", config=cfg)  # and `newswatch prune` finds none left
    assert "queue: 0 finished or failed job(s) older than 30d were deleted" in again.stdout
