"""Health: pure rules over what the hub has heard of its sites; no I/O.

Belongs here: the rules that decide a site's health from immutable inputs, typed with
the API's enums (``api.sites.SitePhase``), imports of ``api`` and the standard library
only. Not here: reading the store or the leases, writing the Offline decided, or the
health loop's pacing (``hub.controllers.health`` carries these rules out).

* ``liveness``: whether a site is stale (not heard from within the limit, by the hub's
  clock, with the clock skew allowed between hubs), why, and whether its nodes are down.
* ``detector``: how suspicious a site's silence is (phi accrual over its heartbeats'
  inter-arrival history, aware that lossy links lose heartbeats whole), so a stopped
  site is found within a few periods and a lossy one is not declared dead.
* ``failover``: when the replicas at a lost site may move (``afterSeconds`` after its
  last heartbeat; with Strict fencing not before its lease has certainly ended), and
  the status event that says so.
* ``failback``: when a returned site may take its replicas back (a hold-down that
  doubles for a site that flaps), and the bounded record of its returns.

Every time is passed in (``now``, by the hub's clock): nothing here reads a clock.
"""
