"""API tokens of ``pgsched web``: create, list, revoke, and find who presents one.

A token is ``pgs_`` and 43 URL-safe characters (256 random bits). The database keeps
only its SHA-256 digest and its first characters, to recognise it in a list.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import psycopg
from psycopg.rows import DictRow

from pgsched.db.queries import query
from pgsched.errors import PgschedError

TOKEN_PREFIX = "pgs_"
# Characters of a token kept in clear, the "pgs_" included: enough to tell tokens apart.
SHOWN_CHARACTERS = 10
Role = Literal["reader", "admin"]
ROLES: tuple[Role, ...] = ("reader", "admin")


class TokenError(PgschedError):
    """The API token cannot be created or changed."""


@dataclass(frozen=True)
class TokenPrincipal:
    """Who a valid token stands for: its name and role, and when it stops being valid."""

    token_id: int
    name: str
    role: Role
    expires_at: datetime | None


@dataclass(frozen=True)
class CreatedToken:
    """A new token, shown once: the database keeps only its digest."""

    token: str
    name: str
    role: Role
    expires_at: datetime | None


def token_digest(token: str) -> bytes:
    """The SHA-256 digest the database stores for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def create_token(
    connection: psycopg.Connection[DictRow],
    name: str,
    role: Role,
    expires_at: datetime | None = None,
) -> CreatedToken:
    """Create a token named ``name`` for ``role``; ``TokenError`` if the name is taken."""
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    parameters = {
        "name": name,
        "role": role,
        "token_sha256": token_digest(token),
        "prefix": token[:SHOWN_CHARACTERS],
        "expires_at": expires_at,
    }
    try:
        row = connection.execute(query("tokens_create"), parameters).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise TokenError(
            f"a token named {name!r} exists: revoke it first, or choose another name"
        ) from exc
    except psycopg.errors.CheckViolation as exc:
        raise TokenError(f"a token needs a name, not {name!r}") from exc
    assert row is not None
    return CreatedToken(token, row["name"], row["role"], row["expires_at"])


def list_tokens(
    connection: psycopg.Connection[DictRow], include_revoked: bool = False
) -> list[DictRow]:
    """Every token (its digest aside) with its state: active, expired or revoked."""
    return connection.execute(query("tokens_list"), {"include_revoked": include_revoked}).fetchall()


def revoke_token(connection: psycopg.Connection[DictRow], name: str) -> None:
    """Revoke the active token called ``name``; ``TokenError`` when there is none."""
    if connection.execute(query("tokens_revoke"), {"name": name}).fetchone() is None:
        raise TokenError(f"no active token named {name!r}")


def token_principal(connection: psycopg.Connection[DictRow], token: str) -> TokenPrincipal | None:
    """Who ``token`` stands for, or None when it is unknown, revoked or expired."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return principal_for_digest(connection, token_digest(token))


def principal_for_digest(
    connection: psycopg.Connection[DictRow], digest: bytes
) -> TokenPrincipal | None:
    """``token_principal`` for a token known by its digest (a session's)."""
    row = connection.execute(query("tokens_principal"), {"token_sha256": digest}).fetchone()
    if row is None:
        return None
    return TokenPrincipal(row["token_id"], row["name"], row["role"], row["expires_at"])


def tokens_active(connection: psycopg.Connection[DictRow]) -> bool:
    """Whether any token could sign in now."""
    row = connection.execute(query("tokens_active")).fetchone()
    return bool(row and row["active"])
