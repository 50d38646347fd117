"""``runAs``: the account a workload's processes (and its exec probes) run as.

An agent that runs as root switches each child to the named user and group (with that
user's supplementary groups, never root's) between fork and exec, so the workload
cannot read the agent's data dir (0700) or another workload's working directory. An
agent that is not root can run a workload only as itself: any other ``runAs`` is a
``RunAsError`` whose message is the status the workload shows.

Names are checked again here (the agent trusts nothing it is sent) and looked up at
every start, so a user created after the assignment arrived is found on the next try.
"""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgeplane.api.confinement import account_problem


class RunAsError(Exception):
    """The workload cannot run as asked; the message says why and what to change."""


@dataclass(frozen=True)
class Account:
    uid: int
    gid: int
    groups: tuple[int, ...]
    name: str | None
    home: str | None

    def env(self) -> dict[str, str]:
        """What a login would set, so the workload does not see the agent's HOME."""
        if self.name is None:
            return {}
        return {"USER": self.name, "LOGNAME": self.name, "HOME": self.home or "/"}


def resolve_run_as(
    run_as: Mapping[str, Any] | None, euid: int | None = None, egid: int | None = None
) -> Account | None:
    """The account to switch to, or None to run as the agent itself."""
    if not run_as:
        return None
    euid = os.geteuid() if euid is None else euid
    egid = os.getegid() if egid is None else egid
    user, group = _name("user", run_as.get("user")), run_as.get("group")
    entry = _user_entry(user)
    uid = entry.pw_uid if entry else int(user)
    gid = _gid(_name("group", group)) if group is not None else _primary_gid(user, entry)
    if euid != 0:
        if (uid, gid) == (euid, egid):
            return None
        raise RunAsError(
            f"runAs user {user!r} (uid {uid}, gid {gid}) needs the agent to run as root; "
            f"it runs as uid {euid}: run the agent as root, or drop runAs"
        )
    name = entry.pw_name if entry else None
    groups = tuple(os.getgrouplist(name, gid)) if name else (gid,)
    return Account(uid, gid, groups, name, entry.pw_dir if entry else None)


def _name(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise RunAsError(f"runAs.{what}: must be a name or id, as a string")
    if problem := account_problem(what, value):
        raise RunAsError(f"runAs.{what}: {problem}")
    return value


def _user_entry(user: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        if user.isdigit():
            return None  # a bare uid is allowed without a passwd entry
        raise RunAsError(
            f"runAs.user: no user {user!r} at this site: create it, or name another"
        ) from None


def _primary_gid(user: str, entry: pwd.struct_passwd | None) -> int:
    if entry is None:
        raise RunAsError(
            f"runAs.group is needed: uid {user} has no entry in the site's user database"
        )
    return entry.pw_gid


def _gid(group: str) -> int:
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise RunAsError(
            f"runAs.group: no group {group!r} at this site: create it, or name another"
        ) from None
