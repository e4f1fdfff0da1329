"""Who may see a page and press its buttons."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request

import pgsched.web.sessions as sessions
from pgsched.web.auth import require_admin, require_csrf
from pgsched.web.pages.rendering import PageContext, page_context
from pgsched.web.state import web_state


class SignInRequired(Exception):
    """The page needs a signed-in user: the answer is the sign-in page."""


async def _viewer(request: Request) -> PageContext:
    principal = await web_state(request).authenticator.page_principal(request)
    if principal is None:
        raise SignInRequired()
    return page_context(request, principal)


async def _changer(
    request: Request,
    context: Annotated[PageContext, Depends(_viewer)],
    csrf_token: Annotated[str | None, Form()] = None,
) -> PageContext:
    presented = csrf_token or request.headers.get(sessions.CSRF_HEADER)
    require_csrf(request, None if context.new_session else context.session, presented)
    require_admin(context.principal)
    return context


Viewer = Annotated[PageContext, Depends(_viewer)]
# A state change: signed in, same origin, the session's CSRF token, an admin.
Changer = Annotated[PageContext, Depends(_changer)]
