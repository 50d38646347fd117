"""Runtime drivers, one per module behind one small protocol (process, kubernetes)."""
