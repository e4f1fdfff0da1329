-- Whether any API token could sign in now: while none can, `pgsched web` serves only
-- on a loopback address (authentication is not set up).
CREATE OR REPLACE FUNCTION pgsched.api_tokens_active()
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pgsched.api_tokens AS t
                    WHERE t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()));
$$;

COMMENT ON FUNCTION pgsched.api_tokens_active() IS
    'True while at least one API token is neither revoked nor expired.';
