"""``python -m hack.kube up --clusters 3 | down | build``: test control planes by hand."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hack.kube.cluster import HarnessError, build
from hack.kube.fleet import Fleet

DEFAULT_ROOT = Path(".cache/kube-clusters")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.kube")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start N control planes on loopback ports")
    up.add_argument("--clusters", type=int, default=1)
    up.add_argument("--nodes", type=int, default=3)
    up.add_argument("--dir", type=Path, default=DEFAULT_ROOT)
    up.add_argument(
        "--pools",
        default="",
        help="comma-separated node pools: adds a cluster 'central' with --pool-nodes per pool",
    )
    up.add_argument("--pool-nodes", type=int, default=2)
    down = sub.add_parser("down", help="stop the control planes started by 'up'")
    down.add_argument("--dir", type=Path, default=DEFAULT_ROOT)
    sub.add_parser("build", help="build (or reuse) the binaries")
    args = parser.parse_args()
    try:
        if args.command == "build":
            print(build())
        elif args.command == "up":
            started = time.monotonic()
            pools = tuple(p for p in args.pools.split(",") if p)
            clusters = Fleet(args.dir).up(args.clusters, args.nodes, pools, args.pool_nodes)
            print(f"{len(clusters)} cluster(s) up in {time.monotonic() - started:.1f}s")
            state = json.loads((args.dir / "state.json").read_text())
            for cluster in state["clusters"]:
                print(
                    f"  {cluster['name']}: {cluster['server']}  KUBECONFIG={cluster['kubeconfig']}"
                )
            print(f"stop them with: python -m hack.kube down --dir {args.dir}")
        else:
            Fleet(args.dir).down()
            print("down")
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
