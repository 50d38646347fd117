"""A Secret's keys and sizes, and the variable a key is given as: plain Python (no
pydantic), shared by the API's models (``api.secrets``, ``api.workloads``) and the
agent (``agent.secrets``), which must stay small."""

from __future__ import annotations

import re

MAX_KEYS = 64
MAX_VALUE_BYTES = 64 * 1024
MAX_TOTAL_BYTES = 256 * 1024
SECRET_KEY = re.compile(r"[A-Za-z0-9._-]{1,253}", re.ASCII)
"""A key: also a file name under the workload's secrets directory (no "/")."""


def check_secret_key(key: str) -> str | None:
    """Why ``key`` cannot be a Secret's key, or None."""
    if not SECRET_KEY.fullmatch(key) or key in (".", ".."):
        return "must be 1 to 253 of A-Z, a-z, 0-9, '.', '_' or '-' (a file name), not . or .."
    return None


def secret_env_name(prefix: str, key: str) -> str:
    """The variable a Secret's ``key`` is given as: ``prefix`` and the key, upper
    case, with '-' and '.' as '_' (``db-pass.txt`` -> ``DB_PASS_TXT``)."""
    return prefix + key.upper().replace("-", "_").replace(".", "_")
