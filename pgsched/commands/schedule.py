"""``pgsched schedule``: a schedule's next fire times, with DST notes. No database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from pgsched.errors import ScheduleError
from pgsched.scheduling.cron import HASH_NEEDS_NAME
from pgsched.scheduling.schedule import parse_schedule


@click.command("schedule")
@click.argument("expression")
@click.option("--timezone", "timezone", default="UTC", show_default=True, help="IANA zone.")
@click.option("--count", "-n", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--after", type=click.DateTime(), help="Start from this time (in the zone).")
@click.option("--job", "job_name", help="The job's name, which H picks its values from.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def schedule_command(
    expression: str,
    timezone: str,
    count: int,
    after: datetime | None,
    job_name: str | None,
    as_json: bool,
) -> None:
    """Show the next fire times of a schedule, with DST notes.

    A schedule with H needs --job: H picks its values from the job's name, and the
    first line says what it picked.

    \b
    Examples:
      pgsched schedule '30 2 * * *' --timezone Europe/Berlin --after 2026-03-27 -n 3
      pgsched schedule 'H/15 * * * *' --job nightly-report -n 2
    """
    try:
        schedule = parse_schedule(expression, timezone, job_name)
    except ScheduleError as exc:
        if str(exc) != HASH_NEEDS_NAME:
            raise
        raise ScheduleError(f"{exc}: pass --job NAME") from exc
    start = after.replace(tzinfo=schedule.zone) if after else datetime.now(UTC)
    fires = schedule.upcoming(start, count)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "schedule": schedule.resolved,
                        "at": fire.at.isoformat(),
                        "local": fire.at.astimezone(schedule.zone).isoformat(),
                        "slot": fire.wall_time.isoformat(),
                        "note": fire.note.value if fire.note else None,
                    }
                    for fire in fires
                ]
            )
        )
        return
    if schedule.resolved != expression.strip(" \t"):
        click.echo(f"# fires as {schedule.resolved!r} for job {job_name!r}")
    for fire in fires:
        local = fire.at.astimezone(schedule.zone)
        note = (
            f"  ({fire.note.value.replace('_', ' ')}, slot {fire.wall_time:%H:%M:%S})"
            if fire.note
            else ""
        )
        click.echo(f"{local:%Y-%m-%d %H:%M:%S %Z}  {fire.at:%Y-%m-%dT%H:%M:%SZ}{note}")


COMMANDS: list[click.Command] = [schedule_command]
