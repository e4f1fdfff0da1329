"""The circuit breaker's part of the schema, added to ``schema.metadata``.

A module of its own so that ``schema`` stays within the length limit: importing it
adds two columns and two checks to ``jobs`` and the ``job_breakers`` table. Whoever
reads the whole schema from ``metadata`` (Alembic's env, the migration test)
imports it; nothing in it is read at run time but ``BREAKER_COOLDOWN_SECONDS``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Integer, Table, Text, text

from pgsched.db.schema import default, jobs, metadata, one_of, timestamptz

BREAKER_STATES = ("closed", "open", "half_open")
# How long an open breaker pauses its job unless the job says otherwise.
BREAKER_COOLDOWN_SECONDS = 300

# This many final slot failures in a row pause the job for the cool-down (NULL: never).
jobs.append_column(Column("breaker_failures", Integer))
jobs.append_column(
    Column(
        "breaker_cooldown_seconds",
        Integer,
        nullable=False,
        server_default=default(BREAKER_COOLDOWN_SECONDS),
    )
)
jobs.append_constraint(CheckConstraint("breaker_failures > 0", name="jobs_breaker_failures_check"))
jobs.append_constraint(
    CheckConstraint("breaker_cooldown_seconds > 0", name="jobs_breaker_cooldown_seconds_check")
)

# A job's circuit breaker, for jobs that have something to remember: no row is a
# closed breaker with no failure counted (sql/functions/breaker_record.v1.sql).
job_breakers = Table(
    "job_breakers",
    metadata,
    Column("job_id", BigInteger, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("state", Text, nullable=False, server_default=text("'closed'")),
    # Final failures of slots in a row, since the last success or reset.
    Column("failed_slots", Integer, nullable=False, server_default=text("0")),
    Column("opened_at", timestamptz()),
    # Slots before this instant are recorded skipped; the first one after is the probe.
    Column("open_until", timestamptz()),
    # The slot running as the probe while half-open.
    Column("probe_slot", timestamptz()),
    Column("changed_at", timestamptz(), nullable=False, server_default=text("now()")),
    CheckConstraint(one_of("state", BREAKER_STATES), name="job_breakers_state_check"),
)
