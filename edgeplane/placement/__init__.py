"""Placement: pure functions from an immutable fleet snapshot to site decisions.

Belongs here: snapshot, checks (filters), scorers, the pipeline, replica division and
explanations. Not here: any I/O; the hub controller reads the store and writes the
Assignments this package decides. (Empty until the placement issue lands.)
"""
