"""Engine set-up and the store's operations. SQLite gets WAL, a busy timeout and
write transactions that take the write lock up front (BEGIN IMMEDIATE) so that two
processes never deadlock upgrading read locks. PostgreSQL takes no lock of its own:
writers run side by side, and what must happen once is made so by the statements
themselves (INSERT ... ON CONFLICT DO NOTHING, SELECT ... FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import logging
import os
import socket
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from newswatch.config.private import private_dir, touch_private
from newswatch.config.times import Published, to_row
from newswatch.rules.matcher import Match
from newswatch.store import migrate, schema
from newswatch.store.matches import Route, StoryIndex, add_matches

log = logging.getLogger(__name__)


def worker_id() -> str:
    """Who polls, as each run records it: this machine and process (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def make_engine(url: str, writer: bool = True) -> Engine:
    """An engine for `url`. On SQLite a writer engine's transactions take the file's one
    write lock first (BEGIN IMMEDIATE), so writers take turns; a reader engine
    (writer=False) takes no lock, so that reads never queue behind a write. On
    PostgreSQL both are plain: writers on every machine write at once, and each
    operation that two of them could do twice guards itself (see Store.add_articles,
    alerts.outbox.claim and compose)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        private_dir(Path(parsed.database).parent)
        touch_private(Path(parsed.database))
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    if writer:
        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


RETRIES = 5


class _Raced(Exception):
    """Another writer stored an article of this batch first: the batch is done again."""


def _transient(exc: DBAPIError) -> bool:
    """A deadlock or serialization failure: the transaction was undone and may be
    tried again as it was."""
    return getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")


def insert_or_skip(table: Table, dialect: str) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING (a row whose key is taken is left as it is),
    in the words of the database's dialect."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise ValueError(f"newswatch stores into SQLite or PostgreSQL, not {dialect}")


# namespaces of the advisory locks keyed by name (two int4 keys: the namespace, a hash
# of the name): one watch's matches, one source's health
WATCH_LOCKS = 0x6E77
SOURCE_LOCKS = 0x6E73


def lock_names(conn: Connection, namespace: int, names: Iterable[str]) -> bool:
    """On PostgreSQL, wait for any other transaction holding one of these names' locks
    until it ends, then hold them to the end of this one (each name's own lock, not the
    database's: others go on). Taken at once, in one order, so that two writers never
    wait for each other's. SQLite's writers take turns anyway. Whether it locked."""
    keys = sorted({zlib.crc32(n.encode()) - 2**31 for n in names})
    if not keys or conn.dialect.name != "postgresql":
        return False
    conn.execute(_LOCK_NAMES, {"ns": namespace, "keys": keys})
    return True


# the sub-select orders the keys before any lock is taken
_LOCK_NAMES = text("SELECT pg_advisory_xact_lock(:ns, k) FROM "
                   "(SELECT unnest(CAST(:keys AS integer[])) AS k ORDER BY 1) AS ordered")


# statements built once: building SQLAlchemy expressions costs more than running them,
# and these run for every article a crawl stores
_A = schema.articles
_MARK_STORY_ROOT = (update(_A).where(_A.c.id == bindparam("root"), _A.c.story_id.is_(None))
                    .values(story_id=_A.c.id))
_ALIAS_ARTICLE = select(schema.url_aliases.c.url_key, schema.url_aliases.c.article_id).where(
    schema.url_aliases.c.url_key == bindparam("key"))
_ALIASES_PRESENT = select(schema.url_aliases.c.url_key, schema.url_aliases.c.article_id).where(
    schema.url_aliases.c.url_key.in_(bindparam("keys", expanding=True)))


def utcnow() -> datetime:
    return datetime.now(UTC)


def _articles_of(conn: Connection, keys: set[str], batch: int = 500) -> dict[str, int]:
    """The stored article of each of these URL keys that is stored: one query per
    `batch` keys, and a plain `=` (half the cost of an expanding IN) for a single key."""
    if len(keys) == 1:
        rows = conn.execute(_ALIAS_ARTICLE, {"key": next(iter(keys))})
        return {key: article for key, article in rows}
    todo = sorted(keys)
    found: dict[str, int] = {}
    for i in range(0, len(todo), batch):
        rows = conn.execute(_ALIASES_PRESENT, {"keys": todo[i:i + batch]})
        found.update((key, article) for key, article in rows)
    return found


@dataclass
class ArticleRecord:
    """What the pipeline stores for one article page."""

    url: str
    url_key: str
    source: str
    title: str | None = None
    text: str | None = None
    author: str | None = None
    published: Published | None = None
    language: str | None = None
    sitename: str | None = None
    fingerprint: str | None = None
    too_old: bool = False
    has_text: bool = True
    aliases: tuple[str, ...] = ()
    matches: tuple[Match, ...] = ()
    queued: int = 0  # set by add_articles: outbox rows (alerts) its matches queued

    @property
    def simhash(self) -> int | None:
        """The content fingerprint as a number, for an article with text."""
        return int(self.fingerprint, 16) if self.has_text and self.fingerprint else None


class Store:
    """The operations on the database; each call is one short transaction. Whoever opens
    one owns it (a command, the daemon, a crawl's Runtime) and hands it to the parts that
    share it; `with Store(url) as store` closes it."""

    def __init__(self, url: str):
        self.url = url
        self.stories = StoryIndex()
        self.engine = make_engine(url)
        # one machine's SQLite file is brought up to date here; a shared database waits
        # for `newswatch migrate`
        migrate.ensure(self.engine, auto=make_url(url).get_backend_name() == "sqlite")
        self.reader = make_engine(url, writer=False)
        dialect = self.engine.dialect.name
        self._insert_article = insert_or_skip(_A, dialect).returning(_A.c.id)
        self._insert_aliases = insert_or_skip(schema.url_aliases, dialect).returning(
            schema.url_aliases.c.url_key)

    def close(self) -> None:
        """Close its connections (a SQLite database checkpoints its WAL on close)."""
        self.engine.dispose()
        self.reader.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- articles -----------------------------------------------------------------
    def is_known(self, key: str) -> bool:
        """One URL key: asked before every article download, so the statement is ready."""
        with self.reader.connect() as conn:
            return conn.execute(_ALIAS_ARTICLE, {"key": key}).first() is not None

    def known_keys(self, keys: Iterable[str], batch: int = 500) -> set[str]:
        """Which of these URL keys are stored: one query per `batch` keys."""
        with self.reader.connect() as conn:
            return set(_articles_of(conn, set(keys), batch))

    def add_article(self, rec: ArticleRecord,
                    routes: Mapping[str, Route] | None = None) -> int | None:
        """One article in its own transaction: see add_articles."""
        return self.add_articles([(rec, routes)])[0]

    def add_articles(self, batch: Sequence[tuple[ArticleRecord, Mapping[str, Route] | None]],
                     ) -> list[int | None]:
        """Insert articles with their matches and the matches' outbox rows, all in one
        transaction. Returns each one's new id, or None if its key was already stored
        (or came earlier in the batch); its other URL variants are recorded either way.
        A crawl stores a batch at a time because the statements' fixed costs (BEGIN,
        COMMIT, one lookup and one alias insert per article) were most of a store.

        Another writer (a second worker, on PostgreSQL) may store one of these articles
        between our lookup and our insert: the insert then does nothing, and the batch is
        done again from the start, when the lookup finds the other writer's article. A
        deadlock between two such writers is undone the same way."""
        if not batch:
            return []
        for attempt in range(1, RETRIES + 1):
            try:
                return self._add_articles(batch)
            except _Raced as exc:
                if attempt == RETRIES:
                    raise RuntimeError(f"another writer kept storing the same articles "
                                       f"({exc}); gave up after {RETRIES} tries") from None
                log.debug("batch raced another writer (%s): storing it again", exc)
            except DBAPIError as exc:
                if attempt == RETRIES or not _transient(exc):
                    raise
                log.debug("batch hit a deadlock with another writer: storing it again")
        raise AssertionError("unreachable")

    def _add_articles(self, batch: Sequence[tuple[ArticleRecord, Mapping[str, Route] | None]],
                      ) -> list[int | None]:
        # the articles that match a watch are stored last, after that watch's lock (see
        # below); those sharing a URL key with one of them too, keeping the batch's order
        matching = [not rec.too_old and bool(rec.matches) for rec, _ in batch]
        keys = {rec.url_key for (rec, _), m in zip(batch, matching, strict=True) if m}
        late = [m or rec.url_key in keys for (rec, _), m in zip(batch, matching, strict=True)]
        order = [i for i in range(len(batch)) if not late[i]] + \
            [i for i in range(len(batch)) if late[i]]
        watches = {m.watch for (rec, _), on in zip(batch, matching, strict=True) if on
                   for m in rec.matches}
        with self.tx() as conn:
            # an article's own key is always among its aliases (written in its
            # transaction), so one lookup tells which are stored and which variants are new
            present = _articles_of(conn, {k for rec, _ in batch
                                          for k in (rec.url_key, *rec.aliases)})
            now = utcnow()
            if any(rec.simhash is not None for rec, _ in batch):
                self.stories.refresh(conn, now)
            fresh: list[tuple[int, int]] = []  # fingerprint and story of each one inserted
            ids: list[int | None] = [None] * len(batch)
            aliases: list[dict[str, Any]] = []
            locked = False
            for i in order:
                rec, routes = batch[i]
                rec.queued = 0
                if late[i] and not locked:
                    # two copies of one story matching one watch are stored one writer
                    # after the other, so that the second sees the first and alerts
                    # nothing new. Held from here to the commit: only for the few
                    # articles that match.
                    if lock_names(conn, WATCH_LOCKS, watches):
                        self.stories.refresh(conn, now)
                    locked = True
                existing = present.get(rec.url_key)
                if existing is None:
                    existing = ids[i] = self._insert(conn, rec, routes or {}, now, fresh)
                for key in sorted({rec.url_key, *rec.aliases} - present.keys()):
                    present[key] = existing
                    aliases.append({"url_key": key, "article_id": existing})
            if aliases:
                added = set(conn.execute(self._insert_aliases, aliases).scalars())
                # a new article's own key already taken as another article's variant:
                # that article was stored by another writer since our lookup
                taken = [rec.url_key for (rec, _), new_id in zip(batch, ids, strict=True)
                         if new_id is not None and rec.url_key not in added]
                if taken:
                    raise _Raced(taken[0])
        return ids

    def _insert(self, conn: Connection, rec: ArticleRecord, routes: Mapping[str, Route],
                now: datetime, fresh: list[tuple[int, int]]) -> int:
        value = rec.simhash
        story = self.stories.find(value, also=fresh) if value is not None else None
        published, precision = to_row(rec.published)
        new_id: int | None = conn.execute(self._insert_article, {
            "url_key": rec.url_key, "url": rec.url, "source": rec.source,
            "title": rec.title, "text": rec.text, "author": rec.author,
            "published": published, "published_precision": precision, "first_seen": now,
            "language": rec.language, "sitename": rec.sitename, "story_id": story,
            "fingerprint": rec.fingerprint, "too_old": rec.too_old, "has_text": rec.has_text,
        }).scalar()
        if new_id is None:  # its key was stored by another writer since our lookup
            raise _Raced(rec.url_key)
        if story is not None:
            # a story's first article gets its story id when a copy joins it; alone, an
            # article's story id stays NULL (one statement less per article)
            conn.execute(_MARK_STORY_ROOT, {"root": story})
        if value is not None:
            fresh.append((value, story or new_id))
        if rec.matches and not rec.too_old:
            _, rec.queued = add_matches(conn, new_id, story or new_id, rec.matches, routes, now)
        return new_id

    def iter_articles(self, since: datetime | None = None,
                      batch: int = 500) -> Iterator[dict[str, Any]]:
        """Stored articles with text that could have alerted (not too old), oldest first,
        read in batches so a large database is never held in memory."""
        a = schema.articles
        last = 0
        while True:
            q = (select(a).where(a.c.id > last, a.c.has_text.is_(True), a.c.too_old.is_(False),
                                a.c.pruned.is_(None)).order_by(a.c.id).limit(batch))
            if since is not None:
                q = q.where(a.c.first_seen >= since)
            with self.reader.connect() as conn:
                rows = [dict(r) for r in conn.execute(q).mappings()]
            if not rows:
                return
            yield from rows
            last = rows[-1]["id"]

    def article(self, article_id: int) -> dict[str, Any] | None:
        with self.reader.connect() as conn:
            row = conn.execute(
                select(schema.articles).where(schema.articles.c.id == article_id)
            ).mappings().first()
            return dict(row) if row else None

    def articles(self, source: str | None = None,
                 since: datetime | None = None) -> list[dict[str, Any]]:
        q = select(schema.articles).order_by(schema.articles.c.id)
        if source is not None:
            q = q.where(schema.articles.c.source == source)
        if since is not None:
            q = q.where(schema.articles.c.first_seen >= since)
        with self.reader.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # -- conditional requests -------------------------------------------------------
    def validators(self, url: str) -> tuple[str | None, str | None]:
        with self.reader.connect() as conn:
            row = conn.execute(
                select(schema.http_validators.c.etag, schema.http_validators.c.last_modified)
                .where(schema.http_validators.c.url == url)
            ).first()
            return (row[0], row[1]) if row else (None, None)

    def save_validators(self, url: str, etag: str | None, last_modified: str | None) -> None:
        t = schema.http_validators
        values = {"etag": etag, "last_modified": last_modified, "checked": utcnow()}
        # one statement: two workers saving one URL's validators never both insert it
        upsert = (postgresql.insert(t) if self.engine.dialect.name == "postgresql"
                  else sqlite.insert(t)).values(url=url, **values)
        with self.tx() as conn:
            conn.execute(upsert.on_conflict_do_update(index_elements=[t.c.url], set_=values))

    # -- runs ---------------------------------------------------------------------
    def start_run(self, source: str) -> int:
        return self.start_runs([source])[0]

    def start_runs(self, sources: Sequence[str]) -> list[int]:
        """Runs of these sources, started now, in one transaction: their ids in order."""
        worker = worker_id()
        with self.tx() as conn:
            return [int(conn.execute(insert(schema.runs).values(
                source=source, started=utcnow(), status="running", worker=worker)
            ).inserted_primary_key[0]) for source in sources]  # type: ignore[index]

    def finish_run(self, run_id: int, status: str, counts: dict[str, int],
                   message: str | None = None) -> None:
        cols = {k: v for k, v in counts.items() if k in schema.runs.c}
        with self.tx() as conn:
            started = conn.execute(
                select(schema.runs.c.started).where(schema.runs.c.id == run_id)).scalar_one()
            now = utcnow()
            conn.execute(update(schema.runs).where(schema.runs.c.id == run_id).values(
                status=status, finished=now, duration=(now - started).total_seconds(),
                message=message, **cols))

    def runs(self, source: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = select(schema.runs).order_by(schema.runs.c.id.desc()).limit(limit)
        if source is not None:
            q = q.where(schema.runs.c.source == source)
        with self.reader.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]
