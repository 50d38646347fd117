"""Credentials in SQL: ``TokenTable``, a mixin of ``SqlStore``.

Tokens share nothing with objects (no resourceVersion, no event, no write queue): each
call is one short transaction of its own. A single-use token is used by one conditional
``UPDATE ... WHERE used_at IS NULL``, so of several callers racing with one token
exactly one wins, across hubs too.

Neighbours: ``hub.tokens`` and ``hub.auth`` decide what a token may do; ``schema``
holds the table.
"""

from __future__ import annotations

import sqlalchemy as sa

from edgeplane.store.driver_errors import translated
from edgeplane.store.engine_bound import EngineBound
from edgeplane.store.protocol import TokenRecord
from edgeplane.store.schema import tokens


class TokenTable(EngineBound):
    """The token methods of the ``Store`` protocol."""

    async def put_token(self, record: TokenRecord) -> None:
        row = {
            "token_id": record.token_id,
            "secret_hash": record.secret_hash,
            "subject": record.subject,
            "role": record.role,
            "created_at": record.created_at,
            "expires_at": record.expires_at,
            "attributes": record.attributes,
            "used_at": record.used_at,
            "used_by": record.used_by,
        }
        async with translated(f'store token "{record.token_id}"'), self.engine.begin() as conn:
            await conn.execute(tokens.delete().where(tokens.c.token_id == record.token_id))
            await conn.execute(tokens.insert().values(row))

    async def get_token(self, token_id: str) -> TokenRecord | None:
        query = sa.select(tokens).where(tokens.c.token_id == token_id)
        async with translated(f'read token "{token_id}"'), self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().one_or_none()
        return None if row is None else TokenRecord(**dict(row))

    async def list_tokens(
        self, limit: int, role: str | None = None, subject: str | None = None
    ) -> tuple[TokenRecord, ...]:
        query = sa.select(tokens).order_by(tokens.c.created_at, tokens.c.token_id).limit(limit)
        if role is not None:
            query = query.where(tokens.c.role == role)
        if subject is not None:
            query = query.where(tokens.c.subject == subject)
        async with translated("list tokens"), self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return tuple(TokenRecord(**dict(row)) for row in rows)

    async def delete_token(self, token_id: str) -> None:
        async with translated(f'delete token "{token_id}"'), self.engine.begin() as conn:
            await conn.execute(tokens.delete().where(tokens.c.token_id == token_id))

    async def delete_tokens_of(self, subject: str, role: str) -> int:
        query = tokens.delete().where(tokens.c.subject == subject, tokens.c.role == role)
        async with translated(f'delete tokens of "{subject}"'), self.engine.begin() as conn:
            return int((await conn.execute(query)).rowcount)

    async def use_token(self, token_id: str, used_by: str, at: float) -> bool:
        update = (
            tokens.update()
            .where(tokens.c.token_id == token_id, tokens.c.used_at.is_(None))
            .values(used_at=at, used_by=used_by)
        )
        async with translated(f'use token "{token_id}"'), self.engine.begin() as conn:
            return (await conn.execute(update)).rowcount == 1

    async def release_token(self, token_id: str) -> None:
        update = (
            tokens.update().where(tokens.c.token_id == token_id).values(used_at=None, used_by=None)
        )
        async with translated(f'release token "{token_id}"'), self.engine.begin() as conn:
            await conn.execute(update)
