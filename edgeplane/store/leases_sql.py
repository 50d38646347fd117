"""Site leases in the SQL backends: the ``site_leases`` table (migration 0005).

``LeaseTable`` is a mixin of ``SqlStore`` (``store.sql``), kept apart because leases
share nothing with objects: no resourceVersion, no event, no write lock. A flush is
one transaction of upserts that keep the newest ``renewed_at`` (several hubs flush
the same sites); rows go in name order so two hubs' flushes lock rows in the same
order and cannot deadlock on PostgreSQL.

Neighbours: ``hub.leases`` (the in-memory renewals that are flushed and loaded).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from edgeplane.store.driver_errors import translated
from edgeplane.store.engine_bound import EngineBound
from edgeplane.store.schema import metadata

site_leases = sa.Table(
    "site_leases",
    metadata,
    sa.Column("site", sa.String(253), primary_key=True),
    sa.Column("renewed_at", sa.Float, nullable=False),
    sa.Column("hub", sa.String(253), nullable=False),
)


class LeaseTable(EngineBound):
    """``put_leases``, ``get_leases``, ``delete_lease`` of the ``Store`` protocol."""

    async def put_leases(self, leases: Mapping[str, float], hub: str) -> None:
        if not leases:
            return
        rows = [{"site": s, "renewed_at": float(leases[s]), "hub": hub} for s in sorted(leases)]
        async with translated(f"store {len(rows)} site lease(s)"), self.engine.begin() as conn:
            await conn.execute(self._upsert(), rows)

    async def get_leases(self, other_than: str | None = None) -> dict[str, float]:
        query = sa.select(site_leases.c.site, site_leases.c.renewed_at)
        if other_than is not None:
            query = query.where(site_leases.c.hub != other_than)
        async with translated("read site leases"), self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {row.site: float(row.renewed_at) for row in rows}

    async def delete_lease(self, site: str) -> None:
        query = site_leases.delete().where(site_leases.c.site == site)
        async with translated(f'delete the lease of site "{site}"'), self.engine.begin() as conn:
            await conn.execute(query)

    def _upsert(self) -> Any:
        insert = (sqlite.insert if self.is_sqlite else postgresql.insert)(site_leases)
        return insert.on_conflict_do_update(
            index_elements=[site_leases.c.site],
            set_={"renewed_at": insert.excluded.renewed_at, "hub": insert.excluded.hub},
            where=insert.excluded.renewed_at > site_leases.c.renewed_at,
        )
