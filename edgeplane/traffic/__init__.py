"""Traffic: which endpoints a client is sent to, answered over DNS.

Belongs here: the table of every application's endpoints and their health built from
wire data (``table``), the mapping of client networks to a place (``locality``), the
pure ranking of endpoints for one client (``answers``), and the authoritative DNS
server that answers ``<app>.<zone>`` with them (``responder`` turns one query into one
reply, ``edns`` reads its OPT record and client subnet; ``server`` carries the bytes
over UDP and TCP).

Not here: reading objects from the hub or the store (the hub's ``edgeplane dns`` command
and the agent's local DNS hand a ``Table`` over), validation models, health decisions
(a target is healthy when its site and assignment say so, nothing more). The package
imports nothing of edgeplane but ``edgeplane.api.wire`` and no pydantic, so the agent,
which must stay small, can run the server too.
"""
