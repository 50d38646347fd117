"""Running a hub: open the store, bootstrap the admin token, prepare TLS, serve until
a signal.

The hub serves HTTPS unless told ``--plain-http`` (``edgeplane.hub.tls``). The admin
token is never printed: it is written to ``<data-dir>/admin.token`` (0600) and handed
to ``on_ready``, which the ``edgeplane hub`` command uses to write the CLI context.

On SIGINT/SIGTERM the shutdown event is set first, so open watch streams end
cleanly, then uvicorn stops accepting and finishes in-flight requests, and the store
is closed last.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import sys
from asyncio import sslproto
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import uvicorn

from edgeplane.hub.app import HubSettings, create_app
from edgeplane.hub.artifacts import ArtifactStore
from edgeplane.hub.auth import ADMIN_TOKEN_FILE, bootstrap_admin
from edgeplane.hub.connections import ConnectionGuard, connection_limits, protocol_class
from edgeplane.hub.controllers import run_controllers
from edgeplane.hub.informer import follow
from edgeplane.hub.leadership import Lead, Leadership
from edgeplane.hub.leases import FLUSH_SECONDS, flush_loop
from edgeplane.hub.sharedrelay import SharedRelay
from edgeplane.hub.tls import ServingTls, TlsOptions, is_loopback, prepare
from edgeplane.store.engine import is_sqlite
from edgeplane.store.factory import open_store, sqlite_url
from edgeplane.store.protocol import Store


@dataclass(frozen=True)
class Ready:
    """What the ``edgeplane hub`` command needs to write its CLI context."""

    server: str
    ca_pem: str | None
    new_admin_token: str | None
    """The admin token when this start made it (first start), else None."""


OnReady = Callable[[Ready], None]


class Dashboard(Protocol):
    """A front end the hub serves at ``/ui`` (``edgeplane.web``, wired by ``main``)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

    async def aclose(self) -> None: ...


DashboardFactory = Callable[[str, ssl.SSLContext | bool, asyncio.Event], Dashboard]
"""Makes the dashboard from the hub's own loopback URL, how to verify it, and the
hub's shutdown event."""


class _Server(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, shutdown: asyncio.Event, handshake_seconds: float
    ) -> None:
        super().__init__(config)
        self._shutdown, self._handshake_seconds = shutdown, handshake_seconds

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start, with TLS handshakes bounded like request heads: asyncio
        gives a handshake 60 s and the protocol (with its caps and timeouts) sees a
        connection only once it is done, so silent TLS connections held descriptors
        for a minute each. uvicorn passes no handshake timeout to ``create_server``;
        this hub's loop is asyncio's own, whose ``create_server`` takes one."""
        loop = asyncio.get_running_loop()
        create_server = loop.create_server

        async def bounded(*args: Any, **kwargs: Any) -> asyncio.Server:
            if kwargs.get("ssl") is not None:
                kwargs.setdefault("ssl_handshake_timeout", self._handshake_seconds)
            return await create_server(*args, **kwargs)

        loop.create_server = bounded  # type: ignore[method-assign]
        try:
            await super().startup(sockets)
        finally:
            del loop.create_server  # the loop's own method again

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._shutdown.set()
        super().handle_exit(sig, frame)
        # uvicorn re-raises captured signals after serving, which would kill the
        # process before the store is closed; a hub asked to stop exits 0 instead.
        self._captured_signals.clear()


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError(f"--listen {listen!r}: use HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def _url(host: str, port: int, tls: ServingTls | None) -> str:
    shown = "localhost" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def _self_url(host: str, port: int, tls: ServingTls | None) -> str:
    """Where this hub's own front ends reach its API: its listening socket, by loopback
    when it listens on every address."""
    own = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return _url(own, port, tls)


def _self_verify(tls: ServingTls | None) -> ssl.SSLContext | bool:
    """Trust exactly this hub's own anchor. The name is not checked: the address is the
    hub's own socket, and an operator's certificate may not name a loopback address."""
    if tls is None:
        return True
    context = ssl.create_default_context(cadata=tls.ca_pem)
    context.check_hostname = False
    return context


def _tls_config(tls: ServingTls | None) -> dict[str, Any]:
    """uvicorn's TLS arguments: client certificates are optional, verified when sent."""
    if tls is None:
        return {}
    extra: dict[str, Any] = {"ssl_certfile": str(tls.certfile), "ssl_keyfile": str(tls.keyfile)}
    if tls.client_ca is not None:
        extra |= {"ssl_ca_certs": str(tls.client_ca), "ssl_cert_reqs": ssl.CERT_OPTIONAL}
    return extra


def warn_plain_http(host: str) -> None:
    """A WARNING on stderr when plain HTTP is served beyond this host (quiet on loopback)."""
    if not is_loopback(host):
        print(
            f"WARNING: serving plain HTTP on {host}: tokens and secrets cross the network "
            "unencrypted; drop --plain-http to serve HTTPS",
            file=sys.stderr,
            flush=True,
        )


def _private_dir(path: Path) -> None:
    """The data dir holds the store (every env secret), the admin token and the CA key:
    0700 whatever the umask and whoever made it (mkdir's mode is not applied to a dir that
    exists, so a 0755 one left edgeplane.db 0644, readable by every local user)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError as e:
        print(f"warning: cannot make {path} private (0700): {e}", file=sys.stderr, flush=True)


async def run(
    settings: HubSettings,
    on_ready: OnReady | None = None,
    tls_options: TlsOptions | None = None,
    dashboard: DashboardFactory | None = None,
) -> None:
    host, port = split_listen(settings.listen)
    _private_dir(settings.data_dir)
    tls = prepare(tls_options or TlsOptions(), settings.data_dir, host)
    if tls is None:
        warn_plain_http(host)
    url = settings.database_url or sqlite_url(settings.data_dir)
    store = open_store(
        url,
        event_retention=settings.event_retention,
        event_retention_bytes=settings.limits.event_retention_bytes,
        watch_buffer_bytes=settings.limits.watch_buffer_bytes,
    )
    await store.open()
    try:
        server_url = _url(host, port, tls)
        token = await bootstrap_admin(store, settings.data_dir)
        if token:
            # Never the token itself: stdout ends up in journals and CI logs.
            print(f"admin token written to {settings.data_dir / ADMIN_TOKEN_FILE} (mode 0600)")
        if on_ready:
            on_ready(Ready(server_url, tls.ca_pem if tls else None, token))
        app = create_app(store, settings)
        app.state.tls = tls
        ui = None
        if dashboard is not None:
            ui = dashboard(_self_url(host, port, tls), _self_verify(tls), app.state.shutdown)
            app.mount("/ui", ui)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=10,
            lifespan="off",
            # Agents and CLIs reuse connections; uvicorn's 5 s keep-alive races their
            # reuse and shows up as dropped requests.
            timeout_keep_alive=75,
            # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: any local
            # process then picked its own peer address and slipped the per-peer limits.
            proxy_headers=False,
            # An idle fleet's traffic is mostly heartbeats: no bytes that say nothing.
            server_header=False,
            date_header=False,
            # Head and body read timeouts and the per-peer cap (uvicorn has neither).
            http=protocol_class(
                ConnectionGuard(
                    connection_limits(settings.limits),
                    on_refused=app.state.metrics.connections_refused.inc,
                )
            ),
            **_tls_config(tls),
        )
        server = _Server(config, app.state.shutdown, settings.limits.head_timeout)
        # Controllers run only on the hub holding the leader lease (one hub on SQLite).
        app.state.leadership = leadership = Leadership(
            store,
            app.state.leases.hub_id,  # one name for this hub in both lease tables
            settings.lease_seconds,
            solo=is_sqlite(url),
            registry=app.state.metrics.registry,
        )
        # Every hub flushes its site leases (the leader's health check loads them all);
        # a restarted one starts from what was flushed before it stopped.
        await app.state.leases.load(store)
        flushes = asyncio.create_task(
            flush_loop(app.state.leases, store, app.state.shutdown, FLUSH_SECONDS),
            name="lease-flush",
        )
        sharing = asyncio.create_task(_share_relay(app, store, leadership), name="shared-relay")
        # Every hub keeps the informer (heartbeat answers, explain); the leader's
        # controllers read it.
        informing = asyncio.create_task(app.state.informer.run(app.state.shutdown), name="informer")
        indexing = asyncio.create_task(
            follow(app.state.endpoints, app.state.shutdown), name="endpoints"
        )
        reaching = asyncio.create_task(
            follow(app.state.data_reach, app.state.shutdown), name="data-reach"
        )
        controllers = asyncio.create_task(
            leadership.run(app.state.shutdown, _controllers(store, app, settings)),
            name="leadership",
        )
        print(f"edgeplane hub listening on {server_url}", flush=True)
        try:
            await server.serve()
        finally:
            app.state.shutdown.set()
            await controllers
            await sharing
            await flushes  # the last renewals, flushed after the controllers stopped
            await indexing
            await reaching
            await informing
            await app.state.data_sinks.close()
            if ui is not None:
                await ui.aclose()
    finally:
        await store.close()


async def _share_relay(app: Any, store: Store, leadership: Leadership) -> None:
    """Several hubs: relay requests through the store to whichever hub a site's agent
    is connected to (``hub.sharedrelay``); one hub (SQLite) has nothing to share."""
    if leadership.solo:
        return
    app.state.shared_relay = shared = SharedRelay(app.state.relay, store, leadership.hub_id)
    await shared.serve(app.state.shutdown)


def _controllers(store: Store, app: Any, settings: HubSettings) -> Lead:
    """What this hub does while it leads: the controllers, until ``stop``."""

    async def lead(stop: asyncio.Event) -> None:
        resolve = _resolver(app.state.artifacts)
        offline_after = settings.offline_after_seconds
        await run_controllers(
            store,
            resolve,
            offline_after,
            stop,
            leases=app.state.leases,
            informer=app.state.informer,
            record=app.state.placement_record,
            terms=app.state.health_terms,
            metrics=app.state.metrics,
            autoscale_seconds=settings.autoscale_seconds,
        )

    return lead


def _resolver(artifacts: ArtifactStore) -> Callable[[str, str], str | None]:
    def resolve(name: str, version: str) -> str | None:
        record = artifacts.lookup(name, version)
        return record.sha256 if record else None

    return resolve


TLS_READ_BYTES = 32 * 1024
"""asyncio's TLS read buffer per connection (its default is 256 KiB, zero-filled at once):
a hub holding 10,000 sites' connections held 2.5 GB in buffers alone. A TLS record is
at most 16 KiB, so 32 KiB reads lose nothing but a few loop turns on big uploads."""


def small_tls_buffers() -> None:
    sslproto.SSLProtocol.max_size = TLS_READ_BYTES


def serve(
    settings: HubSettings,
    on_ready: OnReady | None = None,
    tls_options: TlsOptions | None = None,
    dashboard: DashboardFactory | None = None,
) -> None:
    """Run a hub in the foreground until SIGINT or SIGTERM."""
    with contextlib.suppress(KeyboardInterrupt):
        small_tls_buffers()
        asyncio.run(run(settings, on_ready, tls_options, dashboard))
    sys.stdout.flush()
