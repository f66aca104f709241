"""The queue of polls between the scheduler and the crawl workers, as the daemon sees it
(`PollQueue`): it submits a poll when a source is due and hears each outcome, or that a
poll was lost with its worker. local/ has the one-machine queue, cluster/ the shared one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from newswatch.config.models import Config
from newswatch.spiders.poll import PollOrder, PollOutcome

OnOutcome = Callable[[PollOutcome], None]
# a poll whose worker died or was stopped: its order, its run (if it was opened), why,
# and the status its run gets (failed; cancelled when the daemon stops)
OnLost = Callable[[PollOrder, "int | None", str, str], None]

LATE = 30.0  # seconds after its due time that a poll start is logged as late
# seconds running polls get to finish after SIGTERM (the daemon's queue, a queue worker)
STOP_GRACE = 20.0


class PollQueue(Protocol):
    @property
    def leading(self) -> bool:
        """This daemon schedules and sends (a shared queue has one leader at a time)."""

    def start(self) -> None: ...

    def submit(self, order: PollOrder) -> bool:
        """Queue a poll; False if its source is already waiting or being polled."""

    def tick(self) -> None:
        """Called about twice a second by the daemon: dispatch, supervise."""

    def reload(self, config: Config) -> None: ...

    def stop(self, grace: float) -> None:
        """No new polls; running ones get `grace` seconds, then are cancelled."""

    def remove_old_jobs(self, runs: timedelta | None) -> int:
        """The daily prune: finished jobs kept as long as runs go; how many went."""
