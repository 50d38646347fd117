"""The leader lease of several hubs on one database: ``hub_leader``.

Revision ID: 0006
Revises: 0005

One row (``id`` 1), made here so that claiming it is always one conditional UPDATE and
never a race between two INSERTs: ``holder`` is the hub that runs the controllers (NULL
when none does) and ``expires`` when its lease ends, in seconds since the epoch by the
database's own clock, the one clock every hub shares.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    table = op.create_table(
        "hub_leader",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("holder", sa.String(253), nullable=True),
        sa.Column("expires", sa.Float(), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "holder": None, "expires": 0.0}])


def downgrade() -> None:
    op.drop_table("hub_leader")
