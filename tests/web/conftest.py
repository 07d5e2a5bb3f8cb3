"""Serving the HTTP app for real on 127.0.0.1, and clients that talk to it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from caller_mcp.settings import Settings
from caller_mcp.web.app import WebApp, create_app
from caller_mcp.web.tokens import create_token


@contextmanager
def serving(make: Callable[[int], WebApp]) -> Iterator[str]:
    """Serve ``make(port)`` with uvicorn on 127.0.0.1 in a thread; yields the base URL.

    The socket is bound and listening before the server starts, so a client can connect at once
    (its connection waits in the backlog until the server accepts it): no polling for readiness.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    web = make(port)
    server = uvicorn.Server(uvicorn.Config(web.app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


@asynccontextmanager
async def mcp_client(url: str, token: str | None = None, **headers: str):
    """An SDK client session over streamable HTTP to ``url``/mcp, with a bearer token if given."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30)) as http:
        async with Client(streamable_http_client(url + "/mcp", http_client=http)) as client:
            yield client


@pytest.fixture
def tokens_file(tmp_path):
    return tmp_path / "tokens"


@pytest.fixture
def make_token(tokens_file):
    """``make_token("alice")`` → a new token for alice in the test's tokens file."""
    return lambda name: create_token(name, tokens_file)


@pytest.fixture
def web_settings(db_path, tokens_file) -> Settings:
    """Sandbox settings with static tokens (the file must hold a token before the app is built)."""
    return Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_tokens_file=tokens_file)


@pytest.fixture
def build_web(sandbox_app):
    """``serving(build_web(settings))``: the HTTP app on the shared sandbox (manual clock)."""
    return lambda settings, **kw: lambda port: create_app(
        settings, port=port, transport=httpx.ASGITransport(app=sandbox_app), **kw
    )
