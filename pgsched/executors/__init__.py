"""Executors: one per job kind, each turning an ``Attempt`` into an ``Outcome``."""
