"""Beyond one machine: liveness judged through a replica's lag, and work for an autoscaler.

Revision ID: issue12_beyond_one_machine
Revises: review11_hardening
Create Date: 2026-12-02

``replica_lag`` says how far a hot standby's data trails its primary (0 on the
primary). ``workers_alive`` v2, ``running_runs`` v3 and ``missed_runs`` v3 judge
liveness and lateness at now() minus that lag and show it as a new last column
``replica_lag_seconds``, so a lagging replica does not declare live workers dead.
``worker_demand`` counts the attempts that need a worker slot now or soon, for KEDA's
PostgreSQL scaler (docker/kubernetes/), callable by pgsched_reader.
"""

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "issue12_beyond_one_machine"
down_revision = "review11_hardening"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
# (before, after): each new version only appends a column, so CREATE OR REPLACE keeps
# the view's grants.
VIEWS = {
    "workers_alive": ("views/workers_alive.v1.sql", "views/workers_alive.v2.sql"),
    "running_runs": ("views/running_runs.v2.sql", "views/running_runs.v3.sql"),
    "missed_runs": ("views/missed_runs.v2.sql", "views/missed_runs.v3.sql"),
}
DEMAND = f"{SCHEMA}.worker_demand(text[], integer)"


def upgrade() -> None:
    bind = op.get_bind()
    apply_sql_file(bind, "functions/replica_lag.v1.sql")
    for _, after in VIEWS.values():
        apply_sql_file(bind, after)
    apply_sql_file(bind, "functions/worker_demand.v1.sql")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {DEMAND} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {DEMAND} TO pgsched_reader")


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(f"DROP FUNCTION {DEMAND}")
    # A view cannot lose a column in place: drop it, restore it, grant it again.
    for view, (before, _) in VIEWS.items():
        op.execute(f"DROP VIEW {SCHEMA}.{view}")
        apply_sql_file(bind, before)
        op.execute(f"GRANT SELECT ON {SCHEMA}.{view} TO pgsched_reader")
    op.execute(f"DROP FUNCTION {SCHEMA}.replica_lag()")
