"""Who is asking: bearer tokens for the API; for the dashboard a session cookie, a
header from a trusted reverse proxy, or (on loopback, before any token exists) the
local user. And the checks that keep a browser's credentials from being used by
another site: an Origin check and a CSRF token on every state change.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

import pgsched.web.sessions as sessions
from pgsched.catalog.tokens import TOKEN_PREFIX, TokenPrincipal, token_digest
from pgsched.web.database import WebDatabase
from pgsched.web.principals import Principal
from pgsched.web.problems import Problem, forbidden, unauthorized
from pgsched.web.settings import WebSettings, is_loopback_host

# Query parameters a client might put a token in: refused outright, since URLs end
# up in logs, browser history and Referer headers.
TOKEN_PARAMETERS = frozenset({"token", "access_token", "api_key", "apikey", "bearer"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Headers a reverse proxy adds: a request bearing one came from elsewhere, whatever
# its peer address says, so it is never the local user.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip", "via")


class Authenticator:
    """Turns a request into a ``Principal``, or refuses it."""

    def __init__(self, settings: WebSettings, database: WebDatabase) -> None:
        self.settings = settings
        self.database = database

    async def api_principal(self, request: Request) -> Principal:
        """The principal of an API request: a bearer token; else, as for pages, a
        trusted proxy's user or the local user (state changes then need a matching
        Origin). A session cookie is never enough for the API."""
        if TOKEN_PARAMETERS & {name.lower() for name in request.query_params}:
            raise Problem(
                400,
                "Token in the URL",
                "tokens are accepted only in the Authorization header "
                "(Authorization: Bearer TOKEN), never in a query string",
                kind="token-in-url",
            )
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise unauthorized("send the token as: Authorization: Bearer TOKEN")
            found = await self.token(token.strip())
            if found is None:
                raise unauthorized("the token is unknown, revoked or expired")
            return principal_of(found)
        principal = await self.ambient_principal(request)
        if principal is None:
            raise unauthorized("send a token: Authorization: Bearer TOKEN")
        if request.method not in SAFE_METHODS:
            require_same_origin(request, required=False)
        return principal

    async def page_principal(self, request: Request) -> Principal | None:
        """The principal of a dashboard request, or None (the page asks to sign in)."""
        principal = await self.ambient_principal(request)
        if principal is not None:
            return principal
        session = self.session(request)
        if session is None or session.token_sha256 is None:
            return None
        found = await self.token_by_digest(bytes.fromhex(session.token_sha256))
        return principal_of(found) if found else None

    async def ambient_principal(self, request: Request) -> Principal | None:
        """A trusted proxy's user, or the local user while authentication is off."""
        settings = self.settings
        if settings.trusted_header:
            user = request.headers.get(settings.trusted_header, "").strip()
            if user and self._from_trusted_proxy(request):
                admin = user in settings.trusted_header_admins
                return Principal(user, "admin" if admin else settings.trusted_header_role, "proxy")
            return None
        if settings.open_on_loopback and _is_local_request(request):
            active = await run_in_threadpool(self.database.tokens_active)
            if not active:
                return Principal("local", "admin", "local")
        return None

    async def token(self, token: str) -> TokenPrincipal | None:
        """Who a presented token stands for, or None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        return await self.token_by_digest(token_digest(token))

    async def token_by_digest(self, digest: bytes) -> TokenPrincipal | None:
        """Who a token known by its digest stands for; the database only on a cache miss."""
        known, found = self.database.cached_token(digest)
        if known:
            return found
        return await run_in_threadpool(self.database.token_principal, digest)

    def session(self, request: Request) -> sessions.Session | None:
        """The request's valid session, if any."""
        return sessions.decode(
            request.cookies.get(sessions.COOKIE_NAME), self.settings.session_secret
        )

    def _from_trusted_proxy(self, request: Request) -> bool:
        return from_trusted_proxy(request, self.settings)


def from_trusted_proxy(request: Request, settings: WebSettings) -> bool:
    """Whether the request's peer is one of the trusted reverse proxies."""
    if request.client is None:
        return False
    try:
        peer = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(peer in network for network in settings.trusted_proxies)


def public_host(request: Request, settings: WebSettings) -> str:
    """The host the browser addressed: ``X-Forwarded-Host`` when a trusted proxy
    passed the request on (it may have rewritten ``Host``), else ``Host``."""
    forwarded = request.headers.get("x-forwarded-host")
    if forwarded and from_trusted_proxy(request, settings):
        return forwarded.split(",")[0].strip()
    return request.headers.get("host", "")


def served_over_https(request: Request, settings: WebSettings) -> bool:
    """Whether the browser speaks HTTPS to us, directly or to a trusted proxy."""
    if request.url.scheme == "https":
        return True
    proto = request.headers.get("x-forwarded-proto", "")
    return proto.split(",")[0].strip() == "https" and from_trusted_proxy(request, settings)


def principal_of(token: TokenPrincipal) -> Principal:
    """The principal a valid token stands for."""
    return Principal(token.name, token.role, "token")


def _is_local_request(request: Request) -> bool:
    """A request from this machine to a loopback name, not passed on by a proxy: a web
    page elsewhere cannot reach the server through a DNS name that resolves to
    127.0.0.1 (rebinding), nor a visitor through a reverse proxy on this host."""
    host = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
    client = request.client.host if request.client else ""
    forwarded = any(name in request.headers for name in FORWARDING_HEADERS)
    return is_loopback_host(host) and is_loopback_host(client) and not forwarded


def require_same_origin(request: Request, *, required: bool) -> None:
    """Refuse a state change that another site's page started: its Origin (or
    Referer) must name this server's host (as the browser addressed it). Without
    either, refuse only if ``required`` (browsers send Origin with every POST; scripts
    need not)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        if required or origin == "null":
            raise forbidden("the request does not say which page sent it (no Origin header)")
        return
    host = public_host(request, request.app.state.pgsched.settings)
    if urlsplit(origin).netloc.lower() != host.lower():
        raise forbidden(f"cross-site request refused: it came from {origin}")


def require_csrf(request: Request, session: sessions.Session | None, presented: str | None) -> None:
    """A dashboard state change: same origin, and the session's CSRF token."""
    require_same_origin(request, required=True)
    if not sessions.csrf_matches(session, presented):
        raise forbidden("the form is stale or was not sent by this dashboard: reload the page")


def require_admin(principal: Principal) -> None:
    """Refuse what a reader may not do before the database has to."""
    if not principal.is_admin:
        raise forbidden(f"{principal.actor} is a reader: changing jobs needs an admin token")
