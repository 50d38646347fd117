"""render, readiness, nodes and fields are pure: importing them loads no I/O, no event
loop and no pydantic (the agent must stay small, and these run inside its loop)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = ("render", "readiness", "nodes", "fields")
FORBIDDEN = ("asyncio", "httpx", "socket", "ssl", "pydantic", "pydantic_core", "subprocess")


@pytest.mark.parametrize("module", PURE, ids=PURE)
def test_imports_nothing_that_does_io(module: str) -> None:
    probe = (
        "import sys\n"
        f"import edgeplane.agent.runtimes.kubernetes.{module}\n"
        f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout
