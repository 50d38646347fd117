"""Placement: pure functions from an immutable fleet snapshot to site decisions.

Belongs here: snapshot, checks (filters), scorers, the pipeline, replica division and
explanations. Not here: any I/O; the hub controller reads the store and writes the
Assignments this package decides.

* ``model``: the frozen views placement reads, the snapshot, and ``Decision``;
* ``views``: wire objects into those views;
* ``fleet``: the sites as arrays (by label set, taint set, topology domain);
* ``checks``: the feasibility checks for one site (explain, and one changed site);
* ``ledger``: capacity during a pass, reservations by priority, preemption;
* ``scorers``: balance, locality, stickiness and fixed preferences;
* ``division``: picking N sites with spread, dividing N replicas by weights;
* ``planner``: the engine (full and incremental) and ``explain``.
"""
