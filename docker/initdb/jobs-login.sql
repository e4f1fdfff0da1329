-- Run once by the postgres image when the stack's volume is new (before `migrate`).
-- The login the workers' sql jobs run on (PGSCHED_SQL_DATABASE_URL in compose.yaml):
-- it reads pgsched's views through pgsched_reader and owns nothing, so a job's SQL
-- can neither become a superuser nor replace pgsched's functions. `pgsched migrate`
-- creates pgsched_reader only when it is missing, and grants it what it reads.
CREATE ROLE pgsched_reader NOLOGIN;
CREATE ROLE pgsched_jobs LOGIN PASSWORD 'pgsched-jobs' IN ROLE pgsched_reader;
