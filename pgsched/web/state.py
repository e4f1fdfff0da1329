"""What every route reaches through the request: the settings, the database, the
authenticator. One per application, so several can live in one process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pgsched.web.auth import Authenticator
from pgsched.web.database import WebDatabase
from pgsched.web.principals import Principal
from pgsched.web.settings import WebSettings

# Declares the scheme in the OpenAPI document; Authenticator does the checking.
BEARER = HTTPBearer(auto_error=False, description="An API token: `pgsched tokens create`.")


@dataclass(frozen=True)
class WebState:
    """One application's settings, database and authenticator."""

    settings: WebSettings
    database: WebDatabase
    authenticator: Authenticator


def web_state(request: Request) -> WebState:
    """The application's state."""
    return cast(WebState, request.app.state.pgsched)


async def _api_principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> Principal:
    return await web_state(request).authenticator.api_principal(request)


ApiPrincipal = Annotated[Principal, Depends(_api_principal)]
