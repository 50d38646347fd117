"""The uplink at 1 Mbit/s: critical records through saturating bulk, priority vs FIFO.

One real hub process (SQLite, plain HTTP on 127.0.0.1, pinned to CPU 0; this process
pinned to the other CPUs). Each run joins two fresh sites, one for each scheduler, and
drives a real ``Spool`` (a fresh file) and a real ``Uplink`` in this process, whose
batches go to the hub's ``POST /sites/{site}/data`` with the site's credential, within
a budget of ``--rate`` bytes a second (burst: one second's worth, the agent's default):

* load for ``--seconds``: a bulk publisher keeps over 2 MB of 1 KB JSON records in the
  spool; a critical one appends a record every 100 ms; then the uplink drains the
  critical records (at most 30 s) and the hub's records are read back;
* ``critical_p50_ms``, ``critical_p99_ms`` (``fifo_...``: ``fifo=True``, the baseline):
  the hub's ``received`` less the record's publish time. Goal p99 <= 250 ms;
* ``utilisation``: compressed bytes the uplink sent after a 2 s warm-up until the end
  of the load, over the budget for that long. Goal >= 90 %;
* ``lost``: records the spool took that are neither at the hub nor still spooled, over
  every run (goal 0); ``backlog``: still spooled at the end (not lost);
* ``aggregation_ratio``: 100 sensors x 1 reading a second x 10 minutes through
  ``dataplane.aggregation`` (60 s windows by sensor: count, mean, min, max, p95): the
  raw records' bytes on the wire over the summaries', both batched as the uplink does.

With several ``--runs``, figures are medians over runs (``lost``: the sum). Prints a
table and one final JSON line. See ``benchmarks/support/uplinkrun.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support.hubproc import pinned_hub  # noqa: E402
from benchmarks.support.stats import rounded  # noqa: E402
from benchmarks.support.uplinkfigures import (  # noqa: E402
    AGGREGATION,
    Aggregated,
    aggregation_bytes,
    telemetry,
)
from benchmarks.support.uplinkrun import Outcome, prepare, uplink_run  # noqa: E402
from edgeplane.dataplane.bucket import TokenBucket  # noqa: E402
from edgeplane.dataplane.uplink import chunk_bytes  # noqa: E402

GOALS = {"critical_p99_ms": 250.0, "utilisation": 0.9, "lost": 0}
SENSORS, TELEMETRY_SECONDS = 100, 600


def positive(kind: type[float] | type[int]) -> Any:
    def parse(text: str) -> float | int:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r}: give a positive number")
        return value

    return parse


async def bench(url: str, token: str, args: argparse.Namespace, tmp: Path) -> list[Outcome]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60.0) as admin:
        await prepare(admin)
        outcomes = []
        for n in range(1, args.runs + 1):
            for fifo in (False, True):
                site = f"uplink-{n}-{'fifo' if fifo else 'priority'}"
                found = await uplink_run(admin, site, fifo, args.seconds, args.rate, tmp)
                print(f"  run {n} {found.mode}: {brief(found)}", file=sys.stderr, flush=True)
                outcomes.append(found)
    return outcomes


def brief(o: Outcome) -> str:
    return (
        f"p50 {o.p(50):.0f} ms, p99 {o.p(99):.0f} ms, utilisation {o.utilisation:.3f}, "
        f"lost {o.lost}, backlog {o.backlog}, refused {o.refused}, drain {o.drain_s:.1f} s"
    )


def median(values: Sequence[float]) -> float:
    found = [v for v in values if not math.isnan(v)]
    return statistics.median(found) if found else math.nan


def of(outcomes: list[Outcome], mode: str) -> list[Outcome]:
    return [o for o in outcomes if o.mode == mode]


def table(outcomes: list[Outcome], aggregated: Aggregated, args: argparse.Namespace) -> None:
    print(
        f"\nuplink at {args.rate * 8 / 1e6:g} Mbit/s ({args.rate:g} B/s, burst 1 s), "
        f"{args.seconds:g} s of load, {args.runs} run(s); medians over runs"
    )
    head = ["scheduler", "critical", "p50 ms", "p99 ms", "max ms", "undelivered"]
    head += ["utilisation", "sent B/s", "lost", "backlog", "refused", "min spool MB"]
    print(" ".join(f"{h:>12}" for h in head))
    for mode in ("priority", "FIFO"):
        runs = of(outcomes, mode)
        refused = sum(sum(o.refused.values()) for o in runs)
        cells = [
            mode,
            sum(o.critical for o in runs),
            f"{median([o.p(50) for o in runs]):.0f}",
            f"{median([o.p(99) for o in runs]):.0f}",
            f"{max(o.p(100) for o in runs):.0f}",
            sum(o.undelivered for o in runs),
            f"{median([o.utilisation for o in runs]):.3f}",
            f"{median([o.window_bytes_per_s for o in runs]):.0f}",
            sum(o.lost for o in runs),
            f"{median([o.backlog for o in runs]):.0f}",
            refused,
            f"{min(o.min_spooled_bytes for o in runs) / 1e6:.2f}",
        ]
        print(" ".join(f"{c!s:>12}" for c in cells))
    print("(latency: the hub's received less the publish time; utilisation: compressed bytes")
    print(" sent after the 2 s warm-up over the budget; refused: failed sends, by status below)")
    for o in outcomes:
        print(f"  {o.site}: refused {o.refused or {}}, hub dropped {o.dropped or {}}, ", end="")
        print(f"bulk stored {o.bulk_stored} of {o.bulk_appended}, drain {o.drain_s:.1f} s")
    if refusal := next((o.first_refusal for o in outcomes if o.first_refusal), None):
        print(f"  first refusal: {refusal}")
    print(
        f"\naggregation: {aggregated.raw_records} readings -> {aggregated.summaries} summaries; "
        f"on the wire {aggregated.raw_bytes} B -> {aggregated.summary_bytes} B "
        f"({aggregated.ratio:.1f}x; {aggregated.skipped} skipped)"
    )


def summary(
    outcomes: list[Outcome], aggregated: Aggregated, args: argparse.Namespace
) -> dict[str, Any]:
    prio, fifo = of(outcomes, "priority"), of(outcomes, "FIFO")

    def med(runs: list[Outcome], q: float) -> float:
        return median([o.p(q) for o in runs])

    p99, fifo_p99 = med(prio, 99), med(fifo, 99)
    return {
        "critical_p99_ms": rounded(p99),
        "fifo_critical_p99_ms": rounded(fifo_p99),
        "utilisation": rounded(median([o.utilisation for o in prio]), 3),
        "lost": sum(o.lost for o in outcomes),
        "aggregation_ratio": rounded(aggregated.ratio, 1),
        "critical_p50_ms": rounded(med(prio, 50)),
        "fifo_critical_p50_ms": rounded(med(fifo, 50)),
        "fifo_over_priority_p99": rounded(fifo_p99 / p99, 1) if p99 > 0 else None,
        "fifo_utilisation": rounded(median([o.utilisation for o in fifo]), 3),
        "backlog": rounded(median([o.backlog for o in prio]), 0),
        "fifo_backlog": rounded(median([o.backlog for o in fifo]), 0),
        "critical_undelivered": sum(o.undelivered for o in prio),
        "fifo_critical_undelivered": sum(o.undelivered for o in fifo),
        "failed_sends": sum(sum(o.refused.values()) for o in outcomes),
        "rate_bytes_per_s": args.rate,
        "burst_bytes": args.rate,
        "chunk_bytes": chunk_bytes(TokenBucket(args.rate, args.rate)),
        "seconds": args.seconds,
        "runs": args.runs,
        "hub_site_rate": args.hub_site_rate,
        "goals": GOALS,
    }


def pin_self() -> None:
    """Off CPU 0, where the hub runs (when there is another CPU)."""
    cpus = os.sched_getaffinity(0) - {0}
    if cpus:
        os.sched_setaffinity(0, cpus)


def terminated(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)  # unwinds through the hub's context: it is stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=positive(float), default=30.0, help="Load per run.")
    parser.add_argument("--runs", type=positive(int), default=1, help="Runs of both.")
    parser.add_argument("--rate", type=positive(float), default=125_000.0, help="Bytes/s.")
    parser.add_argument(
        "--hub-site-rate",
        type=positive(float),
        default=None,
        help="The hub's --site-rate (requests/s per site); unset: the hub's default.",
    )
    args = parser.parse_args()
    if args.seconds <= 2.0:
        parser.error("--seconds must be over the 2 s warm-up")
    signal.signal(signal.SIGTERM, terminated)
    # A warning per failed send otherwise: the table counts them, and shows the first.
    logging.getLogger("edgeplane.dataplane.uplink").setLevel(logging.ERROR)
    extra = ["--site-rate", str(args.hub_site_rate)] if args.hub_site_rate else []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ep-uplink-") as name:
        tmp = Path(name)
        with pinned_hub(tmp / "hub", *extra, cpu=0) as hub:
            pin_self()
            outcomes = asyncio.run(bench(hub.url, hub.token, args, tmp))
    chunk = chunk_bytes(TokenBucket(args.rate, args.rate))
    aggregated = aggregation_bytes(telemetry(SENSORS, TELEMETRY_SECONDS), AGGREGATION, chunk)
    table(outcomes, aggregated, args)
    print(f"(whole benchmark: {time.monotonic() - started:.0f} s)")
    print(json.dumps(summary(outcomes, aggregated, args)))


if __name__ == "__main__":
    main()
