"""``python -m bench.chaos``: workers under faults on a throwaway server, then an audit.

Prints the faults as they strike, the audit table and the figures; exit code 0 when
every check passes, 1 when one fails or the run could not be carried out (worker
logs are then kept and their path printed).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.chaos import report, runner
from bench.chaos.runner import LONG, ChaosConfig
from bench.harness.report import table


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description="Run real pgsched workers under faults on a throwaway embedded "
        "PostgreSQL, then audit every run they recorded.",
    )
    defaults = ChaosConfig()
    parser.add_argument(
        "--long",
        action="store_true",
        help=f"the long preset: {LONG['workers']} workers x {LONG['jobs']} jobs x "
        f"{LONG['seconds']:g} s, a kill every {LONG['kill_every']:g} s",
    )
    parser.add_argument("--workers", type=int, help=f"worker seats ({defaults.workers})")
    parser.add_argument("--jobs", type=int, help=f"every-second jobs ({defaults.jobs})")
    parser.add_argument("--seconds", type=float, help=f"fault window ({defaults.seconds:g})")
    parser.add_argument(
        "--kill-every", type=float, help=f"seconds between SIGKILLs ({defaults.kill_every:g})"
    )
    parser.add_argument("--seed", type=int, help=f"random seed ({defaults.seed})")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write results as JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep worker logs on success")
    return parser.parse_args(argv)


def _config(arguments: argparse.Namespace) -> ChaosConfig:
    chosen: dict[str, Any] = dict(LONG) if arguments.long else {}
    for name in ("workers", "jobs", "seconds", "kill_every", "seed"):
        value = getattr(arguments, name)
        if value is not None:
            chosen[name] = value
    config = dataclasses.replace(ChaosConfig(), **chosen)
    if config.workers < 2:
        raise SystemExit("--workers must be at least 2: one is paused while others reap it")
    return config


def main(argv: list[str] | None = None) -> int:
    """Run the harness; returns the exit code."""
    arguments = _arguments(argv)
    config = _config(arguments)
    log_dir = Path(tempfile.mkdtemp(prefix="pgsched-chaos-logs-"))
    started = time.monotonic()
    print(
        f"chaos: {config.workers} workers x {config.jobs} jobs x {config.seconds:g} s, "
        f"a kill every {config.kill_every:g} s, seed {config.seed}, lease "
        f"{config.lease_seconds} s; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    try:
        result = runner.run(config, log_dir, lambda line: print(line, flush=True))
    except Exception:
        print(f"\nthe chaos run failed:\n{traceback.format_exc()}", file=sys.stderr)
        print(f"worker logs kept in {log_dir}", file=sys.stderr)
        return 1
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    duration = time.monotonic() - started
    print(f"\naudit ({duration:.0f} s in all; load average {load}; a shared, noisy machine)\n")
    print(report.audit_table(result.checks))
    print(f"\n{table(report.figures(result))}", flush=True)
    failed = [check for check in result.checks if not check.ok]
    for note in result.notes:
        print(f"\nnote: {note}")
    if result.claimed_when_dead:
        shown = ", ".join(map(str, result.claimed_when_dead[:10]))
        print(f"\nclaimed by a worker already declared dead: run(s) {shown}")
    if failed:
        print(f"\n{report.violations(failed)}")
    if arguments.json:
        about = {
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(duration, 1),
            "cpus": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
        }
        report.save(arguments.json, result, about)
    if failed or arguments.keep_logs:
        print(f"\nworker logs kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
