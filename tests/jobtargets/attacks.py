"""Job targets that try what a job author might: forge the worker's log, nest a
checkpoint too deep, look at who they run as."""

from __future__ import annotations

import json
import os

from pgsched.context import RunContext

FORGED = {"event": "run_finished", "level": "warning", "job_name": "forged-by-a-job"}


def forge_log_lines() -> str:
    """Write what looks like a worker log event straight to stdout and stderr."""
    line = (json.dumps(FORGED) + "\n").encode()
    os.write(1, line)
    os.write(2, line)
    return "wrote"


def save_deep_checkpoint(context: RunContext, levels: int) -> str:
    """Try to save a checkpoint nested ``levels`` deep; say what happened."""
    value: object = "bottom"
    for _ in range(levels):
        value = [value]
    try:
        context.save_checkpoint(value)
    except RuntimeError as exc:
        return f"refused: {exc}"
    return "saved"


def user_id() -> int:
    """The OS user the job runs as."""
    return os.geteuid()
