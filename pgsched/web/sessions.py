"""Signed session cookies and the CSRF token they carry.

A cookie is ``base64url(JSON) "." base64url(HMAC-SHA256)``: signed, not encrypted,
so it holds nothing secret: the digest of the token the user signed in with (the
server re-checks that token on every request, so revoking it ends the session),
a random CSRF token, and when the session ends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

COOKIE_NAME = "pgsched_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Session:
    """What a session cookie says: the signed-in token (by digest, hex), the CSRF
    token of forms, and the Unix time it ends."""

    token_sha256: str | None
    csrf: str
    expires_at: float

    @classmethod
    def start(cls, token_sha256: bytes | None, hours: int) -> Session:
        """A new session for a token (or, None, for a proxy or local user)."""
        digest = token_sha256.hex() if token_sha256 is not None else None
        return cls(digest, secrets.token_urlsafe(24), float(int(time.time()) + hours * 3600))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def encode(session: Session, secret: bytes) -> str:
    """The cookie value of ``session``."""
    body = {"t": session.token_sha256, "c": session.csrf, "e": int(session.expires_at)}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode("utf-8"))
    return f"{payload}.{_signature(secret, payload)}"


def decode(value: str | None, secret: bytes) -> Session | None:
    """The session a cookie value holds, or None if it is missing, forged or over."""
    if not value or value.count(".") != 1:
        return None
    payload, signature = value.split(".")
    if not hmac.compare_digest(signature, _signature(secret, payload)):
        return None
    try:
        body = json.loads(_unb64(payload))
        session = Session(body["t"], str(body["c"]), float(body["e"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    return session if session.expires_at > time.time() else None


def csrf_matches(session: Session | None, presented: str | None) -> bool:
    """Whether a form's or header's CSRF token is the session's."""
    return bool(session and presented and hmac.compare_digest(session.csrf, presented))
