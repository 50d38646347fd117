"""Placement: pure functions from an immutable fleet snapshot to site decisions.

Belongs here: snapshot, checks (filters), scorers, the pipeline, replica division and
explanations. Not here: any I/O; the hub controller reads the store and writes the
Assignments this package decides.

* ``model``: the frozen views placement reads, the snapshot, and ``Decision``;
* ``views``: wire objects into those views;
* ``fleet``: the sites as arrays (by label set, taint set, topology domain);
* ``context``: what checks and scorers are given (scope, caches, one application's turn);
* ``checks/``: the feasibility checks, one module each, found by ``registry``;
* ``filtering``: the checks as one loop, filling ``reasons.Metrics``;
* ``scorers/``: balance, locality, stickiness and the fixed preferences, one module each;
* ``selection`` and ``division``: picking N sites with spread, dividing N replicas;
* ``ledger``: capacity during a pass, reservations by priority, preemption;
* ``engine``: the planner's state and its pass; ``incremental``: what each kind of
  change invalidates (a table); ``explanation``: ``explain``;
* ``planner``: the public face (``Planner``, ``place``, ``explain``).
"""
