"""Shared fixtures: anyio on asyncio, settings on a temporary database, a sandbox on a manual clock."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
import pytest
from mcp import Client

from caller_mcp.settings import Settings
from caller_mcp.sandbox import ManualClock, create_app
from caller_mcp.mcp.server import build_server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "caller.sqlite3"


@pytest.fixture
def settings(db_path) -> Settings:
    """Sandbox settings (no ELEVENLABS_* variables) on a temporary database."""
    return Settings(_env_file=None, caller_mcp_db=db_path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox_app(clock):
    return create_app(clock=clock)


@pytest.fixture
def connect(settings, sandbox_app):
    """``async with connect() as client``: an in-memory MCP client on a server built on the sandbox."""

    @asynccontextmanager
    async def _connect(server_settings: Settings | None = None, transport=None):
        server = build_server(
            server_settings or settings, transport=transport or httpx.ASGITransport(app=sandbox_app)
        )
        async with Client(server, raise_exceptions=True) as client:
            yield client

    return _connect
