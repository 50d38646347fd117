"""Governance: pure CEL policy compile/evaluate, decisions and the audit chain.

Not here: storing policies or serving them (the hub does that). (Empty until the
placement and governance issue lands.)
"""
