"""The capacity check: too little cpu or memory left for one more replica. Only what
the application asks for counts: what needs no cpu fits where others overdrew the
cpu."""

from __future__ import annotations

import numpy as np

from edgeplane.placement.checks.base import Check, spread
from edgeplane.placement.context import Context
from edgeplane.placement.fleet import Ints
from edgeplane.placement.model import AppView

CPU_SHORT = "had too little cpu left (need "
MEMORY_SHORT = "had too little memory left (need "


def cpu_reason(app: AppView) -> str:
    return f"{CPU_SHORT}{app.cpu_millis}m)"


def memory_reason(app: AppView) -> str:
    return f"{MEMORY_SHORT}{app.memory_bytes // 2**20}Mi)"


class CapacityCheck(Check):
    name = "capacity"
    order = 60

    def codes(self, ctx: Context, cand: Ints) -> Ints | None:
        return spread(len(cand), self.failing(ctx, cand))

    def failing(self, ctx: Context, cand: Ints) -> tuple[Ints, Ints] | None:
        # Said for the few that fail: a thousand applications a pass each ask it over
        # thousands of sites.
        app = ctx.app
        if not (app.cpu_millis or app.memory_bytes):
            return None
        cpu = ctx.room[0][cand] < app.cpu_millis if app.cpu_millis else None
        memory = ctx.room[1][cand] < app.memory_bytes if app.memory_bytes else None
        short = memory if cpu is None else cpu if memory is None else cpu | memory
        assert short is not None
        bad: Ints = np.flatnonzero(short)
        if not len(bad):
            return None
        cpu_code, memory_code = ctx.code(cpu_reason(app)), ctx.code(memory_reason(app))
        if cpu is None:
            return bad, np.full(len(bad), memory_code, dtype=np.int64)
        # cpu is told first where both are short
        return bad, np.where(cpu[bad], cpu_code, memory_code).astype(np.int64)

    def dimension(self, reason: str) -> str | None:
        # Matched whole against the texts this check makes (the need is their only
        # variable part), never searched for a word.
        if reason.startswith(CPU_SHORT):
            return "cpu"
        return "memory" if reason.startswith(MEMORY_SHORT) else None
