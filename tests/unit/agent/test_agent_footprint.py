"""The agent must stay small: importing it loads no pydantic and no web stack, and a
process-mode agent loads nothing of the Kubernetes runtime."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pydantic", "pydantic_core", "fastapi", "sqlalchemy", "starlette", "uvicorn")
KUBERNETES = "edgeplane.agent.runtimes.kubernetes"


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


def test_a_process_agent_loads_no_kubernetes_code() -> None:
    """Its flags parsed and settings made as `edgeplane agent` does, nothing of the
    kubernetes runtime is in sys.modules."""
    code = (
        "import sys\n"
        "from edgeplane.agent.__main__ import parser, settings_from\n"
        "args = parser().parse_args(['--data-dir', '/nonexistent'])\n"
        "settings = settings_from(args)\n"
        "assert settings.kube is None\n"
        f"print(','.join(m for m in sys.modules if m.startswith({KUBERNETES!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == ""
