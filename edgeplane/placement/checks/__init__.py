"""Feasibility checks, one module each, one class per module (Nomad's feasibility
stack, Karmada's filter plugins). Each defines its rule once, in vector form
(``base.Check.codes``); the planner's filter runs them over the candidates left,
``explain --site`` and the incremental planner over one site.

``CHECKS`` is the registry: every ``Check`` subclass defined in a module of this
package, cheapest (lowest ``order``) first, found without a hand-kept list. A new
check is a new module here (and its tests).
"""

from __future__ import annotations

from edgeplane.placement.checks.base import Check, LabelCheck
from edgeplane.placement.checks.phase import CORDONED, OFFLINE
from edgeplane.placement.registry import discover

CHECKS: tuple[Check, ...] = discover(__name__, __path__, Check)
"""In order: the cheapest first; the policy (CEL, if not cached) last."""

__all__ = ["CHECKS", "CORDONED", "OFFLINE", "Check", "LabelCheck"]
