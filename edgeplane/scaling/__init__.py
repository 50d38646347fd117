"""Scaling: how many replicas an autoscaled application should run; pure, no I/O.

Belongs here: Kubernetes' HPA arithmetic applied across sites: ``spec.autoscaling`` as
frozen values with HPA's defaults, the per-site metric readings and their fleet-wide
average, the replica calculation per metric, and the stabilization windows and rate
policies that turn a recommendation into a replica count. It reads wire dicts
(``app["spec"]["autoscaling"]``, ``assignment["status"]["metrics"]``) and imports the
standard library only (no pydantic: the shapes were validated by
``edgeplane.api.autoscaling`` on the way in). Not here: reading the store, collecting
the metrics, writing ``placement.replicas`` or ``status.autoscaling`` (the hub's
autoscaling controller carries the decisions out), nor where the replicas go
(``edgeplane.placement``).

* ``view``: ``scaling_spec`` and the values it builds (``ScalingSpec``, ``MetricSpec``,
  ``Rules``, ``Policy``), with the enums and the ``Reason`` words;
* ``readings``: ``Reading``, ``site_readings`` (an assignment's reports) and ``combine``;
* ``hpa``: ``recommend``, what the metrics call for (``Recommendation``);
* ``behavior``: ``decide`` (windows, policies, bounds: a ``Decision``) and ``story``.

Every time is passed in (``now``, seconds since the epoch by the hub's clock).
"""

from edgeplane.scaling.behavior import (
    HISTORY_MAX,
    Decision,
    Events,
    History,
    decide,
    scale_down_limit,
    scale_up_limit,
    story,
)
from edgeplane.scaling.hpa import MetricRecommendation, Recommendation, describe, recommend
from edgeplane.scaling.readings import Reading, combine, site_readings
from edgeplane.scaling.view import (
    DEFAULT_DOWN,
    DEFAULT_TOLERANCE,
    DEFAULT_UP,
    MetricKind,
    MetricSpec,
    Policy,
    PolicyKind,
    Reason,
    Rules,
    ScalingSpec,
    SelectPolicy,
    TargetType,
    scaling_spec,
)

__all__ = [
    "DEFAULT_DOWN",
    "DEFAULT_TOLERANCE",
    "DEFAULT_UP",
    "HISTORY_MAX",
    "Decision",
    "Events",
    "History",
    "MetricKind",
    "MetricRecommendation",
    "MetricSpec",
    "Policy",
    "PolicyKind",
    "Reading",
    "Reason",
    "Recommendation",
    "Rules",
    "ScalingSpec",
    "SelectPolicy",
    "TargetType",
    "combine",
    "decide",
    "describe",
    "recommend",
    "scale_down_limit",
    "scale_up_limit",
    "scaling_spec",
    "site_readings",
    "story",
]
