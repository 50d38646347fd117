"""What one placement pass wants stored: every application's Assignments, rendered,
with each instance's devices named. Pure over the pass's objects; the controller
(``placement``) hands in how one application renders and writes the result.

* ``desired_assignments``: an application that cannot be rendered (an override that
  makes an invalid Assignment, an artifact missing, a name another holds) keeps what
  runs and gets a problem; the others are rendered all the same.
* ``bound_devices``: ``placement.binding`` over the desired Assignments, and what each
  application's instances could not get, by site, for its ``DevicesBound`` condition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from edgeplane.api.wire import Object
from edgeplane.hub.controllers.appstatus import problem_condition, render_failure
from edgeplane.hub.controllers.naming import Problem, name_collision
from edgeplane.hub.controllers.rollouts import by_site
from edgeplane.placement.binding import bind_devices

RenderApp = Callable[[Object, Mapping[str, Object]], tuple[dict[str, Object], Problem | None]]
"""One application's Assignments by name, given those it holds by site; or a problem."""
SHORT_SHOWN = 10


def desired_assignments(
    apps: list[Object], stored: Mapping[str, Object], render: RenderApp
) -> tuple[dict[str, Object], dict[str, Problem]]:
    desired: dict[str, Object] = {}
    problems: dict[str, Problem] = {}
    held, placed = by_application(stored), by_site(stored)
    for app in apps:
        name = app["metadata"]["name"]
        try:
            rendered, problem = render(app, placed.get(name, {}))
        except Exception as e:  # this application's fault, reported on it
            rendered, problem = {}, ("RenderFailed", render_failure(e))
        problem = problem or name_collision(rendered, desired, stored)
        if problem:  # keep what runs until it can be rendered
            problems[name] = problem
            rendered = {k: stored[k] for k in held.get(name, ())}
        desired.update(rendered)
    return desired, problems


def bound_devices(
    apps: list[Object],
    desired: dict[str, Object],
    stored: Mapping[str, Object],
    devices: list[Object],
) -> tuple[dict[str, Object], dict[str, list[str]]]:
    """``desired`` with each instance's devices named; application -> ``"N at site"``
    for the devices its instances should have and could not get."""
    if not any(a["spec"].get("devices") for a in apps):
        return desired, {}  # rendering names no devices: nothing to add
    by_name = {a["metadata"]["name"]: a for a in apps}
    bound = bind_devices(desired, by_name, devices, stored)
    short: dict[str, list[str]] = {}
    for name, count in bound.missing.items():
        spec = bound.assignments[name]["spec"]
        short.setdefault(spec["application"], []).append(f"{count} at {spec['site']}")
    return bound.assignments, short


def devices_condition(short: list[str]) -> dict[str, Any]:
    why = f"instances lack devices: {', '.join(short[:SHORT_SHOWN])} (fewer free than needed)"
    return problem_condition("DevicesBound", "DevicesMissing", why)


def by_application(assignments: Mapping[str, Object]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, obj in assignments.items():
        found.setdefault(obj["spec"]["application"], []).append(name)
    return found
