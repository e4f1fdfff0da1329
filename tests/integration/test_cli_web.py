"""`pgsched web`: loopback by default, and no other address until authentication is
set up. The server itself is not started: uvicorn.run is replaced by a recorder."""

from __future__ import annotations

from typing import Any

import pytest

from tests.commands import invoke, one_error_line
from tests.web import new_token


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def run(app: Any, **options: Any) -> None:
        calls.append({"settings": app.state.pgsched.settings, **options})

    monkeypatch.setattr("uvicorn.run", run)
    return calls


def test_it_listens_on_loopback_by_default_where_it_may_serve_before_any_token(
    database_url: str, served: list[dict[str, Any]]
) -> None:
    result = invoke(database_url, "web")
    assert result.exit_code == 0, result.output
    (call,) = served
    assert (call["host"], call["port"]) == ("127.0.0.1", 8080)
    assert call["settings"].open_on_loopback is True


def test_another_address_is_refused_until_authentication_is_set_up(
    database_url: str, served: list[dict[str, Any]]
) -> None:
    refused = invoke(database_url, "web", "--host", "0.0.0.0")
    assert "refusing to listen on 0.0.0.0: no authentication is set up" in one_error_line(refused)
    assert served == []
    behind_proxy = invoke(database_url, "web", "--host", "0.0.0.0", "--trusted-header", "X-User")
    assert behind_proxy.exit_code == 0, behind_proxy.output
    new_token(database_url, "admin", "first")
    with_token = invoke(database_url, "web", "--host", "::", "--port", "9000")
    assert with_token.exit_code == 0, with_token.output
    assert [(call["host"], call["settings"].open_on_loopback) for call in served] == [
        ("0.0.0.0", False),
        ("::", False),
    ]
