"""The hub: the I/O shell in the cloud (FastAPI app, auth, watch streaming, metrics,
controller loops). It validates with ``api``, persists with ``store`` and will run the
pure decision packages. Not here: resource schemas (``api``) or SQL (``store``).
"""
