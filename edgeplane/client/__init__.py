"""Python client for the hub HTTP API, and the contexts file (server + token).

Used by the CLI, the dashboard and the simulator. Talks HTTP only; never imports the
hub or the store.
"""
