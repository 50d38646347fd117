"""The devices check: a site with fewer available devices matching a need than it
asks for (needs in order: the first unmet one is told)."""

from __future__ import annotations

import numpy as np

from edgeplane.placement.checks.base import Check
from edgeplane.placement.context import Context
from edgeplane.placement.fleet import Ints
from edgeplane.placement.model import AppView


def device_reason(app: AppView, index: int) -> str:
    need = app.devices[index]
    return f"had fewer than {need.count} device(s) matching {str(need.selector) or 'anything'}"


class DevicesCheck(Check):
    name = "devices"
    order = 70

    def codes(self, ctx: Context, cand: Ints) -> Ints | None:
        app = ctx.app
        if not app.devices:
            return None
        codes = np.zeros(len(cand), dtype=np.int64)
        for i in reversed(range(len(app.devices))):  # the first unmet need written last
            need = app.devices[i]
            short = ctx.fleet.devices_matching(need.selector)[cand] < need.count
            codes[short] = ctx.code(device_reason(app, i))
        return codes
