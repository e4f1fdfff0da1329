"""``pgsched schedule``: a schedule's next fire times, with DST notes. No database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from pgsched.scheduling.schedule import parse_schedule


@click.command("schedule")
@click.argument("expression")
@click.option("--timezone", "timezone", default="UTC", show_default=True, help="IANA zone.")
@click.option("--count", "-n", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--after", type=click.DateTime(), help="Start from this time (in the zone).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def schedule_command(
    expression: str, timezone: str, count: int, after: datetime | None, as_json: bool
) -> None:
    """Show the next fire times of a schedule, with DST notes.

    \b
    Example:
      pgsched schedule '30 2 * * *' --timezone Europe/Berlin --after 2026-03-27 -n 3
    """
    schedule = parse_schedule(expression, timezone)
    start = after.replace(tzinfo=schedule.zone) if after else datetime.now(UTC)
    fires = schedule.upcoming(start, count)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
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
    for fire in fires:
        local = fire.at.astimezone(schedule.zone)
        note = (
            f"  ({fire.note.value.replace('_', ' ')}, slot {fire.wall_time:%H:%M:%S})"
            if fire.note
            else ""
        )
        click.echo(f"{local:%Y-%m-%d %H:%M:%S %Z}  {fire.at:%Y-%m-%dT%H:%M:%SZ}{note}")


COMMANDS: list[click.Command] = [schedule_command]
