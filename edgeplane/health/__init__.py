"""Health: pure rules over what the hub has heard of its sites; no I/O.

Belongs here: the rules that decide a site's health from immutable inputs, typed with
the API's enums (``api.sites.SitePhase``), imports of ``api`` and the standard library
only. Not here: reading the store or the leases, writing the Offline decided, or the
health loop's pacing (``hub.controllers.health`` carries these rules out).

* ``liveness``: whether a site is stale (not heard from within the limit, by the hub's
  clock, with the clock skew allowed between hubs), why, and whether its nodes are down.

(Failover decisions come with the health issue.)
"""
