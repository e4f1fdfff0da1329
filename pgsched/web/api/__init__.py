"""The HTTP API under ``/api/v1``: jobs, runs, workers, a summary."""
