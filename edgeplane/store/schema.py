"""Tables of the SQL backends. Alembic migrations create and evolve them.

* ``objects``: one row per object, its JSON body and the columns queries need;
* ``labels``: one row per label, so label selectors run as indexed SQL;
* ``events``: the watch log, keyed by resourceVersion, each event's size recorded, and
  the site its object is labelled for (and was, when a write moved it), indexed so one
  site's backlog is read alone;
* ``counter``: the single row that hands out resourceVersions (its row lock
  serializes writers, so commit order equals resourceVersion order even with
  several hubs on one PostgreSQL);
* ``meta``: small settings such as the compaction watermark;
* ``tokens``: credentials, the secret kept only as a hash; join tokens also carry
  attributes (JSON) and who used them, once.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

objects = Table(
    "objects",
    metadata,
    Column("kind", String(64), primary_key=True),
    Column("name", String(253), primary_key=True),
    Column("uid", String(36), nullable=False),
    Column("resource_version", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
)

labels = Table(
    "labels",
    metadata,
    Column("kind", String(64), primary_key=True),
    Column("name", String(253), primary_key=True),
    Column("key", String(317), primary_key=True),
    Column("value", String(63), nullable=False),
    # Selector probes match all four columns; see migration 0002.
    Index("ix_labels_kind_key_value_name", "kind", "key", "value", "name"),
)

events = Table(
    "events",
    metadata,
    Column("resource_version", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(64), nullable=False),
    Column("name", String(253), nullable=False),
    Column("type", String(16), nullable=False),
    Column("body", Text, nullable=False),
    # Bytes of ``body``, summed over the index (no bodies read) to bound the log by bytes.
    Column("size", BigInteger, nullable=False, server_default="0"),
    # Label edgeplane.io/site of the object, and the one it had when this write changed it.
    Column("site", String(253), nullable=True),
    Column("previous_site", String(253), nullable=True),
    Index("ix_events_rv_size", "resource_version", "size"),
    Index("ix_events_site_rv", "site", "resource_version"),
    Index("ix_events_previous_site_rv", "previous_site", "resource_version"),
)

counter = Table(
    "counter",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("secret_hash", String(128), nullable=False),
    Column("subject", String(253), nullable=False),
    Column("role", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("attributes", Text, nullable=True),
    Column("used_at", Float, nullable=True),
    Column("used_by", String(253), nullable=True),
)

COMPACTED_KEY = "compacted_resource_version"
