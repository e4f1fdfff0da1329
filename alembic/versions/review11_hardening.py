"""Review of issue 11: attacks its boundaries still let through, closed.

Revision ID: review11_hardening
Revises: issue15_web
Create Date: 2026-12-02

Released: never edit. A changed function is a new file under sql/ applied by a
new revision.

- ``json_value_error`` v2 bounds the numbers of ``args`` and ``checkpoint``: jsonb
  prints 1e5000 as 5,001 digits, which Python refuses to read, and one such number
  stopped every claim that met its row.
- ``next_attempt_at`` v2 does not overflow on ``max_attempts`` near the int limit, which
  failed every outcome of a batch holding an interrupted attempt of such a job.
"""

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "review11_hardening"
down_revision = "issue15_web"
branch_labels = None
depends_on = None

# (upgrade file, the file it replaces on the way down)
REPLACED = (
    ("functions/json_value_error.v2.sql", "functions/json_value_error.v1.sql"),
    ("functions/next_attempt_at.v2.sql", "functions/next_attempt_at.v1.sql"),
)


def upgrade() -> None:
    bind = op.get_bind()
    for path, _ in REPLACED:
        apply_sql_file(bind, path)


def downgrade() -> None:
    bind = op.get_bind()
    for _, path in REPLACED:
        apply_sql_file(bind, path)
    # Its v1 file predates pinned search paths; issue11_security pinned it.
    op.execute(
        "ALTER FUNCTION pgsched.next_attempt_at(text, integer, integer, integer, boolean, boolean)"
        " SET search_path = pg_catalog, pg_temp"
    )
