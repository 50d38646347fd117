"""Data plane: durable spool, uplink scheduler and sinks for edge-to-cloud records.

(Empty until the data issue.)
"""
