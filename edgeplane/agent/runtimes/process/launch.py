"""Turning a ``process`` workload (wire dict) into an argv, an environment, a working
directory and ports, and spawning it detached from the agent.

Everything but ``spawn`` and ``free_port`` is pure, so the rules (``$(VAR)``, port and
artifact variable names, defaults) are tested as tables. Supervision lives in
``supervisor``; records in ``records``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeplane.agent.runtimes.process.accounts import Account

_REFERENCE = re.compile(r"\$\$|\$\(([^)]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known names are replaced, unknown ones stay
    as written, and ``$$`` is an escaped ``$`` (so ``$$(VAR)`` reads ``$(VAR)``)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, text)


def variable_name(name: str) -> str:
    """``shelf-vision.model`` -> ``SHELF_VISION_MODEL``."""
    return re.sub(r"[-.]", "_", name).upper()


def port_key(index: int, port: Mapping[str, Any]) -> str:
    """How a port is known in records: its name, or its position when it has none."""
    name = port.get("name")
    return str(name) if name else f"#{index}"


def workload_env(workload: Mapping[str, Any]) -> dict[str, str]:
    """``env`` as one mapping, whichever wire spelling was used (list or map)."""
    env = workload.get("env") or {}
    if isinstance(env, Mapping):
        return {str(k): str(v) for k, v in env.items()}
    return {str(var["name"]): str(var.get("value", "")) for var in env}


def free_port() -> int:
    """A loopback port nobody listens on now. Another process may take it before the
    workload binds it; the record keeps it so at least our restarts agree."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def allocate_ports(
    ports: Sequence[Mapping[str, Any]],
    previous: Mapping[str, int],
    pick: Callable[[], int] = free_port,
) -> dict[str, int]:
    """Port key -> number: the spec's number, else the one used before, else a free one."""
    allocated: dict[str, int] = {}
    for index, port in enumerate(ports):
        key = port_key(index, port)
        allocated[key] = int(port.get("port") or previous.get(key) or pick())
    return allocated


def port_env(ports: Sequence[Mapping[str, Any]], allocated: Mapping[str, int]) -> dict[str, str]:
    """``PORT_<NAME>`` for each named port and ``PORT`` for the first one."""
    env: dict[str, str] = {}
    for index, port in enumerate(ports):
        number = str(allocated[port_key(index, port)])
        if index == 0:
            env["PORT"] = number
        if port.get("name"):
            env[f"PORT_{variable_name(str(port['name']))}"] = number
    return env


def artifact_env(artifact_dirs: Mapping[str, Path]) -> dict[str, str]:
    return {f"EDGEPLANE_ARTIFACT_{variable_name(n)}": str(d) for n, d in artifact_dirs.items()}


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: Path


def plan_launch(
    workload: Mapping[str, Any],
    artifact_dirs: Mapping[str, Path],
    ports: Mapping[str, int],
    own_dir: Path,
    inherited: Mapping[str, str],
) -> Launch:
    """The inherited environment (PATH and the like), then artifacts and ports, then
    the workload's own variables, which win: the user said so explicitly."""
    env = {
        **inherited,
        **artifact_env(artifact_dirs),
        **port_env(workload.get("ports") or [], ports),
        **workload_env(workload),
    }
    # The first artifact (in spec order) is the program's home unless told otherwise.
    names = [a["name"] for a in workload.get("artifacts") or [] if a["name"] in artifact_dirs]
    home = artifact_dirs[names[0]] if names else own_dir
    cwd = home / expand(workload["workingDir"], env) if workload.get("workingDir") else home
    command = expand(str(workload["command"]), env)
    if "/" in command and not os.path.isabs(command):
        command = str(cwd / command)
    args = [expand(str(a), env) for a in workload.get("args") or []]
    return Launch([command, *args], env, cwd)


def inherited_env(environ: Mapping[str, str]) -> dict[str, str]:
    """What a workload inherits from the agent (PATH, locale and the like), without the
    agent's own ``EDGEPLANE_*`` settings: a join token given in the environment must not
    reach every workload. The agent sets the ``EDGEPLANE_*`` a workload should see."""
    return {k: v for k, v in environ.items() if not k.startswith(AGENT_ENV_PREFIX)}


AGENT_ENV_PREFIX = "EDGEPLANE_"


def spawn(launch: Launch, log_fd: int, account: Account | None = None) -> int:
    """Start the process in its own session, writing straight to its log, and return
    its pid. The log (opened by the agent, in append mode) is handed to the child as
    its stdout/stderr, so the workload keeps logging when the agent is gone, and one
    running as another user writes to it without being able to open it. With an
    ``account`` the child switches to it (groups, then gid, then uid) before exec."""
    switch: dict[str, Any] = {}
    if account is not None:
        switch = {"user": account.uid, "group": account.gid, "extra_groups": account.groups}
    proc = subprocess.Popen(
        launch.argv,
        env=launch.env,
        cwd=launch.cwd,
        stdin=subprocess.DEVNULL,
        stdout=log_fd,
        stderr=log_fd,
        start_new_session=True,
        close_fds=True,
        **switch,
    )
    # The process outlives this Popen (and the agent): the runtime reaps it by pid.
    # Marking the Popen done keeps its finalizer from warning that the process
    # "is still running" and from reaping it behind the runtime's back.
    proc.returncode = 0
    return proc.pid
