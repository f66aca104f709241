"""Adaptive schedules: each source's pace (interval, decayed publishing record, streaks,
next poll and why), so a schedule survives restarts and every scheduler reads the same.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from newswatch.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("interval", sa.Float, nullable=False),
        sa.Column("articles", sa.Float, nullable=False),
        sa.Column("hours", sa.Float, nullable=False),
        sa.Column("quiet", sa.Integer, nullable=False),
        sa.Column("strikes", sa.Integer, nullable=False),
        sa.Column("last_poll", UTCDateTime),
        sa.Column("next_poll", UTCDateTime),
        sa.Column("reason", sa.Text),
        sa.Column("asked", sa.Text),
        sa.Column("updated", UTCDateTime, nullable=False),
    )
    op.create_index("ix_schedules_updated", "schedules", ["updated"])


def downgrade() -> None:
    op.drop_index("ix_schedules_updated", table_name="schedules")
    op.drop_table("schedules")
