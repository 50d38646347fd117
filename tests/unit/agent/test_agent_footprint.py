"""The agent must stay small: importing it loads no pydantic and no web stack."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pydantic", "pydantic_core", "fastapi", "sqlalchemy", "starlette", "uvicorn")


def test_the_agent_loads_no_heavy_packages() -> None:
    code = (
        "import sys, edgeplane.agent.agent, edgeplane.agent.artifacts, "
        "edgeplane.agent.runtimes.process\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == ""
