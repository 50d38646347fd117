"""``python -m edgeplane.agent``: the site agent as its own small process.

``edgeplane agent`` executes this module, so that the agent does not carry the CLI's
libraries in its memory. Exit codes: 0 stopped by a signal, 1 failed (joining refused,
bad flags), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

# httpx imports its command line (click, rich, pygments: about 10 MB) whenever those
# are installed, as they are beside edgeplane's CLI. The agent never uses it; a None
# entry makes that optional import fail quietly, as it does where they are missing.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from edgeplane.agent.agent import Agent, AgentSettings, KubeOptions  # noqa: E402
from edgeplane.agent.artifacts import MAX_ARTIFACT_BYTES  # noqa: E402
from edgeplane.agent.data import DEFAULT_SPOOL_MAX_BYTES, REPORT_SECONDS  # noqa: E402
from edgeplane.agent.errors import AgentError  # noqa: E402
from edgeplane.agent.inventory import MAX_INSTANCES  # noqa: E402
from edgeplane.agent.metering import METRICS_SECONDS  # noqa: E402
from edgeplane.agent.naming import LocalDns  # noqa: E402
from edgeplane.agent.pinning import read_join_token  # noqa: E402
from edgeplane.agent.runtimes.factory import CHOICES, check_kinds  # noqa: E402
from edgeplane.api.artifacts import limits as artifact_limits  # noqa: E402
from edgeplane.api.labels import check_dns1123_subdomain, parse_label_pairs  # noqa: E402
from edgeplane.api.quantity import Quantity, QuantityError  # noqa: E402
from edgeplane.dataplane.spool import DEFAULT_RESERVE_BYTES  # noqa: E402


def _quantity(text: str) -> str:
    try:
        Quantity.parse(text)
    except QuantityError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from e
    return text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeplane agent", description="Run a site agent.")
    p.add_argument("--data-dir", type=Path, required=True, help="The site's own directory.")
    p.add_argument(
        "--workload-dir",
        type=Path,
        help="Artifacts and workloads' working directories, outside the data dir "
        "(default: <data-dir>-workloads).",
    )
    p.add_argument("--hub", help="The hub's URL (needed to join; remembered after).")
    p.add_argument(
        "--join-token-file",
        type=Path,
        help="A file holding a join token from `edgeplane site token` (first start; or set "
        "EDGEPLANE_JOIN_TOKEN).",
    )
    # Refused rather than unknown, to say why: argv is readable in /proc/<pid>/cmdline.
    p.add_argument("--join", help=argparse.SUPPRESS)
    p.add_argument("--name", help="The site's name (first start).")
    p.add_argument("--labels", default="", help="Extra site labels, k=v,k2=v2.")
    p.add_argument("--cpu", type=_quantity, help="CPU to offer (default: the host's).")
    p.add_argument("--memory", type=_quantity, help="Memory to offer (default: the host's).")
    p.add_argument("--address", default="127.0.0.1", help="Address workloads are reached at.")
    p.add_argument("--heartbeat-seconds", type=float, default=10.0)
    p.add_argument(
        "--hub-protocol",
        choices=("v1", "v2"),
        default="v2",
        help="v2 (default): heartbeats to the heartbeat route and one stream carrying "
        "assignments, requests and bookmarks; v1: status heartbeats, an assignment watch "
        "and a request long poll. v2 falls back to v1 per feature on an older hub.",
    )
    p.add_argument(
        "--stop-workloads-on-exit",
        action="store_true",
        help="Stop workloads when the agent stops (default: they keep running).",
    )
    p.add_argument(
        "--max-artifact-bytes",
        type=int,
        default=MAX_ARTIFACT_BYTES,
        help="The largest artifact download (as the hub's flag of the same name).",
    )
    p.add_argument(
        "--max-instances",
        type=_positive_int,
        default=MAX_INSTANCES,
        help="Instances the site runs at most, of all its assignments.",
    )
    p.add_argument(
        "--data-port",
        type=_port,
        default=None,
        help="The loopback port workloads publish records to (default: the one used last, "
        "else any free one); workloads find it in EDGEPLANE_DATA_URL.",
    )
    p.add_argument(
        "--spool-max-bytes",
        type=_byte_count,
        default=DEFAULT_SPOOL_MAX_BYTES,
        help="Disk the record spool may use; past it, records of lower priority make room "
        "for higher, and publishers get 429 (default 1 GiB).",
    )
    p.add_argument(
        "--spool-reserve-bytes",
        type=_byte_count,
        default=DEFAULT_RESERVE_BYTES,
        help="Disk space the spool always leaves free (default 64 MiB): past it, records "
        "of lower priority make room for higher, and publishers get 429 disk-full.",
    )
    p.add_argument(
        "--mqtt-broker",
        type=_mqtt_url,
        default=None,
        help="The site's own MQTT broker (mqtt://host:port): the agent takes the messages "
        "of DataStreams with spec.mqtt.topic there, acknowledging each once it is spooled.",
    )
    p.add_argument(
        "--data-report-seconds",
        type=_report_seconds,
        default=REPORT_SECONDS,
        help="How often the site's data figures (backlog, rates, drops) are taken for "
        "its status (1 to 3600 s; default 30: at most one status write that often).",
    )
    p.add_argument(
        "--metrics-seconds",
        type=_metrics_seconds,
        default=METRICS_SECONDS,
        help="How often the metrics autoscaled applications name (cpu, and those their "
        "workloads report) are sampled for their assignments' status (1 to 300 s; "
        "default 15: at most one status write that often per assignment).",
    )
    p.add_argument(
        "--dns-listen",
        type=_dns_listen,
        default=None,
        help="Answer DNS for the fleet's applications at IP:PORT (UDP and TCP), this "
        "site's instances first, also while the hub is away (with --dns-zone).",
    )
    p.add_argument("--dns-zone", type=_dns_zone, default=None, help="The zone: <app>.<zone>.")
    p.add_argument(
        "--dns-ttl", type=_dns_ttl, default=5, help="Seconds answers may be cached (1 to 3600)."
    )
    artifact_limits.add_arguments(p)
    _kubernetes_arguments(p)
    p.add_argument("--log-level", default="INFO")
    return p


def _kubernetes_arguments(p: argparse.ArgumentParser) -> None:
    k = p.add_argument_group("kubernetes runtime")
    k.add_argument(
        "--runtime",
        type=_runtimes,
        default=("process",),
        help="What runs workloads: process (supervised processes on this host), kubernetes "
        "(a cluster, or a node pool of one, the agent applies manifests to), or both: "
        "process,kubernetes.",
    )
    k.add_argument(
        "--kubeconfig",
        type=Path,
        help="The cluster's kubeconfig (default: in-cluster config when the agent runs as "
        "a pod, else $KUBECONFIG).",
    )
    k.add_argument("--kube-context", help="The kubeconfig's context (default: its current).")
    k.add_argument(
        "--node-pool",
        metavar="KEY=VALUE",
        help="The node label selecting this site's nodes of a central cluster: the site "
        "is that pool (one agent per pool).",
    )
    k.add_argument(
        "--kube-poll-seconds",
        type=_poll_seconds,
        default=2.0,
        help="How often the agent reads back what it applied (default 2).",
    )


def _runtimes(text: str) -> tuple[str, ...]:
    """``process``, ``kubernetes``, or both comma-separated (the first is the site's
    ``inventory.runtime``): what the runtime factory has builders for."""
    try:
        return check_kinds(text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give {CHOICES}") from None


def _poll_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.2 <= value <= 300:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds from 0.2 to 300")
    return value


def _kube_options(args: argparse.Namespace) -> KubeOptions | None:
    """The Kubernetes flags, refused with the fix when given to a process agent."""
    given = [f for f in ("kubeconfig", "kube_context", "node_pool") if getattr(args, f)]
    if "kubernetes" not in args.runtime:
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise ValueError(f"{flag} needs --runtime kubernetes (or process,kubernetes)")
        return None
    if (args.cpu or args.memory) and "process" not in args.runtime:
        raise ValueError(
            "--cpu and --memory are the process runtime's: a kubernetes site's capacity "
            "comes from its nodes; drop them (or run both: --runtime process,kubernetes)"
        )
    # Imported only here: a process agent loads nothing of the Kubernetes runtime.
    from edgeplane.agent.runtimes.kubernetes.pool import parse_node_pool

    pool = parse_node_pool(args.node_pool) if args.node_pool else None
    return KubeOptions(args.kubeconfig, args.kube_context, pool, args.kube_poll_seconds)


def _positive_int(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= 1_000_000:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number from 1 to 1000000")
    return int(text)


def _byte_count(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 << 20 <= int(text) <= 1 << 40:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a number of bytes from 1048576 (1 MiB) to 1099511627776 (1 TiB)"
        )
    return int(text)


def _seconds(low: float, high: float, example: int) -> Callable[[str], float]:
    """An argparse type: seconds from ``low`` to ``high``."""

    def seconds(text: str) -> float:
        try:
            found = float(text)
        except ValueError:
            found = float("nan")
        if not low <= found <= high:
            raise argparse.ArgumentTypeError(
                f"{text!r}: give seconds from {low:g} to {high:g}, e.g. {example}"
            )
        return found

    return seconds


_report_seconds = _seconds(1, 3600, 30)
_metrics_seconds = _seconds(1, 300, 15)


def _dns_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise argparse.ArgumentTypeError(f"{text!r}: give IP:PORT, e.g. 127.0.0.1:5353")
    return host, number


def _dns_zone(text: str) -> str:
    zone = text.rstrip(".").lower()
    if problem := check_dns1123_subdomain(zone):
        raise argparse.ArgumentTypeError(f"{text!r}: a zone {problem}")
    return zone


def _dns_ttl(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds from 1 to 3600, e.g. 5")
    return int(text)


def _dns(args: argparse.Namespace) -> LocalDns | None:
    if (args.dns_listen is None) != (args.dns_zone is None):
        raise ValueError("--dns-listen and --dns-zone go together: give both, or neither")
    if args.dns_listen is None:
        return None
    host, port = args.dns_listen
    return LocalDns(args.dns_zone, host, port, args.dns_ttl)


def _mqtt_url(text: str) -> str:
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "mqtt" or not parts.hostname or port == -1 or parts.path not in ("", "/"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give mqtt://host:port, e.g. mqtt://127.0.0.1:1883"
        )
    return text


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r}: give a port from 1 to 65535")
    return int(text)


def _join_token(args: argparse.Namespace) -> str | None:
    if args.join is not None:
        raise ValueError(
            "--join TOKEN is no longer accepted: every user of the host can read a command "
            "line; put the token in a file for --join-token-file, or in EDGEPLANE_JOIN_TOKEN"
        )
    return read_join_token(args.join_token_file, os.environ)


def settings_from(args: argparse.Namespace) -> AgentSettings:
    return AgentSettings(
        data_dir=args.data_dir,
        workload_dir=args.workload_dir,
        hub=args.hub,
        join_token=_join_token(args),
        site=args.name,
        labels=parse_label_pairs(args.labels),
        cpu=args.cpu,
        memory=args.memory,
        address=args.address,
        heartbeat_seconds=args.heartbeat_seconds,
        hub_protocol=args.hub_protocol,
        stop_workloads_on_exit=args.stop_workloads_on_exit,
        artifact_limits=artifact_limits.from_arguments(args),
        max_artifact_bytes=args.max_artifact_bytes,
        max_instances=args.max_instances,
        data_port=args.data_port,
        spool_max_bytes=args.spool_max_bytes,
        data_report_seconds=args.data_report_seconds,
        metrics_seconds=args.metrics_seconds,
        dns=_dns(args),
        spool_reserve_bytes=args.spool_reserve_bytes,
        mqtt_broker=args.mqtt_broker,
        kube=_kube_options(args),
        runtimes=args.runtime,
    )


async def _run(settings: AgentSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Agent(settings).run(stop)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per request (heartbeats every few seconds) drowns what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        asyncio.run(_run(settings_from(args)))
    except ValueError as e:
        p.error(str(e))
    except AgentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
