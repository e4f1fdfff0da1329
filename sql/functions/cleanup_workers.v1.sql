-- Removes the rows of workers that stopped more than `older_than_days` days ago;
-- returns how many. Every worker start adds a row, so without this a fleet that
-- restarts containers daily grows the table forever. Runs keep the worker id as
-- text, so their history reads the same afterwards. Live and dead-but-unreaped
-- workers (stopped_at NULL) are never removed.
CREATE OR REPLACE FUNCTION pgsched.cleanup_workers(older_than_days integer DEFAULT 7)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    removed bigint;
BEGIN
    IF older_than_days IS NULL OR older_than_days < 0 THEN
        RAISE EXCEPTION 'pgsched.cleanup_workers: older_than_days must be 0 or more, not %',
                        coalesce(older_than_days::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM pgsched.workers
     WHERE stopped_at < now() - make_interval(days => older_than_days);
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END;
$$;

COMMENT ON FUNCTION pgsched.cleanup_workers(integer) IS
    'Deletes workers stopped more than older_than_days days ago; returns the number removed.';
