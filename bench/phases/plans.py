"""Phase ``plans``: the worker's hot-path query plans, on an empty history and on 10 million runs.

A scratch database gets 10,000 enabled jobs (100 due now) and a working set: 100
runs running for a live worker, 100 pending retries due, 10 runs of a worker that
stopped heartbeating. Every query of ``sql/queries/worker.sql`` that reads or
writes ``runs`` or ``jobs`` is explained, then the history is filled with 10 million
finished runs (quick: 1 million, see ``history.py``) and each is explained again.

Each query runs under ``EXPLAIN ANALYZE`` in a transaction that is rolled back, with
its parameters bound client-side (as ``test_claim_query_uses_the_due_index`` does),
so the planner sees literal values (a custom plan). ``auto_explain`` logs the plans
of the statements inside plpgsql functions and triggers (``start_pending_runs``,
``running_run_ids``, the run totals) to this session; where it cannot be loaded,
only the top-level plan is compared. A plan is its tree of node types, indexes and
relations, costs and row counts left out. A second ``EXPLAIN ANALYZE`` without
``auto_explain`` gives the planning + execution time at full history (warm cache).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.harness.context import BenchContext
from bench.harness.database import Connection, connect, database_now
from bench.harness.errors import Findings
from bench.harness.history import FULL_RUNS, JOBS, QUICK_RUNS, fill_runs
from bench.harness.report import Figure
from bench.harness.server import scratch_database
from pgsched.db.queries import NAME_LINE, query
from pgsched.db.resources import sql_dir

PHASE = "plans"
QUEUES = ["default"]
# What one claim asks for with --concurrency 100.
BATCH = 100
LIVE_WORKER = "plans-worker"
# Queries of worker.sql that read neither runs nor jobs: nothing there grows.
NOT_ON_RUNS_OR_JOBS = frozenset(
    (
        "register_worker",
        "heartbeat",
        "stop_worker",
        "lock_queue_limits",
        "queue_limits",
        "claim_settings",
    )
)
# On a large history, reading runs other than through an index is what hurts.
SEQ_SCAN_ON_RUNS = re.compile(r"Seq Scan on runs\b")
# Nested statements are labelled by the start of their text.
LABEL_CHARS = 70

# Jobs are named as history.fill_runs expects; 100 are due, the rest over the next day.
REGISTER_JOBS = """
INSERT INTO pgsched.jobs (name, schedule, kind, target, next_run)
SELECT 'job-' || n, '*/5 * * * *', 'python', 'bench.harness.targets:noop',
       CASE WHEN n <= %(batch)s THEN now() - interval '1 minute'
            ELSE now() + n * interval '8 seconds' END
  FROM generate_series(1, %(jobs)s) AS n
"""
# The live worker's lease outlasts the fill, so only the other one is reaped.
REGISTER_WORKERS = """
INSERT INTO pgsched.workers (id, host, pid, concurrency, lease_seconds, last_heartbeat_at)
VALUES (%(live)s, 'bench-host', 1, 100, 86400, now()),
       ('plans-dead-worker', 'bench-host', 2, 100, 30, now() - interval '1 hour')
"""
# Jobs batch+1.. run for the live worker, the next batch have a retry due, the
# next 10 ran on the dead worker: none of them is a due job.
SEED_RUNS = """
INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, attempt, status, trigger, queue,
                          worker_id, claimed_at, fence, available_at)
SELECT j.id, j.name, now() - interval '1 minute', w.attempt, w.status, w.trigger, 'default',
       w.worker_id, CASE WHEN w.status = 'running' THEN now() - interval '1 minute' END,
       CASE WHEN w.status = 'running' THEN nextval('pgsched.run_fence_seq') END,
       CASE WHEN w.status = 'pending' THEN now() - interval '1 second' END
  FROM generate_series(%(batch)s + 1, 3 * %(batch)s + 10) AS n
  JOIN pgsched.jobs AS j ON j.name = 'job-' || n
 CROSS JOIN LATERAL (
        SELECT CASE WHEN n <= 2 * %(batch)s THEN 'running'
                    WHEN n <= 3 * %(batch)s THEN 'pending' ELSE 'running' END AS status,
               CASE WHEN n <= 2 * %(batch)s THEN %(live)s
                    WHEN n <= 3 * %(batch)s THEN NULL ELSE 'plans-dead-worker' END AS worker_id,
               CASE WHEN n BETWEEN 2 * %(batch)s + 1 AND 3 * %(batch)s THEN 2 ELSE 1 END
                   AS attempt,
               CASE WHEN n BETWEEN 2 * %(batch)s + 1 AND 3 * %(batch)s THEN 'retry'
                    ELSE 'schedule' END AS trigger) AS w
"""
DUE_JOBS = """
SELECT id, name, next_run FROM pgsched.jobs WHERE next_run <= now() ORDER BY id LIMIT %(batch)s
"""
HELD_RUNS = """
SELECT id, fence, job_id FROM pgsched.runs
 WHERE worker_id = %(live)s AND status = 'running' ORDER BY id
"""
AUTO_EXPLAIN = (
    "LOAD 'auto_explain'",
    "SET auto_explain.log_nested_statements = on",
    "SET auto_explain.log_format = json",
    "SET auto_explain.log_analyze = on",
    "SET auto_explain.log_timing = off",
    # LOG-level messages then reach this client as notices.
    "SET client_min_messages = log",
)
LOG_EVERY_STATEMENT = "SET auto_explain.log_min_duration = 0"
LOG_NOTHING = "SET auto_explain.log_min_duration = -1"


@dataclass(frozen=True)
class Explained:
    """The plan shapes of one query (top level first, then nested statements)."""

    shapes: dict[str, frozenset[str]]
    milliseconds: float

    @property
    def all_shapes(self) -> frozenset[str]:
        """Every plan shape, top level and nested."""
        return frozenset().union(*self.shapes.values())


def shape(node: dict[str, Any]) -> str:
    """``Node Type using index on relation(children...)``: what is compared."""
    parts = [node["Node Type"]]
    for key, word in (
        ("Index Name", "using"),
        ("Relation Name", "on"),
        ("Function Name", "of"),
        ("CTE Name", "of"),
    ):
        if key in node:
            parts.append(f"{word} {node[key]}")
    children = ", ".join(shape(child) for child in node.get("Plans", ()))
    return " ".join(parts) + (f"({children})" if children else "")


def _label(text: str) -> str:
    return " ".join(text.split())[:LABEL_CHARS]


def _worker_queries() -> list[str]:
    """The names of worker.sql's blocks, in file order."""
    text = (sql_dir() / "queries" / "worker.sql").read_text(encoding="utf-8")
    return NAME_LINE.findall(text)


def _parameters(connection: Connection) -> dict[str, dict[str, Any]]:
    """Each hot-path query's parameters: a claim's or finish's worth of the working set."""
    now = database_now(connection)
    due = connection.execute(DUE_JOBS, {"batch": BATCH}).fetchall()
    held = connection.execute(HELD_RUNS, {"live": LIVE_WORKER}).fetchall()
    due_ids = [job_id for job_id, _, _ in due]
    held_ids = [run_id for run_id, _, _ in held]
    claim = {"queues": QUEUES, "limit": BATCH}
    held_fences = [fence for _, fence, _ in held]
    return {
        "claim_due_jobs": {"worker_id": LIVE_WORKER, "ahead_seconds": 0.5, **claim},
        "claim_unscheduled_jobs": claim,
        "start_pending_runs": {"worker_id": LIVE_WORKER, **claim},
        "load_jobs": {"job_ids": due_ids},
        "insert_planned_runs": _planned(due),
        "insert_planned_runs_plain": _planned(due),
        "advance_jobs": {
            "job_ids": due_ids,
            "next_runs": [now + timedelta(minutes=5)] * len(due_ids),
            "last_errors": [None] * len(due_ids),
        },
        "supersede_retries": {"job_ids": due_ids, "started_slots": [now] * len(due_ids)},
        "cancel_replaced_runs": {"run_ids": held_ids},
        "next_due_in": {"queues": QUEUES},
        "queue_headroom": {"queues": QUEUES},
        "finish_runs": _outcomes(held, failures=True),
        "finish_succeeded_runs": _outcomes(held, failures=False),
        "save_checkpoint": {
            "checkpoint": Jsonb({"offset": 1}),
            "job_id": held[0][2],
            "run_id": held[0][0],
            "fence": held[0][1],
        },
        "runs_taken_away": {"run_ids": held_ids, "fences": held_fences},
        "release_held_runs": {"run_ids": held_ids[:10], "fences": held_fences[:10]},
        "reap_lost_runs": {"worker_id": LIVE_WORKER},
        "release_unstarted_runs": {
            "worker_id": LIVE_WORKER,
            "held_run_ids": held_ids[10:],
            "older_than_seconds": 10,
        },
        "retire_orphan_runs": {},
    }


def _planned(due: list[tuple[int, str, Any]]) -> dict[str, Any]:
    """One claim's first attempts, running for the live worker."""
    return {
        "worker_id": LIVE_WORKER,
        "job_ids": [job_id for job_id, _, _ in due],
        "job_names": [name for _, name, _ in due],
        "scheduled_fors": [next_run for _, _, next_run in due],
        "statuses": ["running"] * len(due),
        "triggers": ["schedule"] * len(due),
        "queues": QUEUES * len(due),
        "errors": [None] * len(due),
        "missed_untils": [None] * len(due),
        "missed_slots": [None] * len(due),
        "compacts": [False] * len(due),
        "shards": [1] * len(due),
    }


def _outcomes(held: list[tuple[int, int, int]], failures: bool) -> dict[str, Any]:
    """One finish batch; with ``failures``, every other run failed with a retry, so the
    retry insert runs too."""
    failed = [failures and bool(index % 2) for index in range(len(held))]
    return {
        "run_ids": [run_id for run_id, _, _ in held],
        "fences": [fence for _, fence, _ in held],
        "statuses": ["failed" if f else "succeeded" for f in failed],
        "errors": [None] * len(held),
        "outputs": [None] * len(held),
        "durations": [5.0] * len(held),
        "retryables": failed,
        "started_ats": [None] * len(held),
        "breakers": False,
    }


class Explainer:
    """A session that explains statements and collects the plans auto_explain logs."""

    def __init__(self, url: str, findings: Findings) -> None:
        self._connection = connect(url)
        self._logged: list[str] = []
        self._connection.add_notice_handler(
            lambda notice: self._logged.append(notice.message_primary or "")
        )
        self.nested = True
        try:
            for statement in AUTO_EXPLAIN:
                self._connection.execute(statement)
        except psycopg.Error as exc:
            self.nested = False
            warning = (
                f"plans: auto_explain unavailable ({exc}); plans inside functions not compared"
            )
            if warning not in findings.warnings:
                findings.warnings.append(warning)

    def __enter__(self) -> Explainer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._connection.close()

    @property
    def connection(self) -> Connection:
        """The session (auto_explain loaded where possible)."""
        return self._connection

    def explain(self, statement: str) -> Explained:
        """Plan shapes of ``statement`` and of what it runs inside; its time, warm."""
        shapes: dict[str, set[str]] = {}
        self._logged.clear()
        top = self._analyze(statement, LOG_EVERY_STATEMENT)
        shapes["(top level)"] = {shape(top["Plan"])}
        for plan in self._nested_plans():
            shapes.setdefault(_label(plan["Query Text"]), set()).add(shape(plan["Plan"]))
        timed = self._analyze(statement, LOG_NOTHING)
        return Explained(
            {label: frozenset(found) for label, found in shapes.items()},
            timed["Planning Time"] + timed["Execution Time"],
        )

    def _analyze(self, statement: str, logging: str) -> dict[str, Any]:
        if self.nested:
            self._connection.execute(logging)
        with self._connection.transaction(force_rollback=True):
            row = self._connection.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement).fetchone()
        assert row is not None
        explained: dict[str, Any] = row[0][0]
        return explained

    def _nested_plans(self) -> Iterator[dict[str, Any]]:
        for message in self._logged:
            _, found, document = message.partition("plan:")
            if not found:
                continue
            plan: dict[str, Any] = json.loads(document)
            # auto_explain also logs the EXPLAIN statement itself.
            if not plan["Query Text"].lstrip().upper().startswith("EXPLAIN"):
                yield plan


def _explain_all(url: str, names: list[str], findings: Findings) -> dict[str, Explained]:
    """Explain each of ``names`` on a fresh session: plpgsql caches plans per session."""
    with Explainer(url, findings) as explainer:
        parameters = _parameters(explainer.connection)
        client = psycopg.ClientCursor(explainer.connection)
        return {
            name: explainer.explain(client.mogrify(query(name), parameters[name])) for name in names
        }


def _seed(connection: Connection) -> None:
    connection.execute(REGISTER_JOBS, {"jobs": JOBS, "batch": BATCH})
    connection.execute(REGISTER_WORKERS, {"live": LIVE_WORKER})
    connection.execute(SEED_RUNS, {"batch": BATCH, "live": LIVE_WORKER})
    connection.execute("VACUUM ANALYZE pgsched.jobs, pgsched.runs, pgsched.workers")


def _compare(name: str, before: Explained, after: Explained) -> tuple[bool, list[str]]:
    """Whether every statement both runs planned came out the same; lines describing it."""
    lines = []
    same = True
    for label in dict.fromkeys([*before.shapes, *after.shapes]):
        old, new = before.shapes.get(label), after.shapes.get(label)
        if old is None or new is None:
            lines.append(f"    {label}: ran only {'after' if old is None else 'before'} the fill")
        elif old == new:
            lines.append(f"    {label}: same: {' | '.join(sorted(new))}")
        else:
            same = False
            lines.append(f"    {label}: CHANGED")
            lines.append(f"      before: {' | '.join(sorted(old))}")
            lines.append(f"      after:  {' | '.join(sorted(new))}")
    verdict = "same" if same else "CHANGED"
    return same, [f"  {name}: {verdict}, {after.milliseconds:.1f} ms at full history", *lines]


def run(context: BenchContext) -> list[Figure]:
    """Explain the hot-path queries before and after filling the history."""
    runs = QUICK_RUNS if context.quick else FULL_RUNS
    names = [name for name in _worker_queries() if name not in NOT_ON_RUNS_OR_JOBS]
    with scratch_database(context.server_url) as url:
        with connect(url) as connection:
            _seed(connection)
            missing = [name for name in names if name not in _parameters(connection)]
            if missing:
                context.findings.warnings.append(
                    f"plans: worker.sql queries with no parameters here, not explained: {missing}"
                )
            names = [name for name in names if name not in missing]
            before = _explain_all(url, names, context.findings)
            started = time.monotonic()
            fill_runs(connection, runs, JOBS)
            fill_seconds = time.monotonic() - started
        after = _explain_all(url, names, context.findings)
    figures = [
        Figure(
            "plans_fill_seconds", PHASE, f"insert {runs:,} runs, vacuum, analyse", fill_seconds, "s"
        )
    ]
    scale = f"{runs // 1_000_000}M runs"
    for name in names:
        same, lines = _compare(name, before[name], after[name])
        print("\n".join(lines), flush=True)
        scans_runs = any(SEQ_SCAN_ON_RUNS.search(found) for found in after[name].all_shapes)
        figures.append(
            Figure(
                f"plans_{name}_ms",
                PHASE,
                f"{name} @ {scale}: plan {'same' if same else 'CHANGED'}, plan+exec",
                after[name].milliseconds,
                "ms",
                "no Seq Scan on runs",
                not scans_runs,
            )
        )
    return figures
