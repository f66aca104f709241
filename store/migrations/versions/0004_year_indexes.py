"""Indexes for a store a year old (issue 23): what `status`, the web view and the daily
prune look up stays an index seek or a scan of the retention window, never a scan of
every article, alias or match kept since the start.

- articles(source) and articles(first_seen) over the articles not pruned yet (partial):
  `status` counts each source's articles, the web view finds a source's matches and the
  prune finds the day's articles to prune, without reading the rows of pruned articles
  kept for their URLs (retention.urls). The first holds `pruned` too (always NULL):
  SQLite (3.40) reads a row for a column of the index's WHERE unless the index holds it,
  and `status` counts millions of them. (The prune reads the rows it prunes anyway, and
  given the second the same way SQLite would prefer ix_articles_first_seen.)
- matches(article_id), matches(duplicate_of) and url_aliases(article_id): the prune's
  lookups, and the checks of the foreign keys that point there when a match or an
  article is deleted (without them SQLite scans the whole table for each row deleted).
- matches(watch, matched_at): one watch's newest matches (the web view, its feed)
  without sorting all of them, and the per-watch counts of `status`.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NOT_PRUNED = sa.text("pruned IS NULL")


def upgrade() -> None:
    op.create_index("ix_articles_kept_source", "articles", ["source", "pruned"],
                    sqlite_where=NOT_PRUNED, postgresql_where=NOT_PRUNED)
    op.create_index("ix_articles_kept_first_seen", "articles", ["first_seen"],
                    sqlite_where=NOT_PRUNED, postgresql_where=NOT_PRUNED)
    op.create_index("ix_matches_article_id", "matches", ["article_id"])
    op.create_index("ix_matches_duplicate_of", "matches", ["duplicate_of"])
    op.create_index("ix_matches_watch_matched_at", "matches", ["watch", "matched_at"])
    op.create_index("ix_url_aliases_article_id", "url_aliases", ["article_id"])


def downgrade() -> None:
    op.drop_index("ix_url_aliases_article_id", table_name="url_aliases")
    op.drop_index("ix_matches_watch_matched_at", table_name="matches")
    op.drop_index("ix_matches_duplicate_of", table_name="matches")
    op.drop_index("ix_matches_article_id", table_name="matches")
    op.drop_index("ix_articles_kept_first_seen", table_name="articles")
    op.drop_index("ix_articles_kept_source", table_name="articles")
