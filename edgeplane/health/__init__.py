"""Health: pure heartbeat tracking, failure detection and failover decisions; no I/O.

(Empty until the health issue.)
"""
