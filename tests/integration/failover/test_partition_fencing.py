"""A Strict singleton at a site cut off from the hub (toxiproxy drops everything both
ways; the agent and its workload stay up): the agent stops it when its lease ends, the
hub starts the replacement at the other site only after that, with a higher epoch; the
site's return does not start it again.

The evidence is the workload's own: every copy writes ``<site> <epoch> <time>`` to a
shared ledger while it runs, so two copies running at once would show as interleaved
lines. The ledger must read as one stretch per writer: the home site at its epoch,
then the other site at a higher one, and nothing from home after its return.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.integration.failover import ledger
from tests.integration.failover.conftest import Links
from tests.integration.failover.harness import (
    events,
    join,
    ledger_app,
    moved_from,
    running_at,
)
from tests.support.fleet import Agent, Fleet, wait_for

pytestmark = pytest.mark.timeout(180)
SITES = ("p-1", "p-2")
FENCED = "no heartbeat answered Online within the lease: fencing"
MORE_LINES = 20
"""Lines the new copy writes after the returning site is back and has heard that the
replica moved (about 2 s): time for it to start a copy if it wrongly would."""


def lines_by(path: Path, site: str) -> int:
    return sum(1 for line in ledger.read(path) if line.site == site)


def local_assignments(agent: Agent) -> set[str]:
    """The assignments the agent's local state holds (read beside it: WAL)."""
    with sqlite3.connect(agent.data_dir / "state.db") as db:
        return {row[0] for row in db.execute("SELECT name FROM assignments")}


def took_turns(path: Path) -> list[ledger.Run]:
    """The ledger's runs, asserting each writer (site and epoch) wrote in one stretch:
    the stretches of different writers then never overlap."""
    runs = ledger.runs(ledger.read(path))
    writers = [(run.site, run.epoch) for run in runs]
    assert len(writers) == len(set(writers)), f"two copies ran at once: {runs}"
    return runs


def test_a_cut_off_strict_singleton_never_runs_twice(
    fleet: Fleet, links: Links, tmp_path: Path
) -> None:
    for site in SITES:
        join(fleet, site, hub_url=links.add(site).url)
    book = tmp_path / "ledger"
    fleet.ok("POST", "/applications", ledger_app("single", book, fencing="Strict"))
    home = wait_for(lambda: running_at(fleet, "single"), "single running")
    epoch = fleet.assignments("single")[home]["spec"]["epoch"]
    wait_for(lambda: lines_by(book, home) > 0, f"the ledger written at {home}")

    links[home].cut()
    other = wait_for(lambda: moved_from(fleet, "single", home), "single running elsewhere", 120)
    moved = fleet.assignments("single")[other]["spec"]
    assert (moved["failedOverFrom"], moved["fencing"]) == (home, "Strict")
    assert moved["epoch"] > epoch
    wait_for(lambda: lines_by(book, other) > 0, f"the ledger written at {other}")
    moves = events(fleet, "single", "FailedOver")
    assert any(m.startswith(f"failed over from {home} to {other}") for m in moves), moves

    agent = fleet.agents[home]
    assert FENCED in agent.log.read_text(), f"{home} did not fence itself"
    links[home].heal()
    wait_for(lambda: fleet.site_phase(home) == "Online", f"{home} Online again")
    wait_for(lambda: not local_assignments(agent), f"{home} to hear the replica moved")
    since = lines_by(book, other)
    wait_for(lambda: lines_by(book, other) >= since + MORE_LINES, f"{other} writing on")

    assert set(fleet.assignments("single")) == {other}
    runs = took_turns(book)
    assert [(run.site, run.epoch) for run in runs] == [(home, epoch), (other, moved["epoch"])]
    print(f"ledger: {runs}; between the copies: {runs[1].first - runs[0].last:.2f} s")
