"""newswatch 0.2.0: an article's publication precision (a time, or a date only) and when
retention pruned it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newswatch.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a database of a development build between the two releases may have one already
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("articles")}
    with op.batch_alter_table("articles") as batch:
        if "published_precision" not in have:
            batch.add_column(sa.Column("published_precision", sa.String(8)))
        if "pruned" not in have:
            batch.add_column(sa.Column("pruned", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("pruned")
        batch.drop_column("published_precision")
