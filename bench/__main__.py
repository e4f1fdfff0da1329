"""``python -m bench``: run every phase, print the figures as a table, optionally save JSON.

Exit code 0 whether or not targets are met (this is a measurement); 1 when a phase
could not be measured or a worker exited abnormally.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.harness.context import BenchContext
from bench.harness.errors import BenchError
from bench.harness.report import Figure, table, write_json
from bench.harness.server import server_settings, server_url, settings_findings
from bench.harness.workers import REPOSITORY
from bench.phases import PHASES, ceiling
from pgsched.db.connection import redact
from pgsched.logging import LOG_LEVELS
from pgsched.text import first_line

TARGET_CEILING_SHARE = 0.5
TARGET_OVERLOAD_SHARE = 0.9


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmark pgsched with real worker processes."
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="server to create scratch databases on. Default: $PGSCHED_BENCH_DATABASE_URL, "
        "else a throwaway embedded server of its own",
    )
    parser.add_argument("--quick", action="store_true", help="short phases (CI smoke, ~90 s)")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write figures as JSON")
    parser.add_argument(
        "--concurrency",
        type=int,
        help="--concurrency of loaded workers. Default: the worker's own default",
    )
    parser.add_argument(
        "--python-processes",
        type=int,
        help="--python-processes of loaded workers. Default: the worker's own default",
    )
    parser.add_argument(
        "--worker-log-level",
        choices=LOG_LEVELS,
        help="--log-level of loaded workers. Default: warning (the worker's own is info)",
    )
    parser.add_argument(
        "--throughput-jobs",
        type=int,
        default=20000,
        help=(
            "jobs firing every second in the throughput phase, more than 2 workers run on"
            " a 2-core machine (20000); the overload phase fires 5 times as many"
        ),
    )
    parser.add_argument(
        "--idle-jobs",
        type=int,
        help="jobs the idle phase registers (100,000; quick: 10,000)",
    )
    parser.add_argument(
        "--phase",
        action="append",
        choices=list(PHASES),
        help="run only this phase (repeatable). Default: all",
    )
    return parser.parse_args(argv)


def _circumstances(server: str, quick: bool) -> dict[str, object]:
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "server": redact(server),
        "commit": described.stdout.strip() or None,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }


def _ratios(figures: list[Figure]) -> list[Figure]:
    """Figures of one run divided by others of the same run: only then comparable."""
    values = {figure.key: figure.value for figure in figures}
    ratios = []
    for key, numerator, denominator, phase, name, target in (
        (
            "pgsched_to_ceiling_ratio",
            "throughput_2w_runs_per_s",
            "ceiling_runs_per_s",
            ceiling.PHASE,
            "pgsched 2 workers / raw SQL ceiling",
            TARGET_CEILING_SHARE,
        ),
        (
            "overload_to_1x_ratio",
            "overload_runs_per_s",
            "throughput_2w_runs_per_s",
            "overload 5x",
            "succeeded runs/s at 5x / at 1x (throughput-2w)",
            TARGET_OVERLOAD_SHARE,
        ),
        (
            "overload_cpu_ratio",
            "throughput_2w_cpu_ms_per_run",
            "overload_cpu_ms_per_run",
            "overload 5x",
            "CPU per run at 1x / at 5x (runs/s at 5x / 1x on a machine of steady speed)",
            None,
        ),
    ):
        top, bottom = values.get(numerator), values.get(denominator)
        if top and bottom:
            ratio = top / bottom
            if target is None:
                ratios.append(Figure(key, phase, name, ratio, ""))
            else:
                ratios.append(Figure(key, phase, name, ratio, "", f">= {target}", ratio >= target))
    return ratios


def _run_phases(context: BenchContext, names: list[str]) -> list[Figure]:
    figures: list[Figure] = []
    for number, name in enumerate(names, start=1):
        print(f"[{number}/{len(names)}] {name} ...", flush=True)
        started = time.monotonic()
        try:
            measured = PHASES[name](context)
        except Exception as exc:
            detail = str(exc) if isinstance(exc, BenchError) else traceback.format_exc()
            context.findings.errors.append(f"phase {name} failed: {detail}")
            print(f"      failed: {first_line(exc)}", flush=True)
            continue
        figures += measured
        summary = ", ".join(f"{f.name} = {f.value:,.1f}" for f in measured if f.value is not None)
        print(f"      {time.monotonic() - started:.0f} s: {summary}", flush=True)
    return [*figures, *_ratios(figures)]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    arguments = _arguments(argv)
    names = arguments.phase or list(PHASES)
    log_dir = Path(tempfile.mkdtemp(prefix="pgsched-bench-logs-"))
    started = time.monotonic()
    with server_url(arguments.database_url) as server:
        about = _circumstances(server, arguments.quick)
        settings = server_settings(server)
        about["server_settings"] = settings
        print(
            f"server {about['server']}: "
            + ", ".join(f"{name} = {value}" for name, value in settings.items())
            + f"; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        context = BenchContext(
            server_url=server,
            log_dir=log_dir,
            quick=arguments.quick,
            concurrency=arguments.concurrency,
            python_processes=arguments.python_processes,
            throughput_jobs=arguments.throughput_jobs,
            idle_jobs=arguments.idle_jobs,
            log_level=arguments.worker_log_level,
        )
        for warning in settings_findings(settings):
            print(f"WARNING: {warning}", file=sys.stderr, flush=True)
            context.findings.warnings.append(warning)
        figures = _run_phases(context, names)
    findings = context.findings
    about |= {
        "load_average_at_end": os.getloadavg(),
        "duration_s": round(time.monotonic() - started, 1),
        "errors": findings.errors,
        "warnings": findings.warnings,
    }
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"\npgsched benchmark{' (quick)' if arguments.quick else ''}: "
        f"{about['duration_s']} s, {os.cpu_count()} CPUs, load average {load} "
        "(a shared machine: figures are noisy)\n"
    )
    print(table(figures), flush=True)
    if arguments.json:
        write_json(arguments.json, figures, about)
    for heading, entries in (("warning", findings.warnings), ("error", findings.errors)):
        for entry in entries:
            print(f"\n{heading}: {entry}", file=sys.stderr)
    if findings.errors or findings.warnings:
        print(f"\nworker logs kept in {log_dir}", file=sys.stderr)
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    return 1 if findings.errors else 0


if __name__ == "__main__":
    sys.exit(main())
