"""Operations: maintenance commands work for the pgsched roles; old worker rows can go.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Released: never edit. A changed function is a new file under sql/ applied by a
new revision.

Every pgsched command checks the schema version first, so the roles may read the
version table; ``job_known`` lets the reader's ``pgsched stats JOB`` tell a typo from a
quiet job; pgsched_admin may read runs and workers (``pgsched runs``, ``doctor``).
``cleanup_workers`` removes the rows of long-stopped workers.
``start_pending_runs`` v2 starts nothing for a worker the cluster declared dead.
"""

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"


def upgrade() -> None:
    apply_sql_file(op.get_bind(), "functions/start_pending_runs.v2.sql")
    apply_sql_file(op.get_bind(), "functions/cleanup_workers.v1.sql")
    apply_sql_file(op.get_bind(), "functions/job_known.v1.sql")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {SCHEMA}.job_known(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SCHEMA}.job_known(text) TO pgsched_reader")
    op.execute(f"GRANT SELECT ON {SCHEMA}.runs, {SCHEMA}.workers TO pgsched_admin")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {SCHEMA}.cleanup_workers(integer) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SCHEMA}.cleanup_workers(integer) TO pgsched_admin")
    # pgsched_admin is a member of pgsched_reader and inherits this.
    op.execute(f"GRANT SELECT ON {SCHEMA}.alembic_version TO pgsched_reader")


def downgrade() -> None:
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgsched_reader') THEN
                REVOKE ALL ON {SCHEMA}.alembic_version FROM pgsched_reader;
            END IF;
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgsched_admin') THEN
                REVOKE ALL ON {SCHEMA}.runs, {SCHEMA}.workers FROM pgsched_admin;
            END IF;
        END
        $$
        """
    )
    op.execute(f"DROP FUNCTION {SCHEMA}.job_known(text)")
    op.execute(f"DROP FUNCTION {SCHEMA}.cleanup_workers(integer)")
    apply_sql_file(op.get_bind(), "functions/start_pending_runs.v1.sql")
