"""A module whose import fails: the job must fail alone, with the reason."""

raise RuntimeError("this module refuses to be imported")


def run() -> None:  # pragma: no cover - never reached
    pass
