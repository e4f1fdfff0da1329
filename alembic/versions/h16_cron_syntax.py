"""Cron syntax people paste: L, W, #, ?, ranges that wrap, and H hashed from the job's name.

Revision ID: h16_cron_syntax
Revises: h16_replay_alerts
Create Date: 2026-12-02

``cron_parse`` (with ``cron_field``, ``cron_items``, ``cron_value``) ports
pgsched/scheduling/cron.py and cron_fields.py; ``schedule_error`` v2 validates with
it (the trigger keeps calling it). ``cron_next_match`` gains an overload with the
month-dependent day rules (``cron_nearest_weekday`` for W). ``schedule_slots`` v2 takes
the job's name (what H hashes) as a fifth argument with a default, so it replaces the
4-argument function; ``preview_runs`` v2 returns a last column ``resolved_schedule``
(``schedule_resolved``), so it is dropped and created again with its grants.
"""

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "h16_cron_syntax"
down_revision = "h16_replay_alerts"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
NEW_FUNCTIONS = (
    "schedule_resolved(text, text)",
    "schedule_slots(text, text, timestamptz, integer, text)",
    "cron_next_match(timestamp, integer[], integer[], integer[], integer[], integer[],"
    " integer[], boolean, boolean, integer[], integer[], boolean, integer[], integer[])",
    "cron_nearest_weekday(date, integer, integer)",
    "cron_parse(text, text)",
    "cron_field(text, integer, integer)",
    "cron_items(text, text, integer, integer, text[], integer)",
    "cron_value(text, text, integer, integer, text[], integer)",
)
PREVIEW = f"{SCHEMA}.preview_runs(text, integer, timestamptz)"
# The v1 files predate pinned search paths (security/search_path.v1.sql pinned them).
PINNED = "search_path = pg_catalog, pg_temp"


def upgrade() -> None:
    bind = op.get_bind()
    for path in (
        "functions/cron_value.v1.sql",
        "functions/cron_items.v1.sql",
        "functions/cron_field.v1.sql",
        "functions/cron_parse.v1.sql",
        "functions/cron_nearest_weekday.v1.sql",
        "functions/cron_next_match.v2.sql",
        "functions/schedule_error.v2.sql",
        "functions/schedule_resolved.v1.sql",
    ):
        apply_sql_file(bind, path)
    op.execute(f"DROP FUNCTION {PREVIEW}")
    op.execute(f"DROP FUNCTION {SCHEMA}.schedule_slots(text, text, timestamptz, integer)")
    apply_sql_file(bind, "functions/schedule_slots.v2.sql")
    apply_sql_file(bind, "functions/preview_runs.v2.sql")
    _grant_preview()


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(f"DROP FUNCTION {PREVIEW}")
    apply_sql_file(bind, "functions/schedule_error.v1.sql")
    op.execute(f"ALTER FUNCTION {SCHEMA}.schedule_error(text) SET {PINNED}")
    for function in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION {SCHEMA}.{function}")
    apply_sql_file(bind, "functions/schedule_slots.v1.sql")
    op.execute(
        f"ALTER FUNCTION {SCHEMA}.schedule_slots(text, text, timestamptz, integer) SET {PINNED}"
    )
    apply_sql_file(bind, "functions/preview_runs.v1.sql")
    _grant_preview()


def _grant_preview() -> None:
    # It reads the jobs table with its owner's rights: the reader role only.
    op.execute(f"REVOKE EXECUTE ON FUNCTION {PREVIEW} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {PREVIEW} TO pgsched_reader")
