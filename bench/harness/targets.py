"""Job targets the benchmark registers; workers import them from the repository root."""


def noop() -> None:
    """Do nothing: what is measured is the scheduler, not the job."""
