"""What keeps a ``process`` workload to itself at its site: its health probes reach only
its own ports on loopback with a request line built from checked parts, and ``runAs``
names a user (and group) the agent can switch to.

Plain functions without pydantic, because the agent checks the same rules again (it
trusts nothing it is sent, and it never loads pydantic); ``workloads`` calls them at
admission. Each returns None when the value is fine, else what is wrong and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""The only hosts a probe may name: a probe is a check of the workload itself, never a
way to make the agent connect elsewhere (a port scan, a request to a neighbour)."""

MAX_PROBE_PATH = 2048
# Printable ASCII but the space: no CR/LF to split the request line, no space to end it,
# nothing a header could be smuggled in with.
_PROBE_PATH = re.compile(rf"\A/[!-~]{{0,{MAX_PROBE_PATH - 1}}}\Z")

MAX_ACCOUNT_NAME = 32
# POSIX-portable user and group names (useradd's default rule) or a number.
_ACCOUNT = re.compile(r"\A(?:[a-z_][a-z0-9_-]{0,31}|[0-9]{1,10})\Z")
MAX_ID = 2**32 - 2  # (uid_t)-1 means "unchanged" to setuid-like calls


def probe_host_problem(host: str | None) -> str | None:
    if host is None or host in LOOPBACK_HOSTS:
        return None
    return (
        f"probes reach only the workload itself: use one of "
        f"{', '.join(sorted(LOOPBACK_HOSTS))} or leave host out (got {host[:64]!r})"
    )


def probe_path_problem(path: str) -> str | None:
    if _PROBE_PATH.fullmatch(path):
        return None
    return (
        f"must start with '/' and hold only printable ASCII without spaces, at most "
        f"{MAX_PROBE_PATH} characters: percent-encode the rest (got {path[:64]!r})"
    )


def probe_port_problem(ref: int | str, names: Iterable[str], numbers: Iterable[int]) -> str | None:
    """A probe names one of the workload's own ports: by name, or by the number a port
    of the workload declares."""
    names, numbers = set(names), set(numbers)
    if isinstance(ref, str) and ref in names:
        return None
    if isinstance(ref, int) and ref in numbers:
        return None
    own = sorted(names) + [str(n) for n in sorted(numbers)]
    return (
        f"probes reach only the workload's own ports: {ref!r} is not one of its ports "
        f"({', '.join(own) or 'none declared'}); declare it under ports and name it here"
    )


def account_problem(what: str, name: str) -> str | None:
    if _ACCOUNT.fullmatch(name) and not (name.isdigit() and int(name) > MAX_ID):
        return None
    return (
        f"must be a {what} name (lowercase letters, digits, '_' or '-', at most "
        f"{MAX_ACCOUNT_NAME}, not starting with a digit or '-') or a numeric {what} id "
        f"(got {name[:64]!r})"
    )
