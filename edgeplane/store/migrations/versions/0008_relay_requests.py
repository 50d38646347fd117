"""Relay requests shared by the hubs of one database: ``relay_requests``.

Revision ID: 0008
Revises: 0007

A hub asked for a site's logs queues the request in its memory for an agent connected
to it, and here for the hub the site's agent is connected to when that is another one:
that hub takes it (``taken_by``), relays it to the agent and writes the answer back.
``created`` is by the database's clock; rows of an asker that died are deleted later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "relay_requests",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(253), nullable=False),
        sa.Column("asker", sa.String(253), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("taken_by", sa.String(253), nullable=True),
        sa.Column("answered", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_relay_requests_created", "relay_requests", ["created"])


def downgrade() -> None:
    op.drop_index("ix_relay_requests_created", table_name="relay_requests")
    op.drop_table("relay_requests")
