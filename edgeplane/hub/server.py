"""Running a hub: open the store, bootstrap the admin token, serve until a signal.

On SIGINT/SIGTERM the shutdown event is set first, so open watch streams end
cleanly, then uvicorn stops accepting and finishes in-flight requests, and the store
is closed last.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn

from edgeplane.hub.app import HubSettings, create_app
from edgeplane.hub.artifacts import ArtifactStore
from edgeplane.hub.auth import bootstrap_admin
from edgeplane.hub.controllers import run_controllers
from edgeplane.store.factory import open_store, sqlite_url

OnAdminToken = Callable[[str, str], None]


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, shutdown: asyncio.Event) -> None:
        super().__init__(config)
        self._shutdown = shutdown

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._shutdown.set()
        super().handle_exit(sig, frame)
        # uvicorn re-raises captured signals after serving, which would kill the
        # process before the store is closed; a hub asked to stop exits 0 instead.
        self._captured_signals.clear()


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen {listen!r}: use HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


async def run(settings: HubSettings, on_admin_token: OnAdminToken | None = None) -> None:
    host, port = split_listen(settings.listen)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = open_store(
        settings.database_url or sqlite_url(settings.data_dir),
        event_retention=settings.event_retention,
    )
    await store.open()
    try:
        server_url = f"http://{settings.listen}"
        if token := await bootstrap_admin(store, settings.data_dir):
            print(f"admin token (shown once, kept in {settings.data_dir}/admin.token): {token}")
            if on_admin_token:
                on_admin_token(token, server_url)
        app = create_app(store, settings)
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
        )
        server = _Server(config, app.state.shutdown)
        controllers = asyncio.create_task(
            run_controllers(
                store,
                _resolver(app.state.artifacts),
                settings.offline_after_seconds,
                app.state.shutdown,
            )
        )
        print(f"edgeplane hub listening on {server_url}", flush=True)
        try:
            await server.serve()
        finally:
            app.state.shutdown.set()
            await controllers
    finally:
        await store.close()


def _resolver(artifacts: ArtifactStore) -> Callable[[str, str], str | None]:
    def resolve(name: str, version: str) -> str | None:
        record = artifacts.lookup(name, version)
        return record.sha256 if record else None

    return resolve


def serve(settings: HubSettings, on_admin_token: OnAdminToken | None = None) -> None:
    """Run a hub in the foreground until SIGINT or SIGTERM."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings, on_admin_token))
    sys.stdout.flush()
