-- How far the data this server answers from trails its primary: zero on a primary,
-- and on a hot standby the age of the last transaction it replayed while WAL it has
-- received still waits to be replayed. A standby that has replayed all it received
-- answers zero: the primary then wrote nothing newer (workers heartbeat every lease
-- / 3, so live workers' heartbeats are there), or it is out of reach, which the
-- lag cannot tell (pg_stat_wal_receiver can).
--
-- Everything that judges liveness (workers_alive, running_runs, missed_runs, the
-- commands) compares heartbeats with now() minus this lag, the primary's clock as far
-- as this server has seen it: on a replica behind by more than a lease, live workers
-- are not declared dead.
CREATE OR REPLACE FUNCTION pgsched.replica_lag()
RETURNS interval
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
               WHEN NOT pg_is_in_recovery() THEN interval '0'
               WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN interval '0'
               ELSE greatest(now() - pg_last_xact_replay_timestamp(), interval '0')
           END
$$;

COMMENT ON FUNCTION pgsched.replica_lag() IS
    'How far this server''s data trails its primary: 0 on a primary, or on a standby caught up with what it received; else now() minus the commit time of the last transaction replayed. Liveness is judged at now() minus this lag.';
