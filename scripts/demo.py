"""`make demo`: a hub on SQLite in ./.edgeplane, with the examples applied.

Starts ``edgeplane hub`` (which writes the CLI context "local" on first start), waits
until it is ready, applies ``examples/``, shows what is there, and keeps the hub running
until Ctrl-C. ``--check`` runs the same steps without waiting and exits 0 only if every
example object is stored in the hub.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from edgeplane.api.kinds import kind_info

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "edgeplane"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the edgeplane demo.")
    parser.add_argument("--check", action="store_true", help="verify and exit, do not wait")
    parser.add_argument("--data-dir", default=str(ROOT / ".edgeplane"))
    parser.add_argument("--listen", default="127.0.0.1:8080")
    return parser.parse_args()


def wait_ready(server: str, hub: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            sys.exit(f"demo: the hub exited with code {hub.returncode} (is {server} in use?)")
        try:
            if httpx.get(f"{server}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sys.exit(f"demo: the hub at {server} did not become ready within {timeout:.0f}s")


def cli(*args: str, env: dict[str, str]) -> None:
    print(f"\n$ edgeplane {' '.join(args)}", flush=True)
    subprocess.run([str(BIN), *args], env=env, check=True)


def expected_objects() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((doc["kind"], doc["metadata"]["name"]))
    return found


def check(server: str, token: str) -> bool:
    missing = []
    for kind, name in expected_objects():
        url = f"{server}/api/v1alpha1/{kind_info(kind).plural}/{name}"
        response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if response.status_code != 200:
            missing.append(f"{kind}/{name} ({response.status_code})")
    if missing:
        print(f"demo check FAILED: missing {', '.join(missing)}")
        return False
    print(f"demo check passed: {len(expected_objects())} example objects stored")
    return True


def main() -> int:
    args = parse_args()
    data_dir = Path(args.data_dir)
    server = f"http://{args.listen}"
    hub = subprocess.Popen([str(BIN), "hub", "--data-dir", str(data_dir), "--listen", args.listen])
    try:
        wait_ready(server, hub)
        token = (data_dir / "admin.token").read_text().strip()
        env = {**os.environ, "EDGEPLANE_SERVER": server, "EDGEPLANE_TOKEN": token}
        cli("apply", "-f", str(ROOT / "examples"), env=env)
        cli("get", "sites", "-o", "wide", env=env)
        cli("get", "applications", env=env)
        if args.check:
            return 0 if check(server, token) else 1
        print(TOUR.format(server=server, data_dir=data_dir), flush=True)
        hub.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)
            hub.wait(timeout=30)


TOUR = """
The hub is running at {server} with its data in {data_dir}.
The CLI context "local" points at it (see `edgeplane config get-contexts`). Try:

  .venv/bin/edgeplane get sites -l region=eu-west
  .venv/bin/edgeplane describe site <name>
  .venv/bin/edgeplane get sites -w          # in another terminal, then apply a change
  curl -s {server}/metrics | head

Press Ctrl-C to stop the hub.
"""

if __name__ == "__main__":
    sys.exit(main())
