"""The schema of newswatch 0.1.0, the last release before migrations.

A database made by 0.1.0 (or earlier: columns were then added as they appeared) has no
revision yet: this one creates the tables that are missing and adds the 0.1.0 columns
that are missing, so that every such database reaches the same point, then it is
stamped. A new database gets the whole 0.1.0 schema here.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

from alembic import op
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)

from newswatch.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

v1 = MetaData()

articles = Table(
    "articles", v1,
    Column("id", Integer, primary_key=True),
    Column("url_key", String(2048), nullable=False, unique=True),
    Column("url", String(2048), nullable=False),
    Column("source", String(64), nullable=False, index=True),
    Column("title", Text),
    Column("text", Text),
    Column("author", Text),
    Column("published", UTCDateTime),
    Column("first_seen", UTCDateTime, nullable=False, index=True),
    Column("language", String(16)),
    Column("sitename", Text),
    Column("fingerprint", String(64), index=True),
    Column("too_old", Boolean, nullable=False, default=False),
    Column("has_text", Boolean, nullable=False, default=True),
    # near-identical copies (wire stories) share the id of the first one stored; NULL
    # while an article has no copy
    Column("story_id", Integer, index=True),
)

# Every URL variant under which an article was fetched or announced, so that a re-crawl
# skips it before downloading.
url_aliases = Table(
    "url_aliases", v1,
    Column("url_key", String(2048), primary_key=True),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE")),
)

# A (watch, article) pair is stored once: re-crawls, URL variants and edits of the
# watch's query never add a second row, so they can never alert twice.
matches = Table(
    "matches", v1,
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
)

# One row per match and recipient, written with the match. `due` is when it may go
# out (now, or the watch's next digest time); `email_id` is set when it is put in an
# email, and from then on it goes wherever that email goes.
outbox = Table(
    "outbox", v1,
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
    "emails", v1,
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
    "source_health", v1,
    Column("source", String(64), primary_key=True),
    Column("state", String(16), nullable=False),  # healthy | failing
    Column("reason", Text),
    Column("since", UTCDateTime, nullable=False),
)

http_validators = Table(
    "http_validators", v1,
    Column("url", String(2048), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("checked", UTCDateTime),
)

runs = Table(
    "runs", v1,
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


def upgrade() -> None:
    conn = op.get_bind()
    v1.create_all(conn, checkfirst=True)
    found = inspect(conn)
    for table in v1.sorted_tables:
        have = {c["name"] for c in found.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:  # nullable or with a default: old rows stay valid
                kind = column.type.compile(dialect=conn.dialect)
                arg: Any = getattr(column.default, "arg", None)
                default = f" DEFAULT {arg!r}" if isinstance(arg, int | str) else ""
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" '
                                  f"{kind}{default}"))


def downgrade() -> None:
    v1.drop_all(op.get_bind())
