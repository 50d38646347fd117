"""Tokens carry attributes and a single use: ``attributes``, ``used_at``, ``used_by``.

Revision ID: 0003
Revises: 0002

A join token holds the labels its site will get (``attributes``, JSON) and may be
used once: ``used_at``/``used_by`` are set by one conditional UPDATE, so two agents
racing with the same token cannot both win, and a second use can say who used it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("attributes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("used_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("used_by", sa.String(253), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("used_by")
        batch.drop_column("used_at")
        batch.drop_column("attributes")
