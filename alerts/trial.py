"""`newswatch send --test`: a message marked as a test, to every recipient and channel
of a watch (or of all watches), sent straight away over the configured SMTP server (or
maildir) and apprise, not through the outbox, so no real alert is touched. Each
delivery is reported with the server's answer: the SMTP server's reply to the message,
or apprise's ok or error."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import TextIO
from zoneinfo import ZoneInfo

from newswatch.alerts.registry import NO_EMAIL, transport_for, where
from newswatch.alerts.transport import KINDS, DeliveryError, Kind, Outgoing, kind, kinds, shown
from newswatch.config.models import Config
from newswatch.store.db import utcnow

log = logging.getLogger(__name__)


def targets(config: Config, name: str | None) -> dict[str, list[str]]:
    """Recipient (address or channel URL) -> the watches whose alerts it gets. A watch
    named on the command line is tested even while disabled; otherwise the enabled
    ones."""
    out: dict[str, list[str]] = {}
    for w in config.watches:
        if (name is not None and w.name != name) or (name is None and not w.enabled):
            continue
        for recipient in config.recipients(w, even_disabled=True):
            out.setdefault(recipient, []).append(w.name)
    return out


def _text(watches: list[str], when: str) -> str:
    which = f"the watch {watches[0]}" if len(watches) == 1 else \
        f"the watches {', '.join(watches)}"
    return (f"This is a test message from newswatch, for {which}.\n\n"
            f"It was sent by `newswatch send --test` at {when} to check that alerts reach "
            "you here.\nNothing matched and no alert waits on it: there is nothing to do.\n")


def email(config: Config, recipient: str, watches: list[str], now: datetime) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = config.alerts.from_
    msg["To"] = recipient
    msg["Subject"] = f"[newswatch] test message for {', '.join(watches)}"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid("newswatch-test", config.alerts.msgid_domain)
    msg["Auto-Submitted"] = "auto-generated"
    when = f"{now.astimezone(ZoneInfo(config.timezone)):%Y-%m-%d %H:%M %Z}"
    msg.set_content(_text(watches, when) + "\n--\nSent by newswatch.\n", charset="utf-8")
    return msg.as_bytes()


def channel_message(config: Config, watches: list[str], now: datetime) -> bytes:
    when = f"{now.astimezone(ZoneInfo(config.timezone)):%Y-%m-%d %H:%M %Z}"
    text = _text(watches, when)
    return json.dumps({"title": f"newswatch: test message for {', '.join(watches)}",
                       "markdown": text, "text": text}).encode()


def send_tests(config: Config, name: str | None, out: TextIO) -> bool:
    """Send the test messages and print each result; True if every one went."""
    now = utcnow()
    to = targets(config, name)
    if not to:
        which = f"the watch {name}" if name else "no enabled watch"
        out.write(f"send --test: {which} has no recipient or channel (to:, notify:, or "
                  "alerts.to / alerts.notify)\n")
        return False
    out.write(f"send --test: a test message to {kinds(to)}; emails: "
              f"{where(config.alerts)}\n")
    results: list[bool] = []

    def said(recipient: str, answer: str, ok: bool) -> None:
        results.append(ok)
        verdict = "sent" if ok else "NOT sent"
        out.write(f"  {shown(recipient)} ({', '.join(to[recipient])}): "
                  f"{verdict}: {answer}\n")

    def body(k: Kind, recipient: str) -> bytes:
        if k == "channel":
            return channel_message(config, to[recipient], now)
        return email(config, recipient, to[recipient], now)

    for k in KINDS:
        group = [r for r in to if kind(r) == k]
        transport = transport_for(k, config.alerts) if group else None
        if transport is None:
            for r in group:
                said(r, NO_EMAIL, False)
            continue
        done: set[str] = set()
        try:
            with transport as t:
                for r in group:
                    done.add(r)
                    try:
                        said(r, t.send(Outgoing(config.alerts.from_, r, body(k, r))), True)
                    except DeliveryError as exc:
                        said(r, str(exc), False)
        except DeliveryError as exc:  # no connection, or the login was refused
            for r in group:
                if r not in done:
                    said(r, str(exc), False)
    went = sum(results)
    out.write(f"{went} of {len(results)} test message(s) went\n")
    return went == len(results)
