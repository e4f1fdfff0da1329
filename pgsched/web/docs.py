"""The browsable API reference: Swagger UI, vendored under ``static/swagger``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>pgsched HTTP API</title>
  <link rel="stylesheet" href="{css}">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
  <script src="{bundle}"></script>
  <script src="{init}"></script>
</body>
</html>
"""


def mount_api_docs(app: FastAPI, prefix: str) -> None:
    """Serve the reference at ``{prefix}/docs``, reading ``{prefix}/openapi.json``
    (wherever the application is mounted)."""

    @app.get(f"{prefix}/docs", include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        def static(path: str) -> str:
            return str(request.url_for("static", path=f"swagger/{path}"))

        root = request.scope.get("root_path", "")
        return HTMLResponse(
            PAGE.format(
                css=static("swagger-ui.css"),
                bundle=static("swagger-ui-bundle.js"),
                init=static("init.js"),
                openapi_url=f"{root}{prefix}/openapi.json",
            )
        )
