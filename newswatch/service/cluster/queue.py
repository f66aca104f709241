"""The scheduler's side of the shared queue (`queue:` set): `newswatch run` schedules and
sends, and crawl workers on any machine poll (newswatch.service.cluster.worker).

Several schedulers may run; the one holding the lease in the queue's database leads
(schedules polls, recovers lost ones, sends alerts) and renews it every heartbeat; the
others stand by and take it when it runs out (three heartbeats after the leader's last
renewal). A leader that could not renew stops acting before its lease ends, so two
never act at once.

A due poll becomes a procrastinate job whose queueing lock and lock are its source: a
firing while the source's poll is still waiting is coalesced, and no two workers poll
one source at once. Polls held by a worker silent for three heartbeats (killed, its
machine gone) have their runs failed with why and are queued again for another."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from procrastinate import App, exceptions, jobs

from newswatch.config.models import Config
from newswatch.service.cluster import database, lease
from newswatch.service.outcomes import Outcomes, Troubles
from newswatch.spiders.poll import PollOrder
from newswatch.store.db import worker_id
from newswatch.store.errors import why

log = logging.getLogger(__name__)

T = TypeVar("T")
CALL_TIMEOUT = 15.0  # seconds for one operation on the queue
PRUNE_TIMEOUT = 600.0  # for deleting a day's finished jobs


class ClusterQueue:
    def __init__(self, config: Config, outcomes: Outcomes):
        assert config.queue is not None
        self.config = config
        self.url = config.queue
        self.outcomes = outcomes
        self.troubles = Troubles(log)
        self.id = worker_id()
        self.engine = database.make_engine(self.url)
        self.app: App | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="queue",
                                       daemon=True)
        self.lock = threading.RLock()
        self.unsent: dict[str, PollOrder] = {}  # due polls the queue did not take yet
        self.lease_until = 0.0  # time.monotonic() after which this one must not act
        self.led = False  # what the last tick said
        self.next_beat = 0.0
        self.stopping = False

    # -- PollQueue ---------------------------------------------------------------------------
    @property
    def leading(self) -> bool:
        return not self.stopping and time.monotonic() < self.lease_until

    @property
    def heartbeat(self) -> float:
        return self.config.daemon.heartbeat.total_seconds()

    def start(self) -> None:
        self.thread.start()
        log.info("scheduler %s: queue at %s; standing by until it holds the lease",
                 self.id, database.where(self.url))

    def submit(self, order: PollOrder) -> bool:
        if not self.leading:
            return False
        with self.lock:
            self.unsent.pop(order.source, None)
        try:
            self._call(self._defer(order))
        except exceptions.AlreadyEnqueued:
            log.info("[%s] still waiting in the queue: this firing is coalesced",
                     order.source)
            return False
        except Exception as exc:
            with self.lock:  # queued on the next tick that reaches the queue
                self.unsent[order.source] = order
            self.troubles.report("queue", f"polls cannot be queued at {database.where(self.url)}: "
                                          f"{why(exc)}; kept and tried again")
            return True
        self.troubles.cleared("queue", "the queue takes polls again")
        log.info("[%s] poll queued", order.source)
        return True

    def tick(self) -> None:
        now = time.monotonic()
        if not self.stopping and now >= self.next_beat:
            self.next_beat = now + self.heartbeat
            self._renew(now)
            if self.leading:
                self._recover()
                with self.lock:
                    unsent = list(self.unsent.values())
                for order in unsent:
                    self.submit(order)
        self._say_lead()

    def _say_lead(self) -> None:
        leading = self.leading
        if leading == self.led or self.stopping:
            return
        self.led = leading
        if leading:
            log.warning("scheduler %s now leads (lease of %g s, renewed every %g s)",
                        self.id, lease.silence(self.heartbeat), self.heartbeat)
        else:
            log.error("scheduler %s lost the lease (not renewed in time): standing by",
                      self.id)

    def reload(self, config: Config) -> None:
        self.config = config

    def stop(self, grace: float) -> None:
        """Leave the lead at once (a standby need not wait for the lease to run out);
        the workers finish their polls by themselves."""
        was = self.leading
        self.stopping = True
        if was:
            try:
                lease.release_lease(self.engine, self.id)
                log.info("scheduler %s: lease released", self.id)
            except Exception as exc:
                log.warning("scheduler %s: the lease could not be released (it runs out "
                            "by itself): %s", self.id, why(exc))
        if self.app is not None:
            try:
                self._call(self.app.close_async())
            except Exception as exc:
                log.debug("queue: closing: %s", exc)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.engine.dispose()

    # -- the lease -----------------------------------------------------------------------------
    def _renew(self, asked: float) -> None:
        ttl = lease.silence(self.heartbeat)
        try:
            held = lease.take_lease(self.engine, self.id, ttl)
        except Exception as exc:
            self.troubles.outage("lease", f"scheduler {self.id}: the queue's database at "
                                          f"{database.where(self.url)} cannot be reached: "
                                          f"{why(exc)}; trying again every "
                                          f"{self.heartbeat:g} s")
            return  # a leader keeps acting only until its lease would run out
        self.troubles.cleared("lease", f"scheduler {self.id}: the queue's database answers "
                                       "again")
        # counted from when it was asked, less a beat: it stops before the database's
        # lease ends, whatever the delay of the answer
        self.lease_until = asked + ttl - self.heartbeat if held else 0.0
        if held and self.app is None:
            self._open()

    def _open(self) -> None:
        app = database.make_app(self.url)
        try:
            self._call(_open(app))
        except Exception as exc:
            self.troubles.report("queue", f"the queue at {database.where(self.url)} cannot be "
                                          f"opened: {why(exc)}")
            return
        self.app = app

    async def _defer(self, order: PollOrder) -> int:
        assert self.app is not None
        deferrer = self.app.configure_task(database.TASK, queue=database.QUEUE,
                                           lock=order.source, queueing_lock=order.source)
        return await deferrer.defer_async(source=order.source, due=order.due)

    # -- polls of silent workers -------------------------------------------------------------
    def _recover(self) -> None:
        if self.app is None:
            return
        try:
            self._call(self._recover_async())
        except Exception as exc:
            self.troubles.report("recover", f"lost polls cannot be looked for: {why(exc)}")

    async def _recover_async(self) -> None:
        assert self.app is not None
        manager = self.app.job_manager
        silent = lease.silence(self.heartbeat)
        stalled = await manager.get_stalled_jobs(queue=database.QUEUE, task_name=database.TASK,
                                                 seconds_since_heartbeat=silent)
        # the names of the workers whose polls stalled, with procrastinate's heartbeat
        register = await asyncio.to_thread(lease.workers, self.engine) if stalled else []
        by_queue_id = {w.queue_worker: w for w in register}
        for job in stalled:
            source = str(job.task_kwargs.get("source"))
            due = job.task_kwargs.get("due")
            due = float(due) if isinstance(due, int | float) else time.time()
            gone = by_queue_id.get(job.worker_id) if job.worker_id is not None else None
            message = (f"worker {gone.id} stopped answering (last heartbeat {gone.age:.0f} s "
                       "ago); polled again" if gone else
                       "a worker stopped answering; polled again")
            order = PollOrder(source, due)
            await asyncio.to_thread(self.outcomes.lost, order, None, message, "failed")
            # the job fails and a new poll is queued (not the job retried: a firing
            # during the lost poll may already wait in the queue, and then that one is
            # the poll again)
            await manager.finish_job(job=job, status=jobs.Status.FAILED, delete_job=False)
            with contextlib.suppress(exceptions.AlreadyEnqueued):  # one waits already
                await self._defer(order)
        # procrastinate's entries of long-silent workers go, and their names with them
        # (kept until then so that `status` shows them silent)
        if await manager.prune_stalled_workers(lease.forget_after(self.heartbeat)):
            await asyncio.to_thread(lease.forget_workers, self.engine)

    # -- finished jobs -------------------------------------------------------------------------
    def remove_old_jobs(self, runs: timedelta | None) -> int:
        """The leader's daily clean-up of the queue: finished and failed jobs older than
        the runs they duplicate go (procrastinate's delete_old_jobs); queued and running
        ones stay."""
        if self.app is None or not self.leading:
            return 0
        return self._call(database.remove_old_jobs(self.app, self.engine,
                                                  database.jobs_window(runs)),
                          timeout=PRUNE_TIMEOUT)

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


async def _open(app: App) -> None:
    await app.open_async()
