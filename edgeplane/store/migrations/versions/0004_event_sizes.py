"""Events record their size: ``events.size``, so the log is bounded by bytes too.

Revision ID: 0004
Revises: 0003

Compaction keeps the newest events up to a byte budget as well as a count; summing
``size`` over the index ``ix_events_rv_size`` reads no event bodies (in SQLite a column
stored after a large body would cost reading the body's overflow pages).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("size", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("UPDATE events SET size = length(body)")
    op.create_index("ix_events_rv_size", "events", ["resource_version", "size"])


def downgrade() -> None:
    op.drop_index("ix_events_rv_size", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("size")
