"""``python -m edgeplane.hub``: a hub without the CLI (used by tests and benchmarks)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeplane.hub.app import HubSettings
from edgeplane.hub.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m edgeplane.hub")
    parser.add_argument("--data-dir", type=Path, default=Path(".edgeplane"))
    parser.add_argument("--listen", default="127.0.0.1:8080")
    parser.add_argument("--database-url")
    parser.add_argument("--bookmark-seconds", type=float, default=10.0)
    parser.add_argument("--max-body-bytes", type=int, default=1024 * 1024)
    parser.add_argument("--event-retention", type=int, default=100_000)
    parser.add_argument("--max-artifact-bytes", type=int, default=256 * 1024 * 1024)
    parser.add_argument("--offline-after-seconds", type=float, default=40.0)
    args = parser.parse_args()
    serve(
        HubSettings(
            data_dir=args.data_dir,
            listen=args.listen,
            database_url=args.database_url,
            bookmark_seconds=args.bookmark_seconds,
            max_body_bytes=args.max_body_bytes,
            event_retention=args.event_retention,
            max_artifact_bytes=args.max_artifact_bytes,
            offline_after_seconds=args.offline_after_seconds,
        )
    )


if __name__ == "__main__":
    main()
