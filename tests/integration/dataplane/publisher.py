"""A workload that publishes numbered records to its agent, as an edge workload would.

``publisher.py LEDGER STREAM COUNT [PER_REQUEST [PAUSE [PAD]]]``: sends records
``{"n": i, "pad": "xxx…"}`` (PAD bytes of padding, none by default)
for i from where the ledger ends up to COUNT, PER_REQUEST at a time (JSON lines), a
request every PAUSE seconds at most (0.05 by default: a sensor's pace, not a flood), to
``$EDGEPLANE_DATA_URL/v1/streams/STREAM`` with ``$EDGEPLANE_DATA_TOKEN``. Only a 201
counts: then the numbers are appended to LEDGER (fsynced), so the ledger holds exactly
the records the agent acknowledged. Anything else (the agent down, a 429) is tried
again after a moment; a refusal's status and reason go to ``LEDGER.refused``. Exits
0 once COUNT records were acknowledged, then idles.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def acknowledged(ledger: Path) -> int:
    try:
        return len(ledger.read_text().split())
    except FileNotFoundError:
        return 0


def publish(url: str, token: str, numbers: range, refused: Path, pad: int) -> bool:
    padding = "x" * pad
    body = "".join(json.dumps({"n": n, "pad": padding}) + "\n" for n in numbers).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return bool(answer.status == 201)
    except urllib.error.HTTPError as e:
        with refused.open("a") as f:  # what the agent said, for the test to read
            f.write(f"{e.code} {json.loads(e.read()).get('reason')}\n")
        return False
    except (urllib.error.URLError, OSError):
        return False


def main() -> None:
    ledger, stream, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    per_request = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    pause = float(sys.argv[5]) if len(sys.argv) > 5 else 0.05
    pad = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    refused = ledger.with_name(f"{ledger.name}.refused")
    url = f"{os.environ['EDGEPLANE_DATA_URL']}/v1/streams/{stream}"
    token = os.environ["EDGEPLANE_DATA_TOKEN"]
    n = acknowledged(ledger)
    while n < count:
        numbers = range(n, min(n + per_request, count))
        if publish(url, token, numbers, refused, pad):
            with ledger.open("a") as f:
                f.write("".join(f"{i}\n" for i in numbers))
                f.flush()
                os.fsync(f.fileno())
            n = numbers.stop
            time.sleep(pause)
        else:
            time.sleep(0.2)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
