"""The browsable API reference: Swagger UI, vendored under ``static/swagger``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>pgsched HTTP API</title>
  <link rel="stylesheet" href="/static/swagger/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
  <script src="/static/swagger/swagger-ui-bundle.js"></script>
  <script src="/static/swagger/init.js"></script>
</body>
</html>
"""


def mount_api_docs(app: FastAPI, prefix: str) -> None:
    """Serve the reference at ``{prefix}/docs``, reading ``{prefix}/openapi.json``."""
    page = PAGE.format(openapi_url=f"{prefix}/openapi.json")

    @app.get(f"{prefix}/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(page)
