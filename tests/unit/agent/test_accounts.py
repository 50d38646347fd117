"""``runAs`` at the agent: names checked again, looked up in the site's user database,
and switched to only by an agent that runs as root; anything else is a ``RunAsError``
whose message is the workload's status."""

from __future__ import annotations

import grp
import pwd
from typing import Any

import pytest

from edgeplane.agent.runtimes.process.accounts import Account, RunAsError, resolve_run_as

NOBODY = pwd.getpwnam("nobody")
ROOT, OTHER = 0, 1000


def test_no_run_as_runs_as_the_agent() -> None:
    assert resolve_run_as(None) is None
    assert resolve_run_as({}) is None


def test_root_switches_to_the_user_with_its_own_groups() -> None:
    account = resolve_run_as({"user": "nobody"}, euid=ROOT, egid=0)
    assert account == Account(
        NOBODY.pw_uid, NOBODY.pw_gid, (NOBODY.pw_gid,), "nobody", NOBODY.pw_dir
    )
    assert account.env() == {"USER": "nobody", "LOGNAME": "nobody", "HOME": NOBODY.pw_dir}


def test_a_named_group_and_numeric_ids() -> None:
    group = grp.getgrgid(NOBODY.pw_gid).gr_name
    named = resolve_run_as({"user": "nobody", "group": group}, euid=ROOT, egid=0)
    assert named is not None and named.gid == NOBODY.pw_gid
    numeric = resolve_run_as({"user": "54321", "group": "54321"}, euid=ROOT, egid=0)
    assert numeric == Account(54321, 54321, (54321,), None, None)
    assert numeric.env() == {}


def test_an_agent_running_as_the_user_already_needs_no_switch() -> None:
    same = {"user": str(OTHER), "group": str(OTHER)}
    assert resolve_run_as(same, euid=OTHER, egid=OTHER) is None


REFUSED: list[tuple[str, dict[str, Any], int, str]] = [
    ("not-root", {"user": "nobody"}, OTHER, "needs the agent to run as root; it runs as uid 1000"),
    ("unknown-user", {"user": "no-such-user"}, ROOT, "no user 'no-such-user' at this site"),
    ("unknown-group", {"user": "nobody", "group": "no-such-group"}, ROOT, "no group"),
    ("bare-uid-no-group", {"user": "54321"}, ROOT, "runAs.group is needed"),
    ("newline-tail", {"user": "nobody\n"}, ROOT, "runAs.user: must be a user name"),
    ("unicode-digits", {"user": "\u0661"}, ROOT, "runAs.user: must be a user name"),
    ("not-a-string", {"user": 0}, ROOT, "runAs.user: must be a name or id, as a string"),
    ("huge-id", {"user": "4294967295", "group": "1"}, ROOT, "runAs.user: must be"),
]


@pytest.mark.parametrize(
    ("run_as", "euid", "error"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_what_cannot_be_honoured_says_why(run_as: dict[str, Any], euid: int, error: str) -> None:
    with pytest.raises(RunAsError, match=error):
        resolve_run_as(run_as, euid=euid, egid=euid)
