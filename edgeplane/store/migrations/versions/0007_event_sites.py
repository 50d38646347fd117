"""Events record the site they are for: ``events.site`` and ``events.previous_site``.

Revision ID: 0007
Revises: 0006

A site's agent watches only its own objects (label ``edgeplane.io/site``). With the site
in an indexed column, its backlog is one index range, not a read of every site's events.
``previous_site`` is set when a write moved an object to another site (or off every
site): the old site's watch must still be told that the object left.

Events logged before this revision get ``site`` from their body; their previous site is
not known (NULL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

_SITE_OF_BODY = {
    "sqlite": "json_extract(body, '$.metadata.labels.\"edgeplane.io/site\"')",
    "postgresql": "(body::jsonb -> 'metadata' -> 'labels' ->> 'edgeplane.io/site')",
}


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("site", sa.String(253), nullable=True))
        batch.add_column(sa.Column("previous_site", sa.String(253), nullable=True))
    site_of_body = _SITE_OF_BODY[op.get_bind().dialect.name]
    op.execute(f"UPDATE events SET site = {site_of_body}")
    op.create_index("ix_events_site_rv", "events", ["site", "resource_version"])
    op.create_index("ix_events_previous_site_rv", "events", ["previous_site", "resource_version"])


def downgrade() -> None:
    op.drop_index("ix_events_previous_site_rv", table_name="events")
    op.drop_index("ix_events_site_rv", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("previous_site")
        batch.drop_column("site")
