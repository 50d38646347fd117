"""The leader lease in SQL: ``LeaderTable``, a mixin of ``SqlStore``.

Several hubs on one PostgreSQL run their controllers on one of them, the holder of
the single ``hub_leader`` row (migration 0006). The lease is timed by the database's
clock (``now()`` on PostgreSQL, ``julianday('now')`` on SQLite), so hubs whose clocks
disagree still agree on when it ends. Claiming is one conditional UPDATE: it succeeds
for the holder itself, or when the row is free or expired; two hubs racing for it are
serialized by the row's lock, and the loser reads the winner back.

Neighbours: ``hub.leadership`` decides when to claim and what leading starts;
``schema`` holds the other tables.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from edgeplane.store.driver_errors import translated
from edgeplane.store.engine_bound import EngineBound
from edgeplane.store.protocol import LeaderLease
from edgeplane.store.schema import metadata

hub_leader = sa.Table(
    "hub_leader",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("holder", sa.String(253), nullable=True),
    sa.Column("expires", sa.Float, nullable=False),
)
_ROW = hub_leader.c.id == 1
# SQLite's julianday counts days from noon, 24 November 4714 BC; this is its epoch.
_UNIX_EPOCH_JULIAN = 2440587.5


def database_now(dialect: str) -> Any:
    """The database's clock in seconds since the epoch, as an SQL expression."""
    if dialect == "postgresql":
        return sa.cast(sa.func.extract("epoch", sa.func.now()), sa.Float)
    return (sa.func.julianday("now") - _UNIX_EPOCH_JULIAN) * 86400.0


class LeaderTable(EngineBound):
    """``claim_leader`` and ``release_leader`` of the ``Store`` protocol."""

    async def claim_leader(self, hub: str, seconds: float) -> LeaderLease:
        now = database_now(self.engine.dialect.name)
        claimable = sa.or_(
            hub_leader.c.holder == hub, hub_leader.c.holder.is_(None), hub_leader.c.expires <= now
        )
        claim = hub_leader.update().where(_ROW, claimable).values(holder=hub, expires=now + seconds)
        read = sa.select(hub_leader.c.holder, hub_leader.c.expires - now).where(_ROW)
        async with translated("claim the leader lease"), self.engine.begin() as conn:
            await conn.execute(claim)
            holder, left = (await conn.execute(read)).one()
        return LeaderLease(holder, float(left))

    async def release_leader(self, hub: str) -> None:
        release = (
            hub_leader.update()
            .where(_ROW, hub_leader.c.holder == hub)
            .values(holder=None, expires=0.0)
        )
        async with translated("release the leader lease"), self.engine.begin() as conn:
            await conn.execute(release)
