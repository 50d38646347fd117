"""The ``Store`` protocol every backend implements, and the values it returns.

Objects are JSON-shaped dicts (``apiVersion``, ``kind``, ``metadata``, ``spec``,
``status``). The store owns these ``metadata`` fields and overwrites what callers send:

* ``uid`` and ``creationTimestamp`` (RFC 3339, UTC) are set on create and kept after;
* ``resourceVersion`` is a decimal string taken from one global counter: every write,
  of any kind, gets a new and strictly greater value, and watchers see events in
  that order;
* ``generation`` starts at 1 and grows by one when ``spec`` changes, not on status,
  label or annotation changes.

A write that changes nothing stores nothing and returns the stored object.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from edgeplane.api.selectors import Selector
from edgeplane.api.wire import Object as Object  # re-exported: controllers.health imports it


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True)
class WatchEvent:
    type: EventType
    object: Object
    resource_version: int
    size: int = 0
    """Bytes of the stored event (its JSON), what buffering it costs; 0 when unknown."""
    previous_site: str | None = None
    """The site (label ``edgeplane.io/site``) the object was for before this write, when
    the write changed it: that site's watchers are told too, so they learn it left."""


@dataclass(frozen=True)
class ListResult:
    items: list[Object]
    resource_version: int
    continue_token: str | None


@dataclass(frozen=True)
class TokenRecord:
    """A credential, stored by id with only a hash of its secret."""

    token_id: str
    secret_hash: str
    subject: str
    role: str
    created_at: float
    expires_at: float | None = None
    attributes: str | None = None
    """Free-form JSON the role needs (a join token's site labels)."""
    used_at: float | None = None
    used_by: str | None = None
    """Single-use tokens: when, and by whom, the token was used."""


@dataclass(frozen=True)
class SealedValues:
    """A Secret's values, encrypted by the hub (``hub.sealing``): never an object, so
    no list, watch or event ever carries them. ``id`` is what the Secret's
    ``spec.sealed`` names; rows of earlier writes are removed once the Secret moved on."""

    id: str
    name: str
    key_id: str
    nonce: bytes
    ciphertext: bytes
    created_at: float


@dataclass(frozen=True)
class LeaderLease:
    """Who runs the controllers of the hubs sharing this store, and for how long yet."""

    holder: str | None
    """The hub that claimed the lease last; None when nobody holds it."""
    seconds_left: float
    """Until the lease ends, by the database's clock; 0 or less once it has ended."""

    def held_by(self, hub: str) -> bool:
        return self.holder == hub and self.seconds_left > 0


@dataclass(frozen=True)
class RelayRequest:
    """A request for a site's agent, queued for whichever hub the agent is connected to."""

    request_id: str
    site: str
    body: str
    """The request as JSON (what the agent gets)."""


@dataclass(frozen=True)
class RelayAnswer:
    text: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DataRecord:
    """A record a site sent home, as the hub's own sink keeps it. ``(site, epoch, seq)``
    names it for good (the site's spool); ``id`` is the order the hub stored it in."""

    site: str
    epoch: str
    seq: int
    stream: str
    at: float
    priority: int
    body: bytes
    received: float = 0.0
    id: int = 0


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Which stored records to read: one stream, optionally one site, ``at`` from
    ``since`` (inclusive) to ``until`` (exclusive), stored after ``after_id``."""

    stream: str
    site: str | None = None
    since: float | None = None
    until: float | None = None
    after_id: int = 0
    limit: int = 1000


class Store(Protocol):
    async def open(self) -> None:
        """Connect and bring the schema to the newest migration."""

    async def close(self) -> None:
        """Release connections and end every open watch."""

    async def create(self, obj: Object) -> Object:
        """Store a new object; AlreadyExists when ``kind``/``metadata.name`` is taken."""

    async def get(self, kind: str, name: str) -> Object:
        """The stored object; NotFound when absent."""

    async def list(
        self,
        kind: str,
        selector: Selector | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        """Objects of a kind ordered by name, filtered by labels, one page at a time.

        ``continue_token`` comes from the previous page; a token the store did not
        issue raises ``ValueError``.
        """

    async def replace(self, obj: Object) -> Object:
        """Replace metadata (labels, annotations) and spec, keeping the stored status.

        When ``metadata.resourceVersion`` is given and is not the current one, raises
        Conflict. NotFound when absent.
        """

    async def replace_status(self, obj: Object) -> Object:
        """Replace status only; same resourceVersion check as ``replace``."""

    async def delete(self, kind: str, name: str, resource_version: str | None = None) -> Object:
        """Delete and return the last state; Conflict on a stale resourceVersion."""

    def watch(
        self, kind: str | None, since: int, *, site: str | None = None
    ) -> AsyncIterator[WatchEvent]:
        """Events with resourceVersion > ``since``, in order, for one kind or all.

        With ``site``, only events of objects labelled ``edgeplane.io/site`` = ``site``,
        or that were until this event (``previous_site``): routed by that label, so a
        watch per site costs the others nothing.

        Raises Gone (on first iteration) when ``since`` is older than the log retains,
        and again later if the watcher falls so far behind that events were dropped.
        The iterator ends when the store closes.
        """

    async def compacted_resource_version(self) -> int:
        """Watches must start at or after this resourceVersion; older ones are Gone."""

    async def current_resource_version(self) -> int:
        """The resourceVersion of the newest write."""

    async def counts(self) -> dict[str, int]:
        """Number of stored objects per kind (for metrics)."""

    async def put_token(self, record: TokenRecord) -> None:
        """Store a credential record (replacing one with the same id)."""

    async def get_token(self, token_id: str) -> TokenRecord | None:
        """The credential with this id, or None."""

    async def delete_token(self, token_id: str) -> None:
        """Remove a credential; removing an absent one is not an error."""

    async def list_tokens(
        self, limit: int, role: str | None = None, subject: str | None = None
    ) -> tuple[TokenRecord, ...]:
        """Up to ``limit`` credentials, oldest first (for ``edgeplane token list``); only
        those of ``role`` and ``subject`` when given."""

    async def delete_tokens_of(self, subject: str, role: str) -> int:
        """Remove every credential of ``subject`` in ``role``; how many there were."""

    async def use_token(self, token_id: str, used_by: str, at: float) -> bool:
        """Mark a single-use token used, atomically: True for the one caller that did,
        False when it was used already or is absent."""

    async def release_token(self, token_id: str) -> None:
        """Make a used token unused again (its use failed before taking effect)."""

    async def put_leases(self, leases: Mapping[str, float], hub: str) -> None:
        """Store site lease renewals (unix seconds, ``hub``'s clock), one batch: a site's
        stored ``renewed_at`` only ever grows (the newest renewal of any hub wins). Writes
        no object, no event, no resourceVersion."""

    async def get_leases(self, other_than: str | None = None) -> dict[str, float]:
        """Every stored lease renewal by site name; with ``other_than``, only those a
        hub of another name flushed last (a hub knows its own renewals already)."""

    async def delete_lease(self, site: str) -> None:
        """Forget a site's lease (the site is deleted); an absent one is not an error."""

    async def claim_leader(self, hub: str, seconds: float) -> LeaderLease:
        """Take the leader lease for ``seconds``, by the database's clock, when it is free,
        has ended or is ``hub``'s own (a renewal); the lease as it stands after, which
        another hub holds when the claim was refused."""

    async def release_leader(self, hub: str) -> None:
        """Free the leader lease if ``hub`` holds it (a hub stopping cleanly hands over
        at once instead of after a lease period)."""

    async def put_relay_request(self, request: RelayRequest, hub: str) -> None:
        """Queue a request asked of ``hub`` for the hub its site's agent is connected to."""

    async def pending_relay_requests(self, hub: str, limit: int) -> tuple[RelayRequest, ...]:
        """Up to ``limit`` requests nobody took yet, asked of other hubs than ``hub``,
        oldest first, none older than a minute."""

    async def take_relay_request(self, request_id: str, hub: str) -> bool:
        """Take a request to relay it, atomically: True for the one hub that did."""

    async def answer_relay_request(self, request_id: str, answer: RelayAnswer) -> None:
        """Store the agent's answer for the asker (nothing when it is gone)."""

    async def relay_answer(self, request_id: str) -> RelayAnswer | None:
        """The answer once there is one, else None."""

    async def delete_relay_request(self, request_id: str) -> None:
        """Remove a request and its answer (the asker is done with it)."""

    async def put_sealed(self, values: SealedValues) -> None:
        """Store a Secret's sealed values under a new ``id`` (an id used already is
        ``AlreadyExists``)."""

    async def get_sealed(self, sealed_id: str) -> SealedValues | None:
        """The sealed values with this id, or None."""

    async def delete_sealed(
        self, name: str, keep: str | None = None, only: str | None = None
    ) -> int:
        """Remove the Secret ``name``'s sealed values: all but ``keep``, or ``only`` that
        one; how many."""

    async def replace_sealed(self, values: SealedValues) -> None:
        """Store the row ``values.id`` sealed again (key rotation); absent: nothing."""

    async def list_sealed(self, after_id: str, limit: int) -> tuple[SealedValues, ...]:
        """Up to ``limit`` sealed values with ids after ``after_id``, by id (rotation)."""

    async def put_records(self, records: Sequence[DataRecord]) -> int:
        """Store records a site sent, in one transaction; one already stored (same site,
        epoch and seq: a retry) is left as it is. How many were new."""

    async def query_records(self, query: RecordQuery) -> tuple[DataRecord, ...]:
        """Stored records by ``query``, in the order they were stored (by ``id``)."""
