"""Where caller-mcp keeps its records: SQLite, the embedded default."""

from __future__ import annotations

import sqlite3

from ..errors import ConfigError
from ..settings import Settings
from .journal import RecordPending
from .migrations import ForeignDatabase
from .records import BatchRecord, BusinessContext, CallRecord, RetryRecord
from .sqlite import LOCAL_PRINCIPAL, SqliteStore
from .threaded import ThreadedStore


def open_sqlite(settings: Settings) -> SqliteStore:
    """Open the SQLite store that ``settings`` names (``CALLER_MCP_DB``, else the user data
    directory). Blocking: :func:`open_store` calls it on the store's worker thread.

    Raises:
        ConfigError: the database cannot be opened or created; the message says what to set.
    """
    where = settings.caller_mcp_db or "the user data directory"
    try:
        return SqliteStore(settings.database_path())
    except ForeignDatabase as exc:
        raise ConfigError(
            f"Refusing the call database at {where}: {exc}. Set CALLER_MCP_DB to a new file path "
            "or to a caller-mcp database."
        ) from exc
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(
            f"Cannot open the call database at {where}: {exc}. Set CALLER_MCP_DB to a writable file path."
        ) from exc


def open_postgres(url: str) -> SqliteStore:
    """Open the PostgreSQL store at ``url`` (``CALLER_MCP_DB=postgresql://…``). Blocking.

    Raises:
        ConfigError: the server cannot be reached or the database cannot be migrated; the message
            names the URL without its password.
    """
    import psycopg
    from psycopg_pool import PoolTimeout

    from .postgres import PostgresStore, _without_password

    try:
        return PostgresStore(url)
    except (psycopg.Error, PoolTimeout) as exc:
        raise ConfigError(
            f"Cannot open the PostgreSQL database {_without_password(url)}: {str(exc).strip() or type(exc).__name__}. "
            "Check that the server is up and CALLER_MCP_DB names a database this user may write."
        ) from exc


def open_store(settings: Settings) -> ThreadedStore:
    """The :class:`~caller_mcp.ports.Store` that ``settings`` names (PostgreSQL for a
    ``postgresql://`` ``CALLER_MCP_DB``, else SQLite); nothing is opened until its first
    operation (which raises ``ConfigError`` as :func:`open_sqlite` or :func:`open_postgres` does)."""
    url = settings.database_url()
    if url is not None:
        return ThreadedStore(lambda: open_postgres(url))
    return ThreadedStore(lambda: open_sqlite(settings))


__all__ = [
    "LOCAL_PRINCIPAL", "BatchRecord", "BusinessContext", "CallRecord", "RetryRecord", "SqliteStore", "ThreadedStore",
    "RecordPending", "open_postgres", "open_sqlite", "open_store",
]
