"""``pgsched runs retry``: replay finished slots, by run id or every failure since then."""

from __future__ import annotations

import click

from pgsched.catalog import replay
from pgsched.catalog.replay import DEFAULT_BULK_LIMIT, Replay
from pgsched.catalog.runs import Since
from pgsched.catalog.sessions import Access, open_session
from pgsched.commands.history import since_option
from pgsched.commands.options import database_options, json_option
from pgsched.commands.output import print_rows
from pgsched.config import Settings
from pgsched.errors import PgschedError

COLUMNS = ("run_id", "outcome", "new_run_id", "job_name", "scheduled_for", "attempt", "refusal")


@click.command("retry")
@database_options
@click.argument("run_ids", metavar="ID...", nargs=-1, type=click.IntRange(1))
@click.option(
    "--failed-since",
    callback=since_option,
    metavar="WHEN",
    help="Replay every slot whose last attempt failed, timed out or was lost since then: "
    "90m, 2h, 7d back from now, or a date/time (UTC unless given).",
)
@click.option("--job", metavar="NAME", help="With --failed-since: only this job's slots.")
@click.option(
    "--limit",
    "-n",
    default=DEFAULT_BULK_LIMIT,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="With --failed-since: at most this many slots, oldest failure first.",
)
@json_option
def retry(
    settings: Settings,
    run_ids: tuple[int, ...],
    failed_since: Since,
    job: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Replay finished slots: each gets a new attempt (trigger manual) of the same job
    and scheduled_for, which a worker starts within about a second. A slot that already
    has an attempt pending or running is not given another: that attempt is shown
    (outcome "already pending"). Refused, with the reason: an unknown or unfinished
    run, a skipped record, a deleted, disabled or invalid job. Exits 1 if any was
    refused. Needs pgsched_admin (pgsched.retry_run).

    \b
    Examples:
      pgsched runs retry 4182 4190
      pgsched runs retry --failed-since 6h --job payments-sync
    """
    bulk = failed_since != Since()
    if bool(run_ids) == bulk:
        raise click.UsageError("give run ids or --failed-since, not both nor neither")
    if job is not None and not bulk:
        raise click.UsageError("--job goes with --failed-since")
    with open_session(settings, Access.WRITE) as connection:
        if bulk:
            replays = replay.retry_failed(connection, failed_since, job, limit)
        else:
            replays = [replay.retry_run(connection, run_id) for run_id in run_ids]
    print_rows([_row(r) for r in replays], as_json, COLUMNS, empty="(no failed slots)")
    refused = [r for r in replays if r.refusal is not None]
    if refused:
        raise PgschedError(f"{len(refused)} of {len(replays)} refused")


def _row(replayed: Replay) -> dict[str, object]:
    return {
        "run_id": replayed.run_id,
        "outcome": replayed.outcome,
        "new_run_id": replayed.new_run_id,
        "job_name": replayed.job_name,
        "scheduled_for": replayed.scheduled_for,
        "attempt": replayed.attempt,
        "refusal": replayed.refusal,
    }
