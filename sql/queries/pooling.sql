-- Telling a pooler's connection from the server's (pgsched/db/pooling.py).

-- name: server_backend_pid
-- The server process serving this statement. A direct connection was told the same
-- process id at startup; a pooler tells its clients a cancel key of its own.
SELECT pg_backend_pid() AS pid;
