"""Where caller-mcp keeps its records: SQLite, the embedded default."""

from __future__ import annotations

import sqlite3

from ..errors import ConfigError
from ..settings import Settings
from .records import BatchRecord, BusinessContext, CallRecord
from .sqlite import SqliteStore





def open_store(settings: Settings) -> SqliteStore:
    """Open the store that ``settings`` names (``CALLER_MCP_DB``, else the user data directory).

    Raises:
        ConfigError: the database cannot be opened or created; the message says what to set.
    """
    where = settings.caller_mcp_db or "the user data directory"
    try:
        return SqliteStore(settings.database_path())
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(
            f"Cannot open the call database at {where}: {exc}. Set CALLER_MCP_DB to a writable file path."
        ) from exc


__all__ = ["BatchRecord", "BusinessContext", "CallRecord", "SqliteStore", "open_store"]
