"""Web: API tokens, idempotent manual runs, and what the dashboard reads as pgsched_reader.

Revision ID: issue15_web
Revises: issue11_security
Create Date: 2026-12-02

``api_tokens`` holds the SHA-256 digest of each token of ``pgsched web`` and its
role; ``api_token_principal`` looks one up (with its owner's rights, for the web
server's login). ``run_requests`` remembers ``Idempotency-Key`` headers of manual
runs for a day. The dashboard and the HTTP API answer a reader token as
``pgsched_reader``, which reads views and functions only: ``job_definitions``,
``job_slot_outcomes``, ``run_page``, ``run_detail`` and ``run_outcomes`` give it
what the pages show.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, TIMESTAMP

from alembic import op
from pgsched.db.migrations import apply_sql_file

revision = "issue15_web"
down_revision = "issue11_security"
branch_labels = None
depends_on = None

SCHEMA = "pgsched"
TZ = TIMESTAMP(timezone=True)
SQL_FILES = (
    "views/job_definitions.v1.sql",
    "functions/job_overview.v1.sql",
    "functions/job_slot_outcomes.v1.sql",
    "functions/run_page.v1.sql",
    "functions/run_detail.v1.sql",
    "functions/run_outcomes.v1.sql",
    "functions/api_token_principal.v1.sql",
    "functions/api_tokens_active.v1.sql",
)
READER_FUNCTIONS = (
    "job_overview(text)",
    "job_slot_outcomes(text[], integer)",
    "run_page(text, text, timestamptz, timestamptz, bigint, integer)",
    "run_detail(bigint)",
    "run_outcomes(integer)",
    "api_token_principal(bytea)",
    "api_tokens_active()",
)
# Every column but the digest: an admin lists and revokes tokens, and never needs it.
TOKEN_COLUMNS = (
    "id, name, role, prefix, created_at, created_by, expires_at, last_used_at, revoked_at"
)


def _functions() -> str:
    return ", ".join(f"{SCHEMA}.{name}" for name in READER_FUNCTIONS)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("token_sha256", BYTEA, nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("created_by", sa.Text, nullable=False, server_default=sa.text("SESSION_USER")),
        sa.Column("expires_at", TZ),
        sa.Column("last_used_at", TZ),
        sa.Column("revoked_at", TZ),
        sa.UniqueConstraint("token_sha256", name="api_tokens_token_sha256_key"),
        sa.CheckConstraint("role IN ('reader', 'admin')", name="api_tokens_role_check"),
        sa.CheckConstraint("btrim(name) <> ''", name="api_tokens_name_check"),
        schema=SCHEMA,
    )
    op.create_index(
        "api_tokens_name_idx",
        "api_tokens",
        ["name"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_table(
        "run_requests",
        sa.Column("principal", sa.Text, primary_key=True),
        sa.Column("idempotency_key", sa.Text, primary_key=True),
        sa.Column("job_name", sa.Text, nullable=False),
        sa.Column("run_id", sa.BigInteger),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        schema=SCHEMA,
    )
    bind = op.get_bind()
    for path in SQL_FILES:
        apply_sql_file(bind, path)
    op.execute(f"GRANT SELECT ON {SCHEMA}.job_definitions TO pgsched_reader")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {_functions()} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {_functions()} TO pgsched_reader")
    op.execute(f"GRANT SELECT ({TOKEN_COLUMNS}) ON {SCHEMA}.api_tokens TO pgsched_admin")
    op.execute(f"GRANT INSERT, UPDATE (revoked_at) ON {SCHEMA}.api_tokens TO pgsched_admin")
    op.execute(f"GRANT USAGE ON SEQUENCE {SCHEMA}.api_tokens_id_seq TO pgsched_admin")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {SCHEMA}.run_requests TO pgsched_admin")


def downgrade() -> None:
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgsched_admin') THEN
                REVOKE ALL ON SEQUENCE {SCHEMA}.api_tokens_id_seq FROM pgsched_admin;
                REVOKE ALL ON {SCHEMA}.api_tokens, {SCHEMA}.run_requests FROM pgsched_admin;
            END IF;
        END
        $$
        """
    )
    op.execute(f"DROP VIEW {SCHEMA}.job_definitions")
    for function in READER_FUNCTIONS:
        op.execute(f"DROP FUNCTION {SCHEMA}.{function}")
    op.drop_table("run_requests", schema=SCHEMA)
    op.drop_index("api_tokens_name_idx", table_name="api_tokens", schema=SCHEMA)
    op.drop_table("api_tokens", schema=SCHEMA)
