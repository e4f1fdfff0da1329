"""Alembic environment for pgsched: one transaction, serialised by an advisory lock.

`pgsched migrate` passes the connection in ``config.attributes``; there is no
alembic.ini to keep in step with the database URL.
"""

from alembic import context
from pgsched.db import breaker_schema, runs_schema  # noqa: F401  (add their tables to metadata)
from pgsched.db.migrations import VERSION_TABLE, lock_and_prepare
from pgsched.db.schema import SCHEMA, metadata


def include_name(name, type_, parent_names):  # type: ignore[no-untyped-def]
    # Autogenerate compares only pgsched's schema, never the user's own tables.
    if type_ == "schema":
        return name == SCHEMA
    return True


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    version_table_schema=SCHEMA,
    include_schemas=True,
    include_name=include_name,
)

with context.begin_transaction():
    # Taken before Alembic reads the version table, so a second container waits
    # for the first to commit and then finds nothing left to do.
    lock_and_prepare(connection)
    context.run_migrations()
