"""The runs table and its indexes, added to ``schema.metadata``.

A module of its own so that ``schema`` stays within the length limit: importing it
adds ``runs``. Whoever reads the whole schema from ``metadata`` (Alembic's env, the
migration test) imports it; nothing in it is read at run time.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from pgsched.db.schema import RUN_STATUSES, RUN_TRIGGERS, metadata, one_of, timestamptz

runs = Table(
    "runs",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    # History outlives its job: deleting a job keeps its runs, by name.
    Column("job_id", BigInteger, ForeignKey("jobs.id", ondelete="SET NULL")),
    Column("job_name", Text, nullable=False),
    Column("scheduled_for", timestamptz(), nullable=False),
    Column("attempt", Integer, nullable=False, server_default=text("1")),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("trigger", Text, nullable=False, server_default=text("'schedule'")),
    Column("worker_id", Text),
    # When the attempt really began (recorded with its outcome); claimed_at is when
    # a worker took it, which can be before its slot (fire-ahead) or its start.
    Column("started_at", timestamptz()),
    Column("finished_at", timestamptz()),
    Column("duration_ms", Double),
    Column("error", Text),
    Column("output", Text),
    Column("created_at", timestamptz(), nullable=False, server_default=text("now()")),
    # The claim's fencing token: an outcome is written only while the run still has it.
    Column("fence", BigInteger),
    # When a pending attempt (retry, manual, queued) may start.
    Column("available_at", timestamptz()),
    Column("queue", Text, nullable=False, server_default=text("'default'")),
    # A "gap" record (status skipped) stands for the slots scheduled_for..missed_until:
    # slots a misfire passed over, or consecutive slots an overlap=skip job skipped.
    Column("missed_until", timestamptz()),
    Column("missed_slots", Integer),
    Column("claimed_at", timestamptz()),
    # Which of its job's shards this attempt is (0 for a job without shards).
    Column("shard", Integer, nullable=False, server_default=text("0")),
    # One first attempt per (job, slot, shard) is the database's guarantee that no
    # slot fires twice, whatever the number of workers.
    UniqueConstraint(
        "job_id",
        "scheduled_for",
        "shard",
        "attempt",
        name="runs_job_id_scheduled_for_shard_attempt_key",
    ),
    CheckConstraint("shard >= 0", name="runs_shard_check"),
    CheckConstraint(one_of("status", RUN_STATUSES), name="runs_status_check"),
    CheckConstraint(one_of("trigger", RUN_TRIGGERS), name="runs_trigger_check"),
    CheckConstraint("attempt >= 1", name="runs_attempt_check"),
)

# The partial indexes below stay small at any history size: only attempts waiting
# or running are in them.
Index(
    "runs_job_id_active_idx",
    runs.c.job_id,
    postgresql_where=runs.c.status.in_(("pending", "running")),
)
Index("runs_available_at_idx", runs.c.available_at, postgresql_where=runs.c.status == "pending")
Index("runs_worker_id_running_idx", runs.c.worker_id, postgresql_where=runs.c.status == "running")
# The latest failures and skips (pgsched.failed_runs, pgsched.missed_runs); runs
# that succeed never enter it.
Index(
    "runs_status_finished_at_idx",
    runs.c.status,
    runs.c.finished_at,
    postgresql_where=runs.c.status.in_(("failed", "timed_out", "lost", "skipped")),
)
