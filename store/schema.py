"""The database tables (SQLAlchemy Core), as the newest revision in store/migrations
leaves them. Times are stored as UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


metadata = MetaData()

articles = Table(
    "articles", metadata,
    Column("id", Integer, primary_key=True),
    Column("url_key", String(2048), nullable=False, unique=True),
    Column("url", String(2048), nullable=False),
    Column("source", String(64), nullable=False, index=True),
    Column("title", Text),
    Column("text", Text),
    Column("author", Text),
    # the publication instant; for a bare date (published_precision "date") midnight UTC
    # of that day, which is never shown as a time (config.times.from_row reads it back)
    Column("published", UTCDateTime),
    Column("published_precision", String(8)),  # "time" | "date"; NULL: stored before
    Column("first_seen", UTCDateTime, nullable=False, index=True),
    Column("language", String(16)),
    Column("sitename", Text),
    Column("fingerprint", String(64), index=True),
    Column("too_old", Boolean, nullable=False, default=False),
    Column("has_text", Boolean, nullable=False, default=True),
    # near-identical copies (wire stories) share the id of the first one stored; NULL
    # while an article has no copy
    Column("story_id", Integer, index=True),
    # when retention took its text and matches; the row stays, as the URL's memory
    Column("pruned", UTCDateTime),
    # over the articles not pruned yet: `status` counts them by source, and the prune
    # finds the oldest of them, without reading the rows kept only for their URLs
    # (`pruned`, always NULL there, makes the first cover the count: see revision 0004)
    Index("ix_articles_kept_source", "source", "pruned",
          sqlite_where=text("pruned IS NULL"), postgresql_where=text("pruned IS NULL")),
    Index("ix_articles_kept_first_seen", "first_seen",
          sqlite_where=text("pruned IS NULL"), postgresql_where=text("pruned IS NULL")),
)

# Every URL variant under which an article was fetched or announced, so that a re-crawl
# skips it before downloading.
url_aliases = Table(
    "url_aliases", metadata,
    Column("url_key", String(2048), primary_key=True),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"),
           index=True),  # the prune forgets an article's aliases with it
)

# A (watch, article) pair is stored once: re-crawls, URL variants and edits of the
# watch's query never add a second row, so they can never alert twice.
matches = Table(
    "matches", metadata,
    Column("id", Integer, primary_key=True),
    Column("watch", String(64), nullable=False),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"),
           nullable=False),
    Column("query", Text, nullable=False),
    Column("hits", JSON, nullable=False),
    Column("snippets", JSON, nullable=False),
    Column("matched_at", UTCDateTime, nullable=False),
    # a copy of a story this watch already matched: "also reported by", never sent again
    Column("duplicate_of", Integer, ForeignKey("matches.id")),
    UniqueConstraint("watch", "article_id", name="uq_matches_watch_article"),
    Index("ix_matches_matched_at", "matched_at"),
    # the prune's lookups and the checks of the foreign keys pointing here; a watch's
    # newest matches
    Index("ix_matches_article_id", "article_id"),
    Index("ix_matches_duplicate_of", "duplicate_of"),
    Index("ix_matches_watch_matched_at", "watch", "matched_at"),
)

# One row per match and recipient, written with the match. `due` is when it may go
# out (now, or the watch's next digest time); `email_id` is set when it is put in an
# email, and from then on it goes wherever that email goes.
outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("match_id", Integer, ForeignKey("matches.id", ondelete="CASCADE"), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("digest", String(16), nullable=False),
    Column("due", UTCDateTime, nullable=False),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("email_id", Integer, ForeignKey("emails.id")),
    Column("created", UTCDateTime, nullable=False),
    UniqueConstraint("match_id", "recipient", name="uq_outbox_match_recipient"),
    Index("ix_outbox_pending", "email_id", "due"),
)

# One email to one recipient: its bytes are fixed when it is composed, so a retry sends
# the same message with the same Message-ID.
emails = Table(
    "emails", metadata,
    Column("id", Integer, primary_key=True),
    Column("recipient", String(320), nullable=False),
    Column("digest", String(16), nullable=False),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("subject", Text, nullable=False),
    Column("mime", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),  # pending | sending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", UTCDateTime, nullable=False),
    Column("claimed", UTCDateTime),
    Column("claimed_by", String(255)),  # host:pid of the sender that holds it
    Column("last_error", Text),
    Column("created", UTCDateTime, nullable=False),
    Column("sent", UTCDateTime),
    Index("ix_emails_status", "status", "next_attempt"),
)

# Each source's health as last announced to alerts.ops: an email goes out only when this
# changes, so a source that stays broken is reported once.
source_health = Table(
    "source_health", metadata,
    Column("source", String(64), primary_key=True),
    Column("state", String(16), nullable=False),  # healthy | failing
    Column("reason", Text),
    Column("since", UTCDateTime, nullable=False),
)

http_validators = Table(
    "http_validators", metadata,
    Column("url", String(2048), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("checked", UTCDateTime),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(64), nullable=False),
    Column("started", UTCDateTime, nullable=False),
    Column("finished", UTCDateTime),
    Column("duration", Float),
    Column("pages", Integer, default=0),
    Column("new_articles", Integer, default=0),
    Column("too_old", Integer, default=0),
    Column("no_text", Integer, default=0),
    Column("known", Integer, default=0),
    Column("matches", Integer, default=0),
    Column("errors", Integer, default=0),
    Column("links", Integer, default=0),
    Column("bad_links", Integer, default=0),  # malformed links, counted and skipped
    Column("status", String(16), nullable=False, default="running"),
    Column("message", Text),
    Column("worker", String(128)),  # host:pid of the crawl worker that polled
    Index("ix_runs_source_started", "source", "started"),
)


# Each source's adaptive schedule (newswatch.config.pacing), written as each poll ends and read
# by the scheduler: it survives restarts and is the same whichever process schedules.
schedules = Table(
    "schedules", metadata,
    Column("source", String(64), primary_key=True),
    Column("interval", Float, nullable=False),  # seconds
    Column("articles", Float, nullable=False, default=0.0),  # decayed new articles
    Column("hours", Float, nullable=False, default=0.0),  # decayed hours polled
    Column("quiet", Integer, nullable=False, default=0),
    Column("strikes", Integer, nullable=False, default=0),
    Column("last_poll", UTCDateTime),
    Column("next_poll", UTCDateTime),
    Column("reason", Text),
    Column("asked", Text),  # the site's ask when it, not the interval, sets next_poll
    Column("updated", UTCDateTime, nullable=False, index=True),
)
