"""Secrets' sealed values (``store.sealed_sql``): ``sealed_values``.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "sealed_values",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_sealed_values_name", "sealed_values", ["name"])


def downgrade() -> None:
    op.drop_index("ix_sealed_values_name", table_name="sealed_values")
    op.drop_table("sealed_values")
