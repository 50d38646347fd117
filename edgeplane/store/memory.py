"""``MemoryStore``: an in-memory fake of the ``Store`` protocol for unit tests.

The same semantics as the SQL backends, from the same bookkeeping and continue
tokens: owned metadata, conflicts, no-op writes, pagination, ordered watches, Gone
after compaction. Nothing is durable. Writes never await, so each one is atomic on
the event loop. Watchers read the event list directly, so none can overflow.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

from edgeplane.api.selectors import Selector
from edgeplane.api.wire import Object
from edgeplane.store import objects as bookkeeping
from edgeplane.store.continuation import ContinueTokens, new_secret
from edgeplane.store.errors import AlreadyExists, Gone, NotFound
from edgeplane.store.protocol import (
    DataRecord,
    EventType,
    LeaderLease,
    ListResult,
    RecordQuery,
    RelayAnswer,
    RelayRequest,
    SealedValues,
    TokenRecord,
    WatchEvent,
)

RELAY_MAX_AGE_SECONDS = 60.0


class MemoryStore:
    def __init__(self, *, event_retention: int = 100_000) -> None:
        self.event_retention = event_retention
        self._objects: dict[tuple[str, str], Object] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._leases: dict[str, tuple[float, str]] = {}
        self._leader: tuple[str | None, float] = (None, 0.0)  # holder, ends (monotonic)
        self._relayed: dict[str, _Relayed] = {}
        self._records: list[DataRecord] = []
        self._sealed: dict[str, SealedValues] = {}
        self._record_keys: set[tuple[str, str, int]] = set()
        self._events: list[WatchEvent] = []
        self._rv = 0
        self._compacted = 0
        self._continue = ContinueTokens(new_secret())
        self._changed = asyncio.Event()
        self._closed = False

    async def open(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        self._notify()

    async def create(self, obj: Object) -> Object:
        key = bookkeeping.key_of(obj)
        if key in self._objects:
            raise AlreadyExists(*key)
        return self._commit(key, bookkeeping.created(obj, self._rv + 1), EventType.ADDED)

    async def get(self, kind: str, name: str) -> Object:
        return copy.deepcopy(self._stored((kind, name)))

    async def list(
        self,
        kind: str,
        selector: Selector | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        tokens = self._continue
        after, rv = tokens.decode(continue_token, kind) if continue_token else ("", self._rv)
        names = sorted(n for k, n in self._objects if k == kind and n > after)
        found = [self._objects[(kind, n)] for n in names]
        found = [o for o in found if not selector or selector.matches(bookkeeping.labels_of(o))]
        page = found[:limit] if limit else found
        more = len(found) > len(page)
        token = tokens.encode(kind, page[-1]["metadata"]["name"], rv) if more else None
        return ListResult(copy.deepcopy(page), rv, token)

    async def replace(self, obj: Object) -> Object:
        return self._update(obj, bookkeeping.replaced)

    async def replace_status(self, obj: Object) -> Object:
        return self._update(obj, bookkeeping.status_replaced)

    async def delete(self, kind: str, name: str, resource_version: str | None = None) -> Object:
        stored = self._stored((kind, name))
        bookkeeping.check_version(stored, resource_version)
        del self._objects[(kind, name)]
        last = bookkeeping.stamped(copy.deepcopy(stored), self._rv + 1)
        self._record(EventType.DELETED, last)
        return copy.deepcopy(last)

    async def watch(
        self, kind: str | None, since: int, *, site: str | None = None
    ) -> AsyncIterator[WatchEvent]:
        last = since
        while not self._closed:
            if last < self._compacted:
                raise Gone(last, self._compacted)
            start = bisect.bisect_right(self._events, last, key=lambda e: e.resource_version)
            if start == len(self._events):
                await self._changed.wait()
                continue
            for event in self._events[start:]:
                last = event.resource_version
                if _wanted(event, kind, site):
                    copied = copy.deepcopy(event.object)
                    yield WatchEvent(event.type, copied, last, previous_site=event.previous_site)
                if self._closed or last < self._compacted:
                    break

    async def compact(self) -> int:
        """Drop events beyond the newest ``event_retention``; return the watermark."""
        excess = len(self._events) - self.event_retention
        if excess > 0:
            self._compacted = self._events[excess - 1].resource_version
            del self._events[:excess]
            self._notify()
        return self._compacted

    async def compacted_resource_version(self) -> int:
        return self._compacted

    async def current_resource_version(self) -> int:
        return self._rv

    async def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for kind, _ in self._objects:
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    async def put_token(self, record: TokenRecord) -> None:
        self._tokens[record.token_id] = record

    async def get_token(self, token_id: str) -> TokenRecord | None:
        return self._tokens.get(token_id)

    async def list_tokens(
        self, limit: int, role: str | None = None, subject: str | None = None
    ) -> tuple[TokenRecord, ...]:
        chosen = [
            t
            for t in self._tokens.values()
            if role in (None, t.role) and subject in (None, t.subject)
        ]
        ordered = sorted(chosen, key=lambda t: (t.created_at, t.token_id))
        return tuple(ordered[:limit])

    async def delete_token(self, token_id: str) -> None:
        self._tokens.pop(token_id, None)

    async def delete_tokens_of(self, subject: str, role: str) -> int:
        doomed = [k for k, t in self._tokens.items() if (t.subject, t.role) == (subject, role)]
        for key in doomed:
            del self._tokens[key]
        return len(doomed)

    async def use_token(self, token_id: str, used_by: str, at: float) -> bool:
        record = self._tokens.get(token_id)
        if record is None or record.used_at is not None:
            return False
        self._tokens[token_id] = dataclasses.replace(record, used_at=at, used_by=used_by)
        return True

    async def release_token(self, token_id: str) -> None:
        if record := self._tokens.get(token_id):
            self._tokens[token_id] = dataclasses.replace(record, used_at=None, used_by=None)

    async def put_leases(self, leases: Mapping[str, float], hub: str) -> None:
        for site, at in leases.items():
            if float(at) > self._leases.get(site, (float("-inf"), ""))[0]:
                self._leases[site] = (float(at), hub)

    async def get_leases(self, other_than: str | None = None) -> dict[str, float]:
        return {site: at for site, (at, hub) in self._leases.items() if hub != other_than}

    async def delete_lease(self, site: str) -> None:
        self._leases.pop(site, None)

    async def claim_leader(self, hub: str, seconds: float) -> LeaderLease:
        # One process, one clock: the monotonic one stands for the database's.
        now = time.monotonic()
        holder, ends = self._leader
        if holder in (None, hub) or ends <= now:
            holder, ends = hub, now + seconds
            self._leader = (holder, ends)
        return LeaderLease(holder, ends - now)

    async def release_leader(self, hub: str) -> None:
        if self._leader[0] == hub:
            self._leader = (None, 0.0)

    async def put_relay_request(self, request: RelayRequest, hub: str) -> None:
        now = time.monotonic()
        for key in [k for k, r in self._relayed.items() if r.too_old(now)]:
            del self._relayed[key]
        self._relayed[request.request_id] = _Relayed(request, hub, now)

    async def pending_relay_requests(self, hub: str, limit: int) -> tuple[RelayRequest, ...]:
        now = time.monotonic()
        offered = [
            r
            for r in self._relayed.values()
            if not r.taken_by and r.asker != hub and not r.too_old(now)
        ]
        return tuple(r.request for r in offered[:limit])

    async def take_relay_request(self, request_id: str, hub: str) -> bool:
        relayed = self._relayed.get(request_id)
        if relayed is None or relayed.taken_by is not None:
            return False
        relayed.taken_by = hub
        return True

    async def answer_relay_request(self, request_id: str, answer: RelayAnswer) -> None:
        if relayed := self._relayed.get(request_id):
            relayed.answer = answer

    async def relay_answer(self, request_id: str) -> RelayAnswer | None:
        relayed = self._relayed.get(request_id)
        return None if relayed is None else relayed.answer

    async def delete_relay_request(self, request_id: str) -> None:
        self._relayed.pop(request_id, None)

    async def put_sealed(self, values: SealedValues) -> None:
        if values.id in self._sealed:
            raise AlreadyExists("SealedValues", values.id)
        self._sealed[values.id] = values

    async def get_sealed(self, sealed_id: str) -> SealedValues | None:
        return self._sealed.get(sealed_id)

    async def delete_sealed(
        self, name: str, keep: str | None = None, only: str | None = None
    ) -> int:
        gone = [
            k
            for k, v in self._sealed.items()
            if v.name == name and k != keep and (only is None or k == only)
        ]
        for k in gone:
            del self._sealed[k]
        return len(gone)

    async def replace_sealed(self, values: SealedValues) -> None:
        if values.id in self._sealed:
            self._sealed[values.id] = values

    async def list_sealed(self, after_id: str, limit: int) -> tuple[SealedValues, ...]:
        ids = sorted(k for k in self._sealed if k > after_id)[: max(1, limit)]
        return tuple(self._sealed[k] for k in ids)

    async def put_records(self, records: Sequence[DataRecord]) -> int:
        now, new = time.time(), 0
        for r in records:
            if (key := (r.site, r.epoch, r.seq)) not in self._record_keys:
                self._record_keys.add(key)
                stored = dataclasses.replace(r, received=now, id=len(self._records) + 1)
                self._records.append(stored)
                new += 1
        return new

    async def query_records(self, query: RecordQuery) -> tuple[DataRecord, ...]:
        # ids are positions + 1, so what follows after_id starts there
        found = (r for r in self._records[query.after_id :] if _matches(r, query))
        return tuple(r for _, r in zip(range(max(1, query.limit)), found, strict=False))

    def _stored(self, key: tuple[str, str]) -> Object:
        if key not in self._objects:
            raise NotFound(*key)
        return self._objects[key]

    def _update(self, obj: Object, change: Callable[[Object, Object], Object]) -> Object:
        key = bookkeeping.key_of(obj)
        stored = self._stored(key)
        bookkeeping.check_version(stored, obj)
        new = change(stored, obj)
        if new == stored:
            return copy.deepcopy(stored)
        moved = bookkeeping.moved_from(stored, new)
        return self._commit(key, bookkeeping.stamped(new, self._rv + 1), EventType.MODIFIED, moved)

    def _commit(
        self, key: tuple[str, str], new: Object, type_: EventType, moved: str | None = None
    ) -> Object:
        self._objects[key] = new
        self._record(type_, new, moved)
        return copy.deepcopy(new)

    def _record(self, type_: EventType, obj: Object, moved: str | None = None) -> None:
        self._rv += 1
        self._events.append(WatchEvent(type_, copy.deepcopy(obj), self._rv, previous_site=moved))
        self._notify()

    def _notify(self) -> None:
        # Wake every waiting watcher; later waiters get a fresh event.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


def _wanted(event: WatchEvent, kind: str | None, site: str | None) -> bool:
    if kind is not None and event.object["kind"] != kind:
        return False
    return site is None or site in (bookkeeping.site_of(event.object), event.previous_site)


@dataclasses.dataclass
class _Relayed:
    request: RelayRequest
    asker: str
    created: float
    taken_by: str | None = None
    answer: RelayAnswer | None = None

    def too_old(self, now: float) -> bool:
        return now - self.created > RELAY_MAX_AGE_SECONDS


def _matches(record: DataRecord, query: RecordQuery) -> bool:
    return (
        record.stream == query.stream
        and query.site in (None, record.site)
        and (query.since is None or record.at >= query.since)
        and (query.until is None or record.at < query.until)
    )
