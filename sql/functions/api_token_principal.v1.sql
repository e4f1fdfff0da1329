-- Who presents a token: the id, name and role of the unrevoked, unexpired token whose
-- SHA-256 digest is token_sha256, or no row. Tokens are 256 random bits, so a plain
-- digest is as safe as a slow hash and lets every request find its token by index.
--
-- Marks the token used, at most once a minute, so that `pgsched tokens list` tells
-- which tokens are alive without a write per request. With its owner's rights: the
-- web server's login reads no token table.
CREATE OR REPLACE FUNCTION pgsched.api_token_principal(token_sha256 bytea)
RETURNS TABLE (token_id bigint, name text, role text, expires_at timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
    WITH valid AS (
        SELECT t.id, t.name, t.role, t.expires_at, t.last_used_at
          FROM pgsched.api_tokens AS t
         WHERE t.token_sha256 = api_token_principal.token_sha256
           AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
    ), touched AS (
        UPDATE pgsched.api_tokens AS t
           SET last_used_at = now()
          FROM valid AS v
         WHERE t.id = v.id
           AND (v.last_used_at IS NULL OR v.last_used_at < now() - interval '1 minute')
    )
    SELECT v.id, v.name, v.role, v.expires_at FROM valid AS v
$$;

COMMENT ON FUNCTION pgsched.api_token_principal(bytea) IS
    'The id, name, role and expiry of the valid (unrevoked, unexpired) API token with this SHA-256 digest, or no row; marks it used (last_used_at) at most once a minute.';
