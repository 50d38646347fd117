"""Secrets' sealed values in SQL: the ``sealed_values`` table (migration 0010), apart
from ``objects`` so that no list, watch, event or backup of the objects carries them.
Each row is written once under a new id and removed when its Secret moves on or goes.

Neighbours: ``hub.sealing`` encrypts and decrypts; ``hub.secrets`` writes Secrets.
"""

from __future__ import annotations

import sqlalchemy as sa

from edgeplane.store.driver_errors import translated
from edgeplane.store.engine_bound import EngineBound
from edgeplane.store.errors import AlreadyExists
from edgeplane.store.protocol import SealedValues
from edgeplane.store.schema import metadata

sealed_values = sa.Table(
    "sealed_values",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(253), nullable=False, index=True),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("nonce", sa.LargeBinary(), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", sa.Float(), nullable=False),
)


class SealedTable(EngineBound):
    """The sealed-values methods of the ``Store`` protocol."""

    async def put_sealed(self, values: SealedValues) -> None:
        row = {
            "id": values.id,
            "name": values.name,
            "key_id": values.key_id,
            "nonce": values.nonce,
            "ciphertext": values.ciphertext,
            "created_at": values.created_at,
        }
        what = f'store sealed values of "{values.name}"'
        async with translated(what), self.engine.begin() as conn:
            taken = sa.select(sealed_values.c.id).where(sealed_values.c.id == values.id)
            if (await conn.execute(taken)).first() is not None:
                raise AlreadyExists("SealedValues", values.id)
            await conn.execute(sealed_values.insert().values(row))

    async def get_sealed(self, sealed_id: str) -> SealedValues | None:
        query = sa.select(sealed_values).where(sealed_values.c.id == sealed_id)
        async with translated("read sealed values"), self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().one_or_none()
        return None if row is None else SealedValues(**dict(row))

    async def delete_sealed(
        self, name: str, keep: str | None = None, only: str | None = None
    ) -> int:
        query = sa.delete(sealed_values).where(sealed_values.c.name == name)
        if keep is not None:
            query = query.where(sealed_values.c.id != keep)
        if only is not None:
            query = query.where(sealed_values.c.id == only)
        async with translated(f'remove sealed values of "{name}"'), self.engine.begin() as conn:
            return int((await conn.execute(query)).rowcount or 0)

    async def replace_sealed(self, values: SealedValues) -> None:
        query = (
            sa.update(sealed_values)
            .where(sealed_values.c.id == values.id)
            .values(key_id=values.key_id, nonce=values.nonce, ciphertext=values.ciphertext)
        )
        what = f'seal again the values of "{values.name}"'
        async with translated(what), self.engine.begin() as conn:
            await conn.execute(query)

    async def list_sealed(self, after_id: str, limit: int) -> tuple[SealedValues, ...]:
        query = (
            sa.select(sealed_values)
            .where(sealed_values.c.id > after_id)
            .order_by(sealed_values.c.id)
            .limit(max(1, limit))
        )
        async with translated("list sealed values"), self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return tuple(SealedValues(**dict(row)) for row in rows)
