"""The outbox on its own, in-process on a SQLite file: due alerts composed into one
message per recipient and digest, each with its own article and the story's other
outlets; the backoff; which emails a sender claims, gives back and marks; the counts
`status` shows. (The end-to-end tests send through it; these pin what they cannot see:
mutants of alerts/outbox.py that survived them under mutmut.)"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from newswatch.alerts import outbox
from newswatch.alerts.render import AlertItem
from newswatch.config.models import Config
from newswatch.store import schema
from newswatch.store.db import Store, worker_id

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
DESK = "desk@example.org"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'nw.db'}") as s:
        yield s


def add(store: Store, table: Any, **row: Any) -> int:
    with store.tx() as conn:
        return int(conn.execute(insert(table).values(**row)).inserted_primary_key[0])


def article(store: Store, n: int, source: str, title: str, story: int | None = None) -> int:
    return add(store, schema.articles, url_key=f"k{n}", url=f"https://{source}.example/{n}",
               source=source, title=title, text="text", published=NOW, first_seen=NOW,
               too_old=False, has_text=True, story_id=story)


def alert(store: Store, watch: str, article_id: int, recipient: str = DESK,
          digest: str = "immediate", due: datetime = NOW) -> int:
    match = add(store, schema.matches, watch=watch, article_id=article_id,
                query=f'"{watch}"', hits=[], snippets=[], matched_at=NOW)
    return add(store, schema.outbox, match_id=match, recipient=recipient, digest=digest,
               due=due, message_id=f"<alert-{match}@test>", created=NOW)


def config(*watches: str | dict[str, str]) -> Config:
    """Watches by name (their query their name), or as written in the YAML."""
    return Config.model_validate({
        "watches": [w if isinstance(w, dict) else {"name": w, "query": f'"{w}"'}
                    for w in watches],
        "alerts": {"to": [DESK], "from": "newswatch <nw@example.org>"}})


def test_each_alert_shows_its_own_article_by_watch_with_the_storys_other_outlets(
        store: Store) -> None:
    # two outlets of one story (the second matched), and an article of another watch
    first = article(store, 1, "daily", "Council meets on Monday", story=7)
    second = article(store, 2, "wire", "Council to meet Monday, officials say", story=7)
    lone = article(store, 3, "gazette", "Dams are full after the rains")
    article(store, 4, "paper", "A story of its own, never alerted")  # no story either
    article(store, 5, "herald", "Monday's council, as the herald saw it", story=7)
    later = article(store, 6, "gazette", "More water released from the dams")
    alert(store, "zeta-dams", later)  # queued first, its article stored last
    alert(store, "zeta-dams", lone)
    alert(store, "alpha-council", second)
    [made] = outbox.compose(store, config("alpha-council", "zeta-dams"), now=NOW)
    assert (made.recipient, made.digest, made.alerts) == (DESK, "immediate", 3)
    text = made.text
    # each item as the database has it: its query, source and publication time
    assert 'query: "alpha-council"' in text and 'query: "zeta-dams"' in text
    assert "wire · published 2026-03-14" in text, text
    # within a watch, in the order the alerts were queued
    assert text.index("More water released") < text.index("Dams are full after the rains")
    # the story's other outlets in the order they were stored
    assert text.index("also reported by daily") < text.index("also reported by herald")
    assert "also reported by paper" not in text  # sharing no story is no story
    # grouped by watch in name order, each title under its own watch, once
    assert text.index("== alpha-council ==") < text.index("Council to meet Monday") \
        < text.index("== zeta-dams ==") < text.index("Dams are full after the rains")
    assert text.count("Council to meet Monday") == 1
    assert "https://wire.example/2" in text and "https://gazette.example/3" in text
    # the story's other outlet, not the alerted article itself
    assert "also reported by daily:\n  https://daily.example/1" in text
    assert "also reported by wire" not in text and "also reported by gazette" not in text
    assert first != second
    with store.engine.connect() as conn:
        linked = conn.execute(select(schema.outbox.c.email_id)).scalars().all()
    assert linked == [made.id, made.id, made.id]
    # the message as composed: what was stored, its Message-ID the first alert's
    assert made.message is not None
    assert made.subject == str(made.message["Subject"])
    assert made.subject.startswith("[newswatch] 3 new matches")
    assert made.body == made.message.as_bytes()
    assert str(made.message["To"]) == DESK
    assert str(made.message["From"]) == "newswatch <nw@example.org>"
    assert str(made.message["Message-ID"]) == "<alert-1@test>"
    stored = emails(store)[made.id]
    assert (stored["subject"], stored["mime"], stored["message_id"]) == \
        (made.subject, made.body, "<alert-1@test>")
    assert (stored["status"], stored["attempts"], stored["next_attempt"]) == \
        ("pending", 0, NOW)  # to be sent at once


def test_one_message_per_recipient_and_digest_and_only_what_is_due(store: Store) -> None:
    a = article(store, 1, "daily", "Council meets on Monday")
    b = article(store, 2, "wire", "Dams are full after the rains")
    alert(store, "council", a)
    alert(store, "council", b, recipient="boss@example.org")
    c = article(store, 3, "gazette", "A council for the dams")
    evening = NOW.replace(hour=23, minute=0)  # a digest not yet due
    alert(store, "evening", c, digest="daily@23:00", due=evening)
    cfg = config("council", {"name": "evening", "query": "council", "digest": "daily@23:00"})
    made = outbox.compose(store, cfg, now=NOW)
    assert [(m.recipient, m.alerts) for m in made] == [("boss@example.org", 1), (DESK, 1)]
    desk = next(m for m in made if m.recipient == DESK)
    assert "Council meets on Monday" in desk.text
    assert "Dams are full" not in desk.text and "A council for the dams" not in desk.text
    # its time come, a dry run makes it and writes nothing
    [dry] = outbox.compose(store, cfg, now=evening, commit=False)
    assert (dry.digest, dry.alerts) == ("daily@23:00", 1)
    assert outbox.counts(store)["waiting"] == 1


def test_the_backoff_doubles_from_a_minute_up_to_six_hours() -> None:
    assert [outbox.backoff(n) for n in (0, 1, 2, 3, 4)] == \
        [timedelta(minutes=m) for m in (1, 1, 2, 4, 8)]
    assert outbox.backoff(9) == timedelta(minutes=256)
    assert outbox.backoff(10) == outbox.backoff(40) == timedelta(hours=6)


def email(store: Store, n: int, status: str = "pending", due: datetime = NOW,
          claimed: datetime | None = None, claimed_by: str | None = None,
          error: str | None = None, attempts: int = 0) -> int:
    return add(store, schema.emails, recipient=DESK, digest="immediate",
               message_id=f"<e{n}@test>", subject=f"email {n}", mime=b"x", status=status,
               attempts=attempts, next_attempt=due, created=NOW, claimed=claimed,
               claimed_by=claimed_by, last_error=error)


def emails(store: Store) -> dict[int, dict[str, Any]]:
    with store.engine.connect() as conn:
        return {r["id"]: dict(r) for r in conn.execute(select(schema.emails)).mappings()}


def dead_pid() -> int:
    """A pid no process has now (a child that has exited and been reaped)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_a_sender_claims_what_is_due_and_what_a_gone_sender_held(store: Store) -> None:
    here = socket.gethostname()
    due = email(store, 1)
    later = email(store, 2, due=NOW + timedelta(minutes=1))
    stale = email(store, 3, "sending", claimed=NOW - outbox.LEASE - timedelta(seconds=1),
                  claimed_by="elsewhere:1")
    leased = email(store, 4, "sending", claimed=NOW - outbox.LEASE,
                   claimed_by="elsewhere:1")  # another host's, at the end of its lease
    alive = email(store, 5, "sending", claimed=NOW, claimed_by=f"{here}:{os.getpid()}")
    gone = email(store, 6, "sending", claimed=NOW, claimed_by=f"{here}:{dead_pid()}")
    nobody = email(store, 7, "sending", claimed=NOW, claimed_by=None)
    email(store, 8, "sent")
    email(store, 9, "failed")
    got = outbox.claim(store, now=NOW)
    assert [c.id for c in got] == [due, stale, gone, nobody]
    assert (got[0].recipient, got[0].message_id, got[0].subject, got[0].mime,
            got[0].attempts) == (DESK, "<e1@test>", "email 1", b"x", 0)
    rows = emails(store)
    assert {rows[i]["status"] for i in (due, stale, gone, nobody)} == {"sending"}
    assert rows[due]["claimed_by"] == worker_id()
    assert rows[leased]["claimed_by"] == "elsewhere:1" and rows[alive]["status"] == "sending"
    assert rows[later]["status"] == "pending"
    # forced (`newswatch send`): every pending one, due or not; nothing left to take
    assert [c.id for c in outbox.claim(store, now=NOW, force=True)] == [later]
    assert outbox.claim(store, now=NOW, force=True) == []


def test_a_claimant_is_dead_only_if_it_ran_here_and_its_process_is_gone() -> None:
    here = socket.gethostname()
    assert outbox._dead(None) and outbox._dead("") and outbox._dead("no-pid")
    assert outbox._dead(f"{here}:{dead_pid()}")
    assert not outbox._dead(f"{here}:{os.getpid()}")
    assert not outbox._dead(f"{here}x:{dead_pid()}")  # another host: its lease decides
    assert not outbox._dead(f"{here}:pid")
    assert not outbox._dead(f"{here}:1")  # init: alive, and not ours to signal as a user


def test_retry_sent_failed_and_release_move_an_email_as_they_say(store: Store) -> None:
    retried, sent, failed, given, kept = (email(store, n, "sending", attempts=2, error="x",
                                                claimed=NOW, claimed_by="elsewhere:1")
                                          for n in range(1, 6))
    before = datetime.now(UTC)
    when = outbox.mark_retry(store, retried, "421 try later", 2)
    after = datetime.now(UTC)
    assert before + timedelta(minutes=4) <= when <= after + timedelta(minutes=4)
    outbox.mark_sent(store, sent)
    outbox.mark_failed(store, failed, "550 no such user")
    outbox.release(store, [given])
    outbox.release(store, [])
    rows = emails(store)
    assert {k: rows[retried][k] for k in ("status", "attempts", "last_error")} == \
        {"status": "pending", "attempts": 3, "last_error": "421 try later"}
    assert rows[retried]["next_attempt"] == when
    assert {k: rows[sent][k] for k in ("status", "attempts", "last_error")} == \
        {"status": "sent", "attempts": 3, "last_error": None}
    assert rows[sent]["sent"] is not None
    assert {k: rows[failed][k] for k in ("status", "attempts", "last_error")} == \
        {"status": "failed", "attempts": 3, "last_error": "550 no such user"}
    assert (rows[given]["status"], rows[given]["claimed_by"], rows[given]["attempts"]) == \
        ("pending", None, 2)
    assert rows[kept]["status"] == "sending"
    # release gives back only what is still being sent
    outbox.release(store, [sent])
    assert emails(store)[sent]["status"] == "sent"


def test_counts_and_the_failed_list_as_status_shows_them(store: Store) -> None:
    for n, (status, error) in enumerate([("pending", None), ("pending", "421 later"),
                                         ("sending", None), ("sent", None),
                                         ("failed", "550 no"), ("failed", "550 gone"),
                                         ("failed", None)]):
        email(store, n, status, error=error)
    a = article(store, 1, "daily", "Council meets on Monday")
    alert(store, "council", a)
    alert(store, "quiet", a)
    alert(store, "quiet", article(store, 2, "wire", "Dams are full"))
    assert outbox.counts(store, muted=["quiet"]) == \
        {"pending": 3, "sent": 1, "failed": 3, "waiting": 1, "held": 2}
    assert outbox.counts(store) == \
        {"pending": 3, "sent": 1, "failed": 3, "waiting": 3, "held": 0}
    failed = list(outbox.failed_emails(store))  # every failed one, with an error or not
    assert [(f["subject"], f["last_error"]) for f in failed] == \
        [("email 4", "550 no"), ("email 5", "550 gone"), ("email 6", None)]
    assert set(failed[0]) == {"id", "recipient", "subject", "last_error"}
    retrying = list(outbox.failed_emails(store, "pending"))
    assert [f["subject"] for f in retrying] == ["email 1"]
    waiting = list(outbox.failed_emails(store, "pending", errors_only=False))
    assert [f["subject"] for f in waiting] == ["email 0", "email 1", "email 2"]


def test_a_channel_gets_its_message_a_moved_schedule_is_written_back_and_a_dry_run_adds_extra(
        store: Store) -> None:
    hook = "json://127.0.0.1:9/hook"
    a = article(store, 1, "daily", "Council meets on Monday")
    b = article(store, 2, "wire", "Dams are full after the rains")
    alert(store, "council", a, recipient=hook)
    # queued under a daily digest; the watch is hourly now
    tomorrow = NOW.replace(day=15, hour=8, minute=0)
    moved = alert(store, "dams", b, digest="daily", due=tomorrow)
    cfg = config("council", {"name": "dams", "query": "dams", "digest": "hourly"})
    [made] = outbox.compose(store, cfg, now=NOW)
    assert (made.recipient, made.message) == (hook, None)
    body = json.loads(made.body)
    assert made.subject == body["title"] == "newswatch: 1 new match"
    assert "Council meets on Monday" in made.text
    with store.engine.connect() as conn:
        row = conn.execute(select(schema.outbox).where(schema.outbox.c.id == moved)).one()
    assert (row.digest, row.due, row.email_id) == ("hourly", NOW.replace(hour=10, minute=0),
                                                   None)
    # a dry run at ten: the hourly alert, and a dry-run crawl's alerts joined to its batch
    # in watch order (never stored)
    extra = AlertItem("aardvark", "aardvark", "An extra, unstored alert",
                      "https://x.example/1", "x", None, [], [])
    [dry] = outbox.compose(store, cfg, now=NOW.replace(hour=10, minute=0), commit=False,
                           extra={(DESK, "hourly"): [extra]})
    assert (dry.recipient, dry.digest, dry.alerts) == (DESK, "hourly", 2)
    assert dry.text.index("An extra, unstored alert") < dry.text.index("Dams are full")
    # and a batch of extra alerts alone gets a message of its own, with a new Message-ID
    [alone] = outbox.compose(store, cfg, now=NOW, commit=False,
                             extra={("boss@example.org", "immediate"): [extra]})
    assert alone.message is not None and alone.recipient == "boss@example.org"
    assert "newswatch-dry-run" in str(alone.message["Message-ID"])
    assert outbox.counts(store)["waiting"] == 1  # nothing written by either dry run


def test_counts_of_an_empty_outbox_are_zero(store: Store) -> None:
    assert outbox.counts(store) == {"pending": 0, "sent": 0, "failed": 0, "waiting": 0,
                                    "held": 0}
    email(store, 1, "sending")
    assert outbox.counts(store)["pending"] == 1
