"""The ``edgeplane`` command line (typer + rich) over ``client``.

Importing this package registers every command on ``app``; ``edgeplane.main`` adds
the commands that run servers (``hub``).
"""

from edgeplane.cli import (
    artifacts,
    auth,
    contexts,
    data,
    datastatus,
    explaining,
    objects,
    rollouts,
    sites,
    tokens,
    traffic,
)
from edgeplane.cli.app import app

__all__ = [
    "app",
    "artifacts",
    "auth",
    "contexts",
    "data",
    "datastatus",
    "explaining",
    "objects",
    "rollouts",
    "sites",
    "tokens",
    "traffic",
]
