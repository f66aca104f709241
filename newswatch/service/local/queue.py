"""The one-machine queue of polls (`LocalQueue`, a `PollQueue`): it keeps the due
polls in due order, hands at most `daemon.concurrent_sources` at once to one supervised
worker process, restarts the worker if it dies (polling the lost sources again), and
recycles it at the memory or age limit (the old one drains while a new one starts)."""

from __future__ import annotations

import heapq
import itertools
import logging
import signal
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from newswatch.config.models import Config
from newswatch.config.units import format_duration, format_size
from newswatch.service.local.supervisor import WorkerProcess
from newswatch.service.polls import LATE, OnLost, OnOutcome
from newswatch.spiders.poll import PollOrder, PollOutcome

log = logging.getLogger(__name__)

@dataclass
class Flight:
    order: PollOrder
    worker: WorkerProcess
    run_id: int | None = None


class LocalQueue:
    RESTART_BACKOFF = (0.5, 2.0, 5.0, 15.0, 60.0)
    MEASURE_EVERY = 2.0

    def __init__(self, config: Config, config_path: Path, on_outcome: OnOutcome,
                 on_lost: OnLost, env: dict[str, str] | None = None):
        self.config = config
        self.config_path = config_path
        self.on_outcome = on_outcome
        self.on_lost = on_lost
        self.env = env
        self.lock = threading.RLock()
        self.waiting: list[tuple[float, int, PollOrder]] = []
        self.seq = itertools.count()
        self.flights: dict[str, Flight] = {}
        self.sources: set[str] = set()  # waiting or in flight
        self.worker: WorkerProcess | None = None
        self.draining: list[WorkerProcess] = []
        self.crashes = 0
        self.restarts = 0  # workers that died and were replaced (a metric)
        self.restart_at = 0.0
        self.measured = 0.0
        self.stopping = False

    # -- the scheduler's side -----------------------------------------------------------
    @property
    def leading(self) -> bool:
        return not self.stopping

    def start(self) -> None:
        with self.lock:
            self._spawn()

    def submit(self, order: PollOrder) -> bool:
        with self.lock:
            if self.stopping:
                return False
            if order.source in self.sources:
                log.info("[%s] still being polled (or waiting): this firing is coalesced",
                         order.source)
                return False
            self.sources.add(order.source)
            heapq.heappush(self.waiting, (order.due, next(self.seq), order))
            self._pump()
            return True

    def tick(self) -> None:
        with self.lock:
            now = time.monotonic()
            # a worker is measured once it runs (starting, it has not reached its size)
            if (self.worker is not None and self.worker.ready and not self.stopping
                    and now - self.measured >= self.MEASURE_EVERY):
                self.measured = now
                self._supervise(self.worker)
            for old in list(self.draining):
                # its polls end at their time limit; a worker still busy well after that
                # is stuck
                if now - old.drain_started > self.config.daemon.time_limit.total_seconds() + 60:
                    log.warning("worker %d did not drain in time; killed", old.pid)
                    old.signal_group(signal.SIGKILL)
            self._pump()

    def reload(self, config: Config) -> None:
        with self.lock:
            self.config = config
            for worker in [self.worker, *self.draining]:
                if worker is not None:
                    worker.send({"op": "reload"})

    def remove_old_jobs(self, runs: timedelta | None) -> int:
        return 0  # polls on one machine leave no jobs behind: their runs are the record

    def stop(self, grace: float) -> None:
        with self.lock:
            self.stopping = True
            for _, _, order in self.waiting:
                self.sources.discard(order.source)
            self.waiting.clear()
            workers = [w for w in [self.worker, *self.draining] if w is not None]
            for worker in workers:
                worker.drain()
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(w.proc.poll() is None for w in workers):
            time.sleep(0.1)
        for worker in workers:
            if worker.proc.poll() is None:
                log.info("worker %d did not finish its polls in %g s; stopped", worker.pid,
                         grace)
                worker.signal_group(signal.SIGKILL)
        for worker in workers:
            worker.proc.wait()
            worker.reap_group()
        end = time.monotonic() + 5  # the event readers report the lost polls
        while time.monotonic() < end and self.flights:
            time.sleep(0.05)

    # -- the workers' side --------------------------------------------------------------
    def _spawn(self) -> None:
        self.worker = WorkerProcess(self.config_path, self._event, self._exited, self.env)
        log.info("crawl worker started (pid %d)", self.worker.pid)

    def _supervise(self, worker: WorkerProcess) -> None:
        limits = self.config.daemon
        why = None
        rss = worker.rss()
        if rss > limits.memory_limit:
            why = (f"uses {format_size(rss)} with its extraction processes (limit "
                   f"{format_size(limits.memory_limit)})")
        elif worker.age() > limits.recycle_after.total_seconds():
            why = f"has run for {format_duration(limits.recycle_after)}"
        if why is not None:
            log.warning("crawl worker %d %s: it finishes its polls while a new one starts",
                        worker.pid, why)
            worker.drain()
            self.draining.append(worker)
            self._spawn()

    def _pump(self) -> None:
        if self.stopping:
            return
        if self.worker is None:
            if time.monotonic() < self.restart_at:
                return
            self._spawn()
        worker = self.worker
        assert worker is not None
        limit = self.config.daemon.concurrent_sources
        while self.waiting and len(self.flights) < limit:
            _, _, order = heapq.heappop(self.waiting)
            self.flights[order.id] = Flight(order, worker)
            late = time.time() - order.due
            if not worker.send({"op": "poll", **order.to_json()}):
                break  # the worker is gone; its exit puts the order back
            if late > LATE:
                log.warning("[%s] crawl started %.0f s late (worker pid %d; %d polls in "
                            "flight, %d waiting)", order.source, late, worker.pid,
                            len(self.flights), len(self.waiting))
            else:
                log.info("[%s] crawl started (worker pid %d)", order.source, worker.pid)

    def _event(self, worker: WorkerProcess, event: dict[str, Any]) -> None:
        kind = event.get("ev")
        with self.lock:
            if kind == "started":
                flight = self.flights.get(str(event.get("id")))
                if flight is not None:
                    flight.run_id = event.get("run_id")
                return
            if kind == "ready":
                worker.ready = True
                if worker is self.worker:
                    self.crashes = 0
                return
            if kind != "done":
                return
            outcome = PollOutcome.from_json(event)
            flight = self.flights.pop(outcome.id, None)
            if flight is not None:
                self.sources.discard(flight.order.source)
            self._pump()
        self.on_outcome(outcome)

    def _exited(self, worker: WorkerProcess) -> None:
        code = worker.proc.returncode
        with self.lock:
            lost = [f for f in self.flights.values() if f.worker is worker]
            for flight in lost:
                self.sources.discard(flight.order.source)
            if worker in self.draining:
                self.draining.remove(worker)
            if worker is self.worker:
                self.worker = None
                young = worker.age() < 30
                self.crashes = self.crashes + 1 if young else 1
                delay = self.RESTART_BACKOFF[min(self.crashes, len(self.RESTART_BACKOFF)) - 1]
                self.restart_at = time.monotonic() + delay
                self.restarts += 0 if self.stopping else 1
            cause = worker.cause()
            if self.stopping:  # stopped on purpose: not an error
                log.info("crawl worker %d stopped (%d poll(s) cancelled)", worker.pid,
                         len(lost))
            elif code != 0 or lost:
                log.error("%s; %d poll(s) in flight", cause, len(lost))
            for flight in lost:
                if not self.stopping:  # polled again, by the next worker
                    self.sources.add(flight.order.source)
                    again = PollOrder(flight.order.source, flight.order.due)
                    heapq.heappush(self.waiting, (again.due, next(self.seq), again))
        for flight in lost:
            if self.stopping:
                self.on_lost(flight.order, flight.run_id, "stopped with the daemon",
                             "cancelled")
            else:
                self.on_lost(flight.order, flight.run_id, cause, "failed")
        with self.lock:
            # only now: stop() waits for the flights to go, and the process must not end
            # before each lost poll's run says why
            for flight in lost:
                self.flights.pop(flight.order.id, None)
            self._pump()
