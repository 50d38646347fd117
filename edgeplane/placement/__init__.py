"""Placement: pure functions from an immutable fleet snapshot to site decisions.

Belongs here: snapshot, checks (filters), scorers, the pipeline, replica division and
explanations. Not here: any I/O; the hub controller reads the store and writes the
Assignments this package decides.

* ``simple``: placement v0 (selector, siteGroups, cordon, capacity; EverySite and
  Replicas with stickiness), until the placement engine replaces it.
* ``views``: wire objects into the frozen views ``simple`` reads.
"""
