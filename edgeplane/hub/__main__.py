"""``python -m edgeplane.hub``: a hub without the CLI (used by tests and benchmarks)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgeplane.api.artifacts import limits as artifact_limits
from edgeplane.hub import limits
from edgeplane.hub.app import HubSettings
from edgeplane.hub.datasinks import SinkUrls
from edgeplane.hub.healthterms import DEFAULT_HEARTBEAT_SECONDS
from edgeplane.hub.leadership import LEASE_SECONDS_DEFAULT, check_lease_seconds
from edgeplane.hub.oidc import OidcError, OidcSettings, parse_settings
from edgeplane.hub.server import serve
from edgeplane.hub.tls import TlsError, TlsOptions
from edgeplane.web.app import create_dashboard

HEARTBEAT_SECONDS_MIN, HEARTBEAT_SECONDS_MAX = 0.5, 300.0
"""The bounds of ``--heartbeat-seconds``, as a SiteGroup's ``spec.health`` has them."""


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    """HTTPS by default with the hub's own CA; the operator's certificate, or plain HTTP."""
    parser.add_argument("--tls-cert", type=Path, help="Serve this certificate (PEM chain).")
    parser.add_argument("--tls-key", type=Path, help="The key of --tls-cert.")
    parser.add_argument("--client-ca", type=Path, help="Verify client certificates against this.")
    parser.add_argument(
        "--tls-san", action="append", default=[], help="Extra name or IP of the serving cert."
    )
    parser.add_argument(
        "--plain-http", action="store_true", help="Serve plain HTTP (warns off loopback)."
    )


def tls_options(args: argparse.Namespace) -> TlsOptions:
    return TlsOptions(
        cert=args.tls_cert,
        key=args.tls_key,
        client_ca=args.client_ca,
        sans=tuple(args.tls_san),
        plain_http=args.plain_http,
    )


def add_tuning_arguments(parser: argparse.ArgumentParser) -> None:
    """The hub's timings and limits, shared by ``python -m edgeplane.hub`` and
    ``edgeplane hub`` (which passes what it does not know itself on to these)."""
    add_oidc_arguments(parser)
    parser.add_argument(
        "--secret-keys",
        type=Path,
        help="The keyring Secrets are sealed with (default <data-dir>/secret-keys.json); "
        "hubs sharing a database share it.",
    )
    parser.add_argument("--bookmark-seconds", type=float, default=10.0)
    parser.add_argument("--max-body-bytes", type=int, default=1024 * 1024)
    parser.add_argument("--event-retention", type=int, default=100_000)
    parser.add_argument("--offline-after-seconds", type=float, default=40.0)
    parser.add_argument(
        "--heartbeat-seconds",
        type=_heartbeat_seconds,
        default=DEFAULT_HEARTBEAT_SECONDS,
        help="How often sites heartbeat unless a SiteGroup's spec.health says otherwise "
        "(0.5 to 300 s); the failure detector expects each heartbeat at this period.",
    )
    parser.add_argument(
        "--autoscale-seconds",
        type=_autoscale_seconds,
        default=15.0,
        help="How often autoscaled applications are sized again (1 to 300 s; HPA's 15).",
    )
    parser.add_argument(
        "--lease-seconds",
        type=_lease_seconds,
        default=LEASE_SECONDS_DEFAULT,
        help="The leader lease of hubs sharing one PostgreSQL (3 to 300 s).",
    )
    parser.add_argument(
        "--nats-url",
        default=None,
        help="A NATS server with JetStream for DataStreams with sink type nats "
        "(nats://host:port); without it such streams are refused.",
    )
    parser.add_argument(
        "--mqtt-url",
        default=None,
        help="An MQTT broker for DataStreams with sink type mqtt (mqtt://host:port).",
    )
    limits.add_arguments(parser)


def add_oidc_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--oidc-issuer", help="Accept OIDC bearer tokens of this issuer.")
    parser.add_argument("--oidc-audience", help="The audience (client id) they must name.")
    parser.add_argument(
        "--oidc-role",
        action="append",
        default=[],
        metavar="GROUP=ROLE",
        help="Members of GROUP get ROLE (viewer, operator, admin); repeat for each group.",
    )
    parser.add_argument("--oidc-groups-claim", default="groups")
    parser.add_argument("--oidc-subject-claim", default="sub")


def oidc_settings(args: argparse.Namespace) -> OidcSettings | None:
    """The OIDC flags, checked (``OidcError`` naming the flag), or None without an issuer."""
    if not args.oidc_issuer:
        if args.oidc_audience or args.oidc_role:
            raise OidcError("--oidc-audience and --oidc-role need --oidc-issuer")
        return None
    return parse_settings(
        args.oidc_issuer,
        args.oidc_audience,
        args.oidc_role,
        args.oidc_groups_claim,
        args.oidc_subject_claim,
    )


def tuning(args: argparse.Namespace) -> dict[str, Any]:
    """The ``HubSettings`` fields of ``add_tuning_arguments``' flags (``OidcError`` for
    bad OIDC flags)."""
    return {
        "oidc": oidc_settings(args),
        "secret_keys": args.secret_keys,
        "bookmark_seconds": args.bookmark_seconds,
        "max_body_bytes": args.max_body_bytes,
        "event_retention": args.event_retention,
        "offline_after_seconds": args.offline_after_seconds,
        "heartbeat_seconds": args.heartbeat_seconds,
        "lease_seconds": args.lease_seconds,
        "autoscale_seconds": args.autoscale_seconds,
        "limits": limits.from_arguments(args),
        "sinks": SinkUrls(args.nats_url, args.mqtt_url),
    }


def _autoscale_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 1.0 <= seconds <= 300.0:
        raise argparse.ArgumentTypeError(f"{text!r}: use 1 to 300 seconds, e.g. 15")
    return seconds


def _lease_seconds(text: str) -> float:
    try:
        return check_lease_seconds(float(text))
    except ValueError as e:
        why = str(e) if "use" in str(e) else "not a number of seconds: use 3 to 300, e.g. 15"
        raise argparse.ArgumentTypeError(f"{text!r}: {why}") from e


def _heartbeat_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not HEARTBEAT_SECONDS_MIN <= seconds <= HEARTBEAT_SECONDS_MAX:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a heartbeat period is {HEARTBEAT_SECONDS_MIN:g} to "
            f"{HEARTBEAT_SECONDS_MAX:g} seconds, e.g. 10"
        )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m edgeplane.hub")
    parser.add_argument("--data-dir", type=Path, default=Path(".edgeplane"))
    parser.add_argument("--listen", default="127.0.0.1:8080")
    parser.add_argument("--database-url")
    parser.add_argument(
        "--audit-log",
        type=Path,
        help="The audit log's file (default <data-dir>/audit.log; `edgeplane audit verify`).",
    )
    parser.add_argument(
        "--no-audit-log", action="store_true", help="Keep no audit log (not for production)."
    )
    parser.add_argument("--max-artifact-bytes", type=int, default=256 * 1024 * 1024)
    add_tls_arguments(parser)
    add_tuning_arguments(parser)
    artifact_limits.add_arguments(parser)
    parser.add_argument(
        "--no-dashboard", action="store_true", help="Do not serve the web dashboard at /ui."
    )
    args = parser.parse_args()
    try:
        _serve(args)
    except TlsError as e:
        parser.exit(1, f"error: {e}\n")
    except OidcError as e:
        parser.exit(2, f"error: {e}\n")


def _serve(args: argparse.Namespace) -> None:
    serve(
        HubSettings(
            data_dir=args.data_dir,
            listen=args.listen,
            database_url=args.database_url,
            audit_log=None if args.no_audit_log else args.audit_log or args.data_dir / "audit.log",
            max_artifact_bytes=args.max_artifact_bytes,
            artifact_limits=artifact_limits.from_arguments(args),
            **tuning(args),
        ),
        tls_options=tls_options(args),
        # A composition root, as edgeplane.main: the dashboard reaches the hub over HTTP.
        dashboard=None if args.no_dashboard else create_dashboard,
    )


if __name__ == "__main__":
    main()
