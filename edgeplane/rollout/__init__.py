"""Rollout: the pure rollout state machine and its strategies; no I/O.

(Empty until the rollout issue.)
"""
