"""A Sanic app served for real on a free local port, for tests of the Rasa-side servers."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sanic import Sanic


@asynccontextmanager
async def serving(app: Sanic, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """Start `app` on 127.0.0.1 and yield its base URL; stop it on exit."""
    # Sanic rewrites its request handler on each start; test mode lets it start again.
    monkeypatch.setattr(Sanic, "test_mode", True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        try:
            yield base_url
        finally:
            await server.before_stop()
            server.close()
            await server.wait_closed()
            await server.after_stop()
