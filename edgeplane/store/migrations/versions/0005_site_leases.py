"""Site leases: ``site_leases``, when each site was last heard from, by which hub.

Revision ID: 0005
Revises: 0004

Heartbeats renew leases in each hub's memory; a hub writes its renewals here in one
batch every few seconds (no object, no event, no resourceVersion), so a restarted hub
and the hub running the health controller know them. An upsert keeps the newest
``renewed_at`` (unix seconds) of any hub.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "site_leases",
        sa.Column("site", sa.String(253), primary_key=True),
        sa.Column("renewed_at", sa.Float(), nullable=False),
        sa.Column("hub", sa.String(253), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("site_leases")
