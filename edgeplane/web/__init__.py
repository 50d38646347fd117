"""The web dashboard, served by the hub at ``/ui``: server-rendered pages (Jinja2),
htmx 2 with its SSE extension for live updates, and a fleet map drawn on vendored
Natural Earth outlines. Everything under ``static/vendor`` is vendored: nothing is
fetched from another site at run time.

It is a front end like the CLI: it reaches the hub only over HTTP with each signed-in
session's own token (``fleet``), never through the hub's objects. Modules: ``app``
(wiring, security headers), ``context`` (the signed-in door, forms), ``sessions``,
``fleet`` (live per-token views), ``views`` (pure: rows, filters, pages), ``maps``
(pure: the map's aggregation), ``pages``, ``actions`` (rollout buttons), ``live``
(server-sent events).

What does not belong here: any decision of the hub's (placement, policy, rollout):
the dashboard shows what the API says and asks the API to act.
"""
