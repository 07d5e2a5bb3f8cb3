"""Where caller-mcp keeps its records: SQLite, the embedded default."""

from __future__ import annotations

import sqlite3

from ..errors import ConfigError
from ..settings import Settings
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


def open_store(settings: Settings) -> ThreadedStore:
    """The :class:`~caller_mcp.ports.Store` that ``settings`` names; nothing is opened until its
    first operation (which raises ``ConfigError`` as :func:`open_sqlite` does)."""
    return ThreadedStore(lambda: open_sqlite(settings))


__all__ = [
    "LOCAL_PRINCIPAL", "BatchRecord", "BusinessContext", "CallRecord", "RetryRecord", "SqliteStore", "ThreadedStore",
    "open_sqlite", "open_store",
]
