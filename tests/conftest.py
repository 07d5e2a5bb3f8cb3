"""Shared fixtures: anyio on asyncio, settings on a temporary database, a sandbox on a manual clock."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
import pytest
from mcp import Client

from caller_mcp.settings import Settings
from caller_mcp.sandbox import ManualClock, create_app
from caller_mcp.mcp.server import build_server


@pytest.fixture(autouse=True, scope="session")
def own_user_data_dir(tmp_path_factory):
    """The default database (``platformdirs``' user data dir) lives in a temporary folder for the
    whole run, servers started as subprocesses included: no test reads or changes the real one."""
    import os

    saved = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    yield
    if saved is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = saved


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


#: Where the PostgreSQL tests run: the development and CI machines' server (trust auth).
PG_BASE = __import__("os").environ.get("CALLER_MCP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url():
    """A PostgreSQL URL on a fresh, empty schema of the test server (dropped afterwards); the
    test is skipped, saying how to run it, when no server answers."""
    import uuid

    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_BASE, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(
            f"PostgreSQL is not reachable at {PG_BASE} ({str(exc).strip().splitlines()[0]}). Start a server "
            "(trust auth, database test) on 127.0.0.1:5432 — .ci/run does — or set CALLER_MCP_TEST_PG."
        )
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{PG_BASE}{'&' if '?' in PG_BASE else '?'}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
