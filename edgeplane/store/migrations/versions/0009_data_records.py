"""Data records sent home by sites, the hub's own DataStream sink: ``data_records``.

Revision ID: 0009
Revises: 0008

``(site, epoch, seq)`` is unique, so a batch a site sends again after a lost answer
stores nothing twice; ``id`` orders records as stored (for tails).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "data_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("site", sa.String(253), nullable=False),
        sa.Column("epoch", sa.String(16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("stream", sa.String(253), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("received", sa.Float(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("site", "epoch", "seq", name="uq_data_records_origin"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_data_records_stream_id", "data_records", ["stream", "id"])
    op.create_index("ix_data_records_stream_at", "data_records", ["stream", "at"])


def downgrade() -> None:
    op.drop_index("ix_data_records_stream_at", table_name="data_records")
    op.drop_index("ix_data_records_stream_id", table_name="data_records")
    op.drop_table("data_records")
