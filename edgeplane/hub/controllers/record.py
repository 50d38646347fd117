"""What the placement controller decided, kept for ``explain``: each application's last
decision and a short story of how it came to be, as dask's ``story()`` tells a task's.

A story entry says when, what changed (the trigger: which object, which of its
parts), which sites the application gained and lost, and how many replicas were left
unplaced. Bounded: ``MAX_STORY`` entries per application, ``MAX_SITES_TOLD`` site names
per entry, and ``MAX_ENTRIES`` in all (the stories of the applications that changed
longest ago go first). The record also counts passes and status-only updates (the
hub's metrics hand in their counters) and says whether a controller runs on this hub
(``active``): a hub that does not lead has no record to read.

Neighbours: ``controllers.placement`` writes it, ``hub.explaining`` reads it.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from edgeplane.placement.model import Decision

MAX_STORY = 20
"""Entries kept per application."""
MAX_ENTRIES = 20_000
"""Entries kept in all."""
MAX_SITES_TOLD = 20
"""Site names an entry lists of those added (and of those removed); the rest counted."""


class Counts(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class Tally:
    """A counter for a record without the hub's metrics (tests, tools)."""

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount


@dataclass(frozen=True)
class StoryEntry:
    time: str
    trigger: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    added_count: int
    removed_count: int
    unplaced: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "trigger": self.trigger,
            "added": list(self.added),
            "addedCount": self.added_count,
            "removed": list(self.removed),
            "removedCount": self.removed_count,
            "unplaced": self.unplaced,
        }


@dataclass(frozen=True)
class Recorded:
    """An application's last decision, for the object (uid) and generation it was made
    for."""

    decision: Decision
    generation: int
    time: str
    uid: str = ""


def _stamp(now: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))


class PlacementRecord:
    def __init__(self, passes: Counts | None = None, status_updates: Counts | None = None) -> None:
        self.passes: Counts = passes or Tally()
        self.status_updates: Counts = status_updates or Tally()
        self.active = False
        """Whether a placement controller runs on this hub now."""
        self._decisions: dict[str, Recorded] = {}
        self._stories: OrderedDict[str, deque[StoryEntry]] = OrderedDict()
        self._entries = 0

    def decision(self, app: str) -> Recorded | None:
        return self._decisions.get(app)

    def story(self, app: str) -> list[StoryEntry]:
        return list(self._stories.get(app, ()))

    def decided(
        self,
        app: str,
        generation: int,
        decision: Decision,
        trigger: str,
        now: float | None = None,
        uid: str = "",
    ) -> None:
        """A pass's decision for ``app``; a story entry when where it runs, or how much
        of it is unplaced, changed. An application deleted and made again (another
        ``uid``) starts a new story."""
        before = self._decisions.get(app)
        if before is not None and before.uid != uid:
            self.keep_only(a for a in self._decisions if a != app)
            before = None
        self._decisions[app] = Recorded(decision, generation, _stamp(now), uid)
        old = dict(before.decision.parts()) if before else {}
        new = dict(decision.parts())
        unplaced_before = before.decision.unplaced if before else None
        if before is not None and old == new and unplaced_before == decision.unplaced:
            return
        added = sorted(s for s in new if s not in old)
        removed = sorted(s for s in old if s not in new)
        entry = StoryEntry(
            _stamp(now),
            trigger,
            tuple(added[:MAX_SITES_TOLD]),
            tuple(removed[:MAX_SITES_TOLD]),
            len(added),
            len(removed),
            decision.unplaced,
        )
        self._tell(app, entry)

    def noted(self, app: str, message: str, now: float | None = None) -> None:
        """A story entry for something that happened to ``app`` besides where it runs
        (a rollout's step): the message is its trigger."""
        before = self._decisions.get(app)
        unplaced = before.decision.unplaced if before else 0
        self._tell(app, StoryEntry(_stamp(now), message, (), (), 0, 0, unplaced))

    def noted_all(self, events: Mapping[str, Iterable[Mapping[str, str]]]) -> None:
        """Each application's events (``reason: message``) as story entries."""
        for app, told in events.items():
            for event in told:
                self.noted(app, f"{event['reason']}: {event['message']}")

    def keep_only(self, apps: Iterable[str]) -> None:
        """Forget the applications not among ``apps`` (deleted)."""
        keep = set(apps)
        for app in [a for a in self._decisions if a not in keep]:
            del self._decisions[app]
        for app in [a for a in self._stories if a not in keep]:
            self._entries -= len(self._stories.pop(app))

    def _tell(self, app: str, entry: StoryEntry) -> None:
        story = self._stories.get(app)
        if story is None:
            story = self._stories[app] = deque(maxlen=MAX_STORY)
        self._stories.move_to_end(app)
        self._entries += 0 if len(story) == MAX_STORY else 1
        story.append(entry)
        while self._entries > MAX_ENTRIES and len(self._stories) > 1:
            _, oldest = self._stories.popitem(last=False)
            self._entries -= len(oldest)
