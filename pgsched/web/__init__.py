"""``pgsched web``: the dashboard and the HTTP API, one ASGI application.

``create_app(WebSettings(database_url=...))`` builds it, to serve with uvicorn (as
``pgsched web`` does) or to mount inside a host application. Needs the ``web``
extra: ``pip install 'pgsched[web]'``.
"""

from pgsched.web.app import create_app
from pgsched.web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]
