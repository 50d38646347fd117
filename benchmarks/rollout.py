"""Progressive rollouts on the simulator: controller overhead and rollback time.

A real hub (SQLite, pinned to CPU 0) and ``edgeplane sim`` (``--start-delay 0:0``,
pinned to CPU 1) with ``--sites`` sites in three rings: 10 canaries, 10 % in ``wave1``,
the rest. One ``EverySite`` application rolls out ``groups: [canary, wave-1]`` then the
implicit ``rest`` wave, ``maxUnavailable: 10%``, ``minSuccessSeconds: --soak-seconds``.
Per run (``--runs``):

* ``overhead_s``: a good release, from the PATCH of the workload to ``status.rollout``
  Succeeded, less the soaks (``minSuccessSeconds`` once per wave). Goal <= 10 s.
* ``rollback_issue_s``: a failing release (the simulator's ``EDGEPLANE_SIM_FAIL=1``:
  every start exits 1); from the first watch event of a site reporting it failing to the
  event in which the last Assignment naming it names the stable revision again. Goal
  <= one heartbeat (10 s).

Prints a table and one final JSON line (medians over the runs) with ``overhead_s``,
``rollback_issue_s`` and ``sites`` (those that joined: a site the hub refused six times
while thousands joined at once gives up, is counted and left out). See
``benchmarks/support/rollfleet.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support.hubproc import raise_nofile  # noqa: E402
from benchmarks.support.rollfleet import rollout_bench  # noqa: E402
from benchmarks.support.rolling import median, ring_sizes  # noqa: E402

GOALS = {"overhead_s": 10.0, "rollback_issue_s": 10.0}


def sites(text: str) -> int:
    try:
        count = int(text)
        ring_sizes(count)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: give a site count from 12, e.g. 200") from e
    if count > 50_000:
        raise argparse.ArgumentTypeError(f"{text!r}: give at most 50000")
    return count


def table(result: dict[str, Any], args: argparse.Namespace) -> None:
    rings = result["rings"]
    print(
        f"\nrollouts on the simulator: {result['joined']} of {args.sites} sites joined "
        f"({rings}), soak {args.soak_seconds:g} s"
    )
    head = ["run", "wall s", "waves", "overhead s", "fail->back s", "first back s", "ran bad"]
    print(" ".join(f"{h:>12}" for h in head))
    for n, run in enumerate(result["runs"], 1):
        good, bad = run["good"], run["bad"]
        cells = [n, good["wall_s"], good["waves"], good["overhead_s"]]
        cells += [bad["rollback_issue_s"], bad["first_back_s"], bad["sites_that_ran_bad"]]
        print(" ".join(f"{c!s:>12}" for c in cells))
    print("(overhead: the good release's wall time less minSuccessSeconds per wave;")
    print(" fail->back: first failing report to the last Assignment back at the stable revision)")
    for n, run in enumerate(result["runs"], 1):
        waves = ", ".join(
            f"{w[0]} {w[1]} sites {w[2]} -> {w[3]}" for w in run["good"]["wave_times"]
        )
        print(f"  run {n} waves: {waves}")


def summary(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    runs = result["runs"]
    found = {
        "overhead_s": median([r["good"]["overhead_s"] for r in runs]),
        "rollback_issue_s": median([r["bad"]["rollback_issue_s"] for r in runs]),
        "sites": result["joined"],
    }
    return {
        **found,
        "runs": args.runs,
        "soak_seconds": args.soak_seconds,
        "wall_s": median([r["good"]["wall_s"] for r in runs]),
        "first_back_s": median([r["bad"]["first_back_s"] for r in runs]),
        "max_sites_that_ran_bad": max(r["bad"]["sites_that_ran_bad"] for r in runs),
        "goals": GOALS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=sites, default=10_000, help="Simulated sites (>= 12).")
    parser.add_argument("--runs", type=int, default=3, help="Good and failing releases each.")
    parser.add_argument("--soak-seconds", type=float, default=5.0, help="minSuccessSeconds.")
    parser.add_argument("--within", type=float, default=1800.0, help="Seconds a step may take.")
    parser.add_argument("--join-within", type=float, default=1200.0)
    args = parser.parse_args()
    raise_nofile()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ep-rollout-") as name:
        result = rollout_bench(args, Path(name))
    table(result, args)
    print(f"(whole benchmark: {time.monotonic() - started:.0f} s)")
    print(json.dumps(summary(result, args)))


if __name__ == "__main__":
    main()
