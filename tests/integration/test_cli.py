"""The command line: output for people and scripts, and one clear line on errors."""

from __future__ import annotations

import json

from click.testing import CliRunner

from pgsched.cli import cli
from pgsched.db import migrations


def test_schedule_command_lists_fire_times_with_dst_notes() -> None:
    result = CliRunner().invoke(
        cli,
        [
            "schedule",
            "30 2 * * *",
            "--timezone",
            "Europe/Berlin",
            "--after",
            "2026-03-28",
            "-n",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "2026-03-28 02:30:00 CET  2026-03-28T01:30:00Z",
        "2026-03-29 03:00:00 CEST  2026-03-29T01:00:00Z  (shifted by dst gap, slot 02:30:00)",
    ]


def test_schedule_command_json_output() -> None:
    result = CliRunner().invoke(
        cli, ["schedule", "@every 90m", "--after", "2026-01-01T00:00:00", "-n", "2", "--json"]
    )
    assert result.exit_code == 0
    assert [item["at"] for item in json.loads(result.output)] == [
        "2026-01-01T01:30:00+00:00",
        "2026-01-01T03:00:00+00:00",
    ]


def test_schedule_command_says_what_h_picked_for_the_job() -> None:
    result = CliRunner().invoke(
        cli,
        ["schedule", "H/15 * * * *", "--job", "nightly-report", "-n", "2", "--after", "2026-01-01"],
    )
    assert result.exit_code == 0, result.output
    # md5('nightly-report') is c38a6c3a...: the minute field reads 0x6c3a = 27706; 27706 % 15 = 1.
    assert result.output.splitlines() == [
        "# fires as '1-59/15 * * * *' for job 'nightly-report'",
        "2026-01-01 00:01:00 UTC  2026-01-01T00:01:00Z",
        "2026-01-01 00:16:00 UTC  2026-01-01T00:16:00Z",
    ]


def test_schedule_command_with_h_and_no_job_asks_for_one() -> None:
    result = CliRunner().invoke(cli, ["schedule", "H * * * *"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: H picks its value from the job's name, and no job name was given: pass --job NAME"
    )


def test_a_schedule_that_never_fires_is_one_clear_error_line() -> None:
    result = CliRunner().invoke(cli, ["schedule", "0 0 31 2 *"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: schedule never fires: day-of-month 31 does not occur in month 2"
    )


def test_unknown_time_zone_is_one_clear_error_line() -> None:
    result = CliRunner().invoke(cli, ["schedule", "@daily", "--timezone", "Mars/Base"])
    assert result.exit_code == 1
    assert "unknown time zone 'Mars/Base'" in result.output
    assert "Traceback" not in result.output


def test_migrate_reports_the_revision(empty_database_url: str) -> None:
    result = CliRunner().invoke(cli, ["migrate", "--database-url", empty_database_url])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"schema at revision {migrations.head_revision()}")


def test_migrate_downgrade_to_base(database_url: str) -> None:
    result = CliRunner().invoke(
        cli, ["migrate", "--database-url", database_url, "--downgrade-to", "base"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("schema at revision base")


def test_unreachable_database_is_one_clear_error_line() -> None:
    result = CliRunner().invoke(
        cli, ["migrate", "--database-url", "postgresql://nobody:secret@127.0.0.1:1/nowhere"]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: cannot connect to ")
    assert "secret" not in result.output
    assert "pgsched db start" in lines[0]
