-- The schema version as commands see it, on the connection they already hold.
-- Two blocks: a query naming the version table cannot even be planned before the
-- first migration has created it.

-- name: schema_migrated
SELECT to_regclass('pgsched.alembic_version') IS NOT NULL AS migrated;

-- name: schema_revision
SELECT version_num AS revision FROM pgsched.alembic_version;
