"""API tokens of ``pgsched web``: create, list, revoke, and find who presents one.

A token is ``pgs_`` and 43 URL-safe characters (256 random bits). The database keeps
only its SHA-256 digest and its first characters, to recognise it in a list.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypedDict

import psycopg

from pgsched.catalog.sessions import Connection, fetch_all, fetch_one, fetch_single
from pgsched.errors import PgschedError

TOKEN_PREFIX = "pgs_"
# Characters of a token kept in clear, the "pgs_" included: enough to tell tokens apart.
SHOWN_CHARACTERS = 10
Role = Literal["reader", "admin"]
ROLES: tuple[Role, ...] = ("reader", "admin")


class TokenError(PgschedError):
    """The API token cannot be created or changed."""


class TokenRow(TypedDict):
    """A token as ``pgsched tokens list`` shows it (never its digest)."""

    name: str
    role: Role
    prefix: str
    state: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class _Principal(TypedDict):
    token_id: int
    name: str
    role: Role
    expires_at: datetime | None


class _Created(TypedDict):
    name: str
    role: Role
    expires_at: datetime | None


class _Revoked(TypedDict):
    id: int


class _Active(TypedDict):
    active: bool


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
    connection: Connection, name: str, role: Role, expires_at: datetime | None = None
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
        row = fetch_single(connection, "tokens_create", parameters, row=_Created)
    except psycopg.errors.UniqueViolation as exc:
        raise TokenError(
            f"a token named {name!r} exists: revoke it first, or choose another name"
        ) from exc
    except psycopg.errors.CheckViolation as exc:
        raise TokenError(f"a token needs a name, not {name!r}") from exc
    return CreatedToken(token, row["name"], row["role"], row["expires_at"])


def list_tokens(connection: Connection, include_revoked: bool = False) -> list[TokenRow]:
    """Every token (its digest aside) with its state: active, expired or revoked."""
    return fetch_all(connection, "tokens_list", {"include_revoked": include_revoked}, row=TokenRow)


def revoke_token(connection: Connection, name: str) -> None:
    """Revoke the active token called ``name``; ``TokenError`` when there is none."""
    if fetch_one(connection, "tokens_revoke", {"name": name}, row=_Revoked) is None:
        raise TokenError(f"no active token named {name!r}")


def token_principal(connection: Connection, token: str) -> TokenPrincipal | None:
    """Who ``token`` stands for, or None when it is unknown, revoked or expired."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return principal_for_digest(connection, token_digest(token))


def principal_for_digest(connection: Connection, digest: bytes) -> TokenPrincipal | None:
    """``token_principal`` for a token known by its digest (a session's)."""
    row = fetch_one(connection, "tokens_principal", {"token_sha256": digest}, row=_Principal)
    if row is None:
        return None
    return TokenPrincipal(row["token_id"], row["name"], row["role"], row["expires_at"])


def tokens_active(connection: Connection) -> bool:
    """Whether any token could sign in now."""
    return bool(fetch_single(connection, "tokens_active", row=_Active)["active"])
