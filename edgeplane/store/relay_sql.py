"""Relay requests in SQL: ``RelayTable``, a mixin of ``SqlStore`` (migration 0008).

The relay queue of one hub lives in its memory; with several hubs on one database, a
request for a site whose agent is connected to another hub goes through this table:
the asker puts it, the hub the agent polls takes it (one conditional UPDATE, so one
hub takes it), relays it and writes the answer, the asker reads the answer and deletes
the row. Times are by the database's clock; requests older than ``MAX_AGE_SECONDS``
are no longer offered and are deleted at the next put.

Neighbours: ``hub.sharedrelay`` (both ends), ``hub.relay`` (the in-memory queues).
"""

from __future__ import annotations

import sqlalchemy as sa

from edgeplane.store.driver_errors import translated
from edgeplane.store.engine_bound import EngineBound
from edgeplane.store.leadership_sql import database_now
from edgeplane.store.protocol import RelayAnswer, RelayRequest
from edgeplane.store.schema import metadata

MAX_AGE_SECONDS = 60.0

relay_requests = sa.Table(
    "relay_requests",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("site", sa.String(253), nullable=False),
    sa.Column("asker", sa.String(253), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("taken_by", sa.String(253), nullable=True),
    sa.Column("answered", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("answer", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index("ix_relay_requests_created", "created"),
)
_t = relay_requests.c


class RelayTable(EngineBound):
    """The relay methods of the ``Store`` protocol."""

    async def put_relay_request(self, request: RelayRequest, hub: str) -> None:
        now = database_now(self.engine.dialect.name)
        row = {
            "request_id": request.request_id,
            "site": request.site,
            "asker": hub,
            "body": request.body,
            "created": now,
        }
        async with translated("queue a relay request"), self.engine.begin() as conn:
            # Rows of askers that died before deleting theirs go with the next put.
            await conn.execute(relay_requests.delete().where(_t.created < now - MAX_AGE_SECONDS))
            await conn.execute(relay_requests.insert().values(row))

    async def pending_relay_requests(self, hub: str, limit: int) -> tuple[RelayRequest, ...]:
        now = database_now(self.engine.dialect.name)
        query = (
            sa.select(_t.request_id, _t.site, _t.body)
            .where(_t.taken_by.is_(None), _t.asker != hub, _t.created >= now - MAX_AGE_SECONDS)
            .order_by(_t.created)
            .limit(limit)
        )
        async with translated("read relay requests"), self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return tuple(RelayRequest(r.request_id, r.site, r.body) for r in rows)

    async def take_relay_request(self, request_id: str, hub: str) -> bool:
        take = (
            relay_requests.update()
            .where(_t.request_id == request_id, _t.taken_by.is_(None))
            .values(taken_by=hub)
        )
        async with translated("take a relay request"), self.engine.begin() as conn:
            return (await conn.execute(take)).rowcount == 1

    async def answer_relay_request(self, request_id: str, answer: RelayAnswer) -> None:
        values = {"answered": True, "answer": answer.text, "error": answer.error}
        update = relay_requests.update().where(_t.request_id == request_id).values(values)
        async with translated("answer a relay request"), self.engine.begin() as conn:
            await conn.execute(update)

    async def relay_answer(self, request_id: str) -> RelayAnswer | None:
        query = sa.select(_t.answer, _t.error).where(_t.request_id == request_id, _t.answered)
        async with translated("read a relay answer"), self.engine.connect() as conn:
            row = (await conn.execute(query)).one_or_none()
        return None if row is None else RelayAnswer(row.answer or "", row.error)

    async def delete_relay_request(self, request_id: str) -> None:
        delete = relay_requests.delete().where(_t.request_id == request_id)
        async with translated("delete a relay request"), self.engine.begin() as conn:
            await conn.execute(delete)
