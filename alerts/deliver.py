"""Delivery: the claimed messages go out by kind of recipient (alerts.transport), each
kind through the transport the config sets up for it (alerts.registry), a batch over one
connection. Temporary failures (refused connection, timeout, 4xx) back off and retry;
permanent ones (5xx) are held as failed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from newswatch.alerts import outbox
from newswatch.alerts.registry import transport_for
from newswatch.alerts.transport import KINDS, DeliveryError, Outgoing, Transport, kind, shown
from newswatch.config.models import Alerts
from newswatch.store.db import Store

log = logging.getLogger(__name__)


@dataclass
class Report:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    sent_to: list[str] = field(default_factory=list)  # the recipient of each one sent


def deliver(store: Store, alerts: Alerts, force: bool = False) -> Report:
    """Send what is due (everything pending with `force`): the channels' messages, then
    the emails over one connection."""
    report = Report()
    claimed = outbox.claim(store, force=force)
    for k in KINDS:
        batch = [c for c in claimed if kind(c.recipient) == k]
        if not batch:
            continue
        transport = transport_for(k, alerts)
        if transport is None:  # no email set up: the emails stay pending
            outbox.release(store, [m.id for m in batch])
            continue
        _send_batch(store, report, transport, alerts.from_, batch)
    return report


def _send_batch(store: Store, report: Report, transport: Transport, sender: str,
                batch: list[outbox.Claimed]) -> None:
    """One connection for the batch; a message the connection failed on stops it, and the
    rest wait their turn again."""
    done: set[int] = set()
    try:
        with transport as t:
            for message in batch:
                try:
                    answer = t.send(Outgoing(sender, message.recipient, message.mime))
                except DeliveryError as exc:
                    done.add(message.id)
                    _failed(store, report, message, exc)
                    if exc.connection:
                        break
                    continue
                outbox.mark_sent(store, message.id)
                done.add(message.id)
                _sent(report, message, answer)
    except DeliveryError as exc:  # could not connect or log in: the whole batch waits
        for message in batch:
            if message.id not in done:
                outbox.mark_retry(store, message.id, str(exc), message.attempts)
                done.add(message.id)
                report.retry += 1
        report.errors.append(str(exc))
        log.debug("nothing sent: %s", exc)
    finally:
        outbox.release(store, [m.id for m in batch if m.id not in done])


def _sent(report: Report, message: outbox.Claimed, answer: str) -> None:
    report.sent += 1
    report.sent_to.append(message.recipient)
    log.info("sent %s to %s: %s (%s)", message.message_id, shown(message.recipient),
             message.subject, answer)


def _failed(store: Store, report: Report, message: outbox.Claimed,
            exc: DeliveryError) -> None:
    """Held as failed for good, or back to pending with a backoff."""
    if exc.permanent:
        outbox.mark_failed(store, message.id, str(exc))
        report.failed += 1
        log.error("message %s to %s failed for good: %s", message.message_id,
                  shown(message.recipient), exc)
    else:
        when = outbox.mark_retry(store, message.id, str(exc), message.attempts)
        report.retry += 1
        # the command's report or the daemon's log says it, once
        log.debug("message to %s not sent (%s); next try %s", shown(message.recipient), exc,
                  when.isoformat(timespec="seconds"))
    report.errors.append(str(exc))
