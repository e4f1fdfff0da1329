-- API tokens of `pgsched web`: `pgsched tokens ...` and the web server's sign-in.
-- Only a token's SHA-256 digest is stored; the token itself is shown once, at creation.

-- name: tokens_create
-- A name is unique among unrevoked tokens (api_tokens_name_idx): a second
-- "ci" while one is active fails with a unique violation the caller explains.
INSERT INTO pgsched.api_tokens (name, role, token_sha256, prefix, expires_at)
VALUES (%(name)s, %(role)s, %(token_sha256)s, %(prefix)s, %(expires_at)s)
RETURNING id, name, role, prefix, created_at, created_by, expires_at;

-- name: tokens_list
SELECT t.name, t.role, t.prefix,
       CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked'
            WHEN t.expires_at <= now() THEN 'expired'
            ELSE 'active' END AS state,
       t.created_at, t.created_by, t.expires_at, t.last_used_at, t.revoked_at
  FROM pgsched.api_tokens AS t
 WHERE %(include_revoked)s OR t.revoked_at IS NULL
 ORDER BY t.name, t.created_at;

-- name: tokens_revoke
-- Takes effect for the web server within its token cache's lifetime (seconds).
UPDATE pgsched.api_tokens SET revoked_at = now()
 WHERE name = %(name)s AND revoked_at IS NULL
RETURNING id;

-- name: tokens_principal
SELECT p.token_id, p.name, p.role, p.expires_at
  FROM pgsched.api_token_principal(%(token_sha256)s) AS p;

-- name: tokens_active
SELECT pgsched.api_tokens_active() AS active;
