"""A real Chromium for the dashboard's browser tests, and a real server for it to visit.

The browser is Debian's ``chromium`` (browser downloads are not possible here),
driven by Playwright through ``executable_path``. ``.ci/run`` installs it; in CI a
missing browser fails the tests, elsewhere it skips them saying how to install it.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from pgsched.web import WebSettings, create_app

BROWSER_ENV = "PGSCHED_CHROMIUM"


def chromium_path() -> str:
    """Where Chromium is: ``$PGSCHED_CHROMIUM``, else ``chromium`` on PATH."""
    found = (
        os.environ.get(BROWSER_ENV) or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if found:
        return found
    message = "no Chromium: apt-get install -y chromium (or set PGSCHED_CHROMIUM)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(settings: WebSettings) -> Iterator[str]:
    """``pgsched web``'s application served by uvicorn in a thread; its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
