"""What a dry run would send, the same for `crawl --dry-run` and `send --dry-run`: the
messages the outbox would compose now (emails and channel messages, one per recipient
and digest, by the same code as a real send, then rolled back), those already composed
that would be tried again, and the alerts that would wait for their digest. A dry-run
crawl adds its matches, which are never stored, to the batches a real crawl would put
them in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

from newswatch.alerts import outbox
from newswatch.alerts.render import AlertItem, matched_terms
from newswatch.alerts.schedule import Schedule
from newswatch.alerts.transport import kinds, shown
from newswatch.config.models import Config
from newswatch.rules.plaintext import for_terminal
from newswatch.store.db import ArticleRecord, Store
from newswatch.store.matches import Route

Waiting = dict[tuple[str, str, datetime], int]


def batches(found: Iterable[tuple[ArticleRecord, dict[str, Route]]], now: datetime,
            waiting: Waiting) -> dict[outbox.Batch, list[AlertItem]]:
    """A dry-run crawl's matches as the outbox would batch them now, by (recipient,
    digest). A digest watch's are not among them, as a real crawl would queue them for
    the digest: they are counted in `waiting`, by (watch, digest, when it is due)."""
    out: dict[outbox.Batch, list[AlertItem]] = {}
    for rec, routes in found:
        for m in rec.matches:
            route = routes.get(m.watch)
            if route is None:
                continue
            if route.digest != "immediate" and route.due > now:
                key = (m.watch, route.digest, route.due)
                waiting[key] = waiting.get(key, 0) + len(route.recipients)
                continue
            item = AlertItem(m.watch, m.query, rec.title or "", rec.url, rec.source,
                             rec.published, matched_terms(m.hits),
                             [dict(s) for s in m.snippets])
            for recipient in route.recipients:
                out.setdefault((recipient, route.digest), []).append(item)
    return out


def dry_run(config: Config, store: Store, now: datetime, out: TextIO,
            found: Iterable[tuple[ArticleRecord, dict[str, Route]]] | None = None) -> int:
    """Print what a send now would do (after a crawl that found `found`); returns how
    many messages would go."""
    waiting: Waiting = {}
    extra = batches(found or [], now, waiting)
    made = outbox.compose(store, config, now=now, commit=False, extra=extra)
    schedule = Schedule(config)
    with store.reader.connect() as conn:
        for key, n in schedule.counts(conn, now).items():
            if key[2] > now:  # those due now are among the messages
                waiting[key] = waiting.get(key, 0) + n
    again = list(outbox.failed_emails(store, "pending", errors_only=False))
    stored = ", nothing was stored" if found is not None else ""
    out.write(f"dry run: nothing was sent{stored}\n"
              f"dry run: {kinds(m.recipient for m in made) if made else 'nothing'} "
              "would be sent now\n")
    if again:
        out.write(f"dry run: {kinds(e['recipient'] for e in again)} composed "
                  "before would be tried again\n")
    for (watch, digest, due), n in sorted(waiting.items(), key=lambda kv: (kv[0][2], kv[0])):
        out.write(f"dry run: {n} alert(s) of {watch} would wait for its {digest} digest, "
                  f"due {schedule.when(due)}\n")
    for m in made:
        what = "Title" if m.message is None else "Subject"
        # what the messages quote from pages was cleaned when stored; older rows were not
        out.write(for_terminal(f"\n--- To: {shown(m.recipient)}\n--- {what}: "
                               f"{m.subject}\n{m.text}"))
    for e in again:
        error = f" (last error: {e['last_error']})" if e["last_error"] else ""
        out.write(for_terminal(f"\n--- Again: to {shown(e['recipient'])}: "
                               f"{e['subject']}{error}\n"))
    return len(made) + len(again)
