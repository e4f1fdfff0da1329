"""``pgsched jobs history NAME``: who changed a job, when, and what, from the audit trail."""

from __future__ import annotations

import json
from typing import Any

import click

from pgsched.catalog import jobs
from pgsched.catalog.jobs import JobChange
from pgsched.catalog.sessions import Access, open_session
from pgsched.commands.options import database_options, json_option
from pgsched.commands.output import print_rows
from pgsched.config import Settings

COLUMNS = ("changed_at", "change", "changed_by", "actor", "what")


@click.command("history")
@database_options
@click.argument("name")
@click.option(
    "--limit", "-n", type=click.IntRange(1), default=None, help="Only the latest N changes."
)
@json_option
def history(settings: Settings, name: str, limit: int | None, as_json: bool) -> None:
    """Show every change made to a job, oldest first: when, what kind (insert, update,
    toggle, run_now, retry_run, delete), the login it came through, and what changed.

    changed_by is the database login (session_user), which a client cannot forge;
    actor is a label a client may set for itself (pgsched.actor), shown for what it
    is worth. A renamed job shows its changes under either name. Readable by
    pgsched_admin. --json gives the old and new values of each change.

    \b
    Example:
      pgsched jobs history nightly-report -n 10
    """
    with open_session(settings, Access.READ) as connection:
        changes = jobs.history(connection, name)
    if limit is not None:
        changes = changes[-limit:]
    if as_json:
        print_rows(changes, as_json)
        return
    print_rows([{**change, "what": describe(change)} for change in changes], False, COLUMNS)


def describe(change: JobChange) -> str:
    """One line saying what a change did, for the table."""
    old, new = change["old_values"] or {}, change["new_values"] or {}
    if change["change"] == "run_now":
        return f"run {new.get('run_id')} queued"
    if change["change"] == "retry_run":
        return (
            f"run {old.get('run_id')} replayed: run {new.get('run_id')} "
            f"(attempt {new.get('attempt')})"
        )
    if change["change"] in ("insert", "delete"):
        definition = new or old
        return " ".join(f"{key}={_shown(definition.get(key))}" for key in ("kind", "target"))
    return "; ".join(f"{key}: {_shown(old.get(key))} -> {_shown(new.get(key))}" for key in new)


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
