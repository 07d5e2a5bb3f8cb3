"""PostgreSQL persistence (psycopg 3 with a ``psycopg_pool`` connection pool): the same records,
queries, migrations and guards as :mod:`.sqlite`, for several replicas sharing one database.

:class:`PostgresStore` is the SQLite store's queries run on PostgreSQL: its connection is a small
adapter (:class:`PgConnection`) that speaks the part of ``sqlite3``'s interface the store uses
and translates each statement's dialect at one boundary — ``?`` and ``:name`` placeholders,
``IS NOT`` between values (``IS DISTINCT FROM``), ``INSERT OR IGNORE`` (``ON CONFLICT DO NOTHING``)
— so one set of queries serves both engines and cannot drift apart. What differs is stated here:

- ``BEGIN IMMEDIATE`` (SQLite's one writer) becomes ``BEGIN`` plus a transaction-scoped advisory
  lock (:data:`GUARD_LOCK`): the guard transactions of every replica run one at a time, and each
  statement after the lock sees what the previous holder committed (READ COMMITTED), so the
  redial guard, the caps and the batch guards decide as one, across machines.
- The schema is :mod:`.migrations`' with PostgreSQL types, applied under a second advisory lock,
  plus a ``rowid`` identity column where queries order by insertion.
- A row left in flight by another replica cannot be probed by pid (it may be another machine):
  it is taken as interrupted only once older than ``STALE_IN_FLIGHT_SECS``.
- Outcomes the server refuses (a lost connection, a pool that cannot get one, a server in
  recovery) are kept in a journal file of this machine, ``outcomes/<digest of the URL>-outcomes.jsonl``
  in the per-user data directory (``platformdirs``), as the SQLite store keeps one beside its
  file: replayed when a store on this URL opens, before each outcome write and before reads.
- Version 10's move of ``batches.recipients_json`` into ``batch_recipients`` uses
  ``jsonb_array_elements`` and ``DROP COLUMN`` instead of SQLite's ``json_each`` and rebuild.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from .journal import OutcomeJournal
from .migrations import _ADDED_COLUMNS, _INDEXES, _SCHEMA, SCHEMA_VERSION
from .sqlite import _LIVE_OWNERS, STALE_IN_FLIGHT_SECS, SqliteStore
from .runs import TEST_RUN_COLUMNS, TEST_RUN_INDEXES, TEST_RUN_SCHEMA

#: ``pg_advisory_xact_lock`` keys: the guard transactions, and migrations at start-up.
GUARD_LOCK = 0x63616C6C  # "call"
MIGRATION_LOCK = 0x6D696772  # "migr"
#: Tables whose queries order by ``rowid`` (SQLite's implicit row number).
_ROWID_TABLES = ("calls", "batches", "test_runs")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_IS_NOT_VALUE = re.compile(r"\bIS NOT (?!NULL\b)", re.IGNORECASE)
#: Version 10 (see :data:`~.migrations.MOVE_RECIPIENTS_SQLITE`) in PostgreSQL's JSON functions.
MOVE_RECIPIENTS_PG = (
    "INSERT INTO batch_recipients (local_id, seq, phone_number, scenario, recipient_id, overrides) "
    "SELECT b.local_id, r.ordinality - 1, COALESCE(r.value->>'phone_number', ''), r.value->>'scenario', "
    "r.value->>'id', r.value->>'overrides' "
    "FROM batches AS b, jsonb_array_elements(b.recipients_json::jsonb) WITH ORDINALITY AS r(value, ordinality)"
)
_OR_IGNORE = re.compile(r"INSERT OR IGNORE INTO (.*)", re.IGNORECASE | re.DOTALL)


def pg_sql(sql: str) -> str:
    """One of the store's SQLite statements in PostgreSQL's dialect (see the module docstring)."""
    sql = sql.replace("%", "%%")
    if (ignore := _OR_IGNORE.match(sql.strip())) is not None:
        sql = f"INSERT INTO {ignore.group(1)} ON CONFLICT DO NOTHING"
    sql = _IS_NOT_VALUE.sub("IS DISTINCT FROM ", sql)
    sql = _NAMED.sub(r"%(\1)s", sql)
    return sql.replace("?", "%s")


def pg_schema(script: str) -> list[str]:
    """A SQLite ``CREATE`` script as PostgreSQL statements (REAL → DOUBLE PRECISION, INTEGER → BIGINT)."""
    script = re.sub(r"\bREAL\b", "DOUBLE PRECISION", script)
    script = re.sub(r"\bINTEGER\b", "BIGINT", script)
    return [statement.strip() for statement in script.split(";") if statement.strip()]


class Row(dict):
    """A result row readable by column name and by position, as ``sqlite3.Row`` is (``rowid`` hidden)."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int):
            return list(self.values())[key]
        return super().__getitem__(key)


class Result:
    """The fully read result of one statement (rows fetched before the connection goes back)."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Row]:
        return self._rows

    def __iter__(self):  # noqa: ANN204 - like a sqlite3 cursor
        return iter(self._rows)


def _row_factory(cursor: psycopg.Cursor[Any]) -> Any:
    names = [column.name for column in cursor.description or ()]

    def make(values: Any) -> Row:
        return Row((name, value) for name, value in zip(names, values, strict=True) if name != "rowid")

    return make


class PgConnection:
    """The part of ``sqlite3.Connection`` the store uses, over a psycopg pool.

    Outside a transaction each statement borrows a connection (autocommit); ``BEGIN`` holds one
    until ``COMMIT`` or ``ROLLBACK``, and ``BEGIN IMMEDIATE`` also takes :data:`GUARD_LOCK`.
    Used by one thread at a time (the :class:`~.threaded.ThreadedStore` worker). Integrity errors
    are raised as ``sqlite3.IntegrityError``, as the store's queries expect.
    """

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self._held: psycopg.Connection[Any] | None = None
        self.total_changes = 0

    def _run(self, conn: psycopg.Connection[Any], sql: str, params: Any, many: bool) -> Result:
        with conn.cursor(row_factory=_row_factory) as cursor:
            try:
                if many:
                    cursor.executemany(pg_sql(sql), params)
                else:
                    cursor.execute(pg_sql(sql), params)
            except psycopg.errors.IntegrityError as exc:
                raise sqlite3.IntegrityError(str(exc)) from exc
            rows = cursor.fetchall() if cursor.description else []
            count = max(cursor.rowcount, 0)
        if not rows and cursor.description is None:  # as sqlite3's total_changes: writes only
            self.total_changes += count
        return Result(rows, count)

    def _statement(self, sql: str, params: Any = (), many: bool = False) -> Result:
        word = sql.strip().upper()
        if word in ("BEGIN", "BEGIN IMMEDIATE"):
            self._held = self.pool.getconn()
            self._held.execute("BEGIN")
            if word == "BEGIN IMMEDIATE":
                self._held.execute("SELECT pg_advisory_xact_lock(%s)", (GUARD_LOCK,))
            return Result([], 0)
        if word in ("COMMIT", "ROLLBACK"):
            held, self._held = self._held, None
            if held is not None:
                try:
                    held.execute(word)
                finally:
                    self.pool.putconn(held)
            return Result([], 0)
        if self._held is not None:
            return self._run(self._held, sql, params, many)
        with self.pool.connection() as conn:
            return self._run(conn, sql, params, many)

    def execute(self, sql: str, params: Any = ()) -> Result:
        """Run one statement (SQLite dialect) and return its read result."""
        return self._statement(sql, params)

    def executemany(self, sql: str, rows: Any) -> Result:
        """Run one statement for each parameter set."""
        return self._statement(sql, list(rows), many=True)

    def close(self) -> None:
        """Close the pool (a transaction still held is rolled back)."""
        if self._held is not None:
            self._statement("ROLLBACK")
        self.pool.close()


def migrate_pg(db: PgConnection) -> None:
    """Bring the database to :data:`~.migrations.SCHEMA_VERSION` with :mod:`.migrations`' own
    tables, added columns and index statements, one replica at a time (an advisory lock)."""
    db.execute("BEGIN")
    try:
        db.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        for statement in pg_schema(_SCHEMA) + pg_schema(TEST_RUN_SCHEMA):
            db.execute(statement)
        for table in _ROWID_TABLES:
            db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS rowid BIGINT GENERATED BY DEFAULT AS IDENTITY")
        for table, added in {**_ADDED_COLUMNS, **TEST_RUN_COLUMNS}.items():
            for column, kind in added:
                db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {pg_schema(kind)[0]}")
        if db.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'batches' AND column_name = 'recipients_json'"
        ).fetchone():
            db.execute(MOVE_RECIPIENTS_PG)
            db.execute("ALTER TABLE batches DROP COLUMN recipients_json")
        for statement in (*_INDEXES, *TEST_RUN_INDEXES):
            db.execute(statement)
        db.execute("CREATE TABLE IF NOT EXISTS caller_mcp_schema (id BIGINT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)")
        db.execute(
            "INSERT INTO caller_mcp_schema (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            (SCHEMA_VERSION,),
        )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class PostgresStore(SqliteStore):
    """The store on PostgreSQL (see the module docstring): every query of :class:`SqliteStore`.

    Args:
        url: ``postgresql://user@host:port/database`` (``CALLER_MCP_DB``).
        max_connections: the pool's size (the store runs one statement at a time per process).
        journal_dir: where refused outcomes are kept (:func:`journal_path`; default: the user data directory).
    Raises:
        psycopg.Error: the server cannot be reached or the database cannot be migrated.
    """

    #: A lost or refused connection (``OperationalError``: the server went away, is starting or
    #: shutting down; ``InterfaceError``: the connection is closed; ``PoolTimeout``: none could be
    #: had): a later write may get through, so the journal keeps the outcome meanwhile.
    refusals = (sqlite3.OperationalError, psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)

    def __init__(self, url: str, *, max_connections: int = 2, journal_dir: str | Path | None = None) -> None:  # noqa: D107
        self.path = _without_password(url)
        self.journal = OutcomeJournal(journal_path(url, journal_dir))
        self._replaying = False
        pool = ConnectionPool(
            url, min_size=1, max_size=max_connections, kwargs={"autocommit": True}, open=False,
            check=ConnectionPool.check_connection, name="caller-mcp",
        )
        pool.open(wait=True, timeout=10)
        self._db = PgConnection(pool)  # type: ignore[assignment]
        try:
            migrate_pg(self._db)  # type: ignore[arg-type]
        except BaseException:
            pool.close()
            raise
        self.owner = uuid.uuid4().hex
        _LIVE_OWNERS.add(self.owner)
        self._replay_on_open()
        self.recover_interrupted()

    @staticmethod
    def _writer_alive(pid: int | None, owner: str | None, created_at: float) -> bool:
        """Another replica may be on another machine: its pid says nothing here. A row of a store
        open in this process is alive while it is open; any other is taken as interrupted only
        once it is older than any request can take."""
        if owner in _LIVE_OWNERS:
            return True
        return time.time() - created_at < STALE_IN_FLIGHT_SECS


def journal_path(url: str, directory: str | Path | None = None) -> Path:
    """Where this machine keeps the outcomes the PostgreSQL database at ``url`` refused:
    ``<directory>/<sha256 of the URL without its password, 16 hex digits>-outcomes.jsonl``;
    ``directory`` defaults to ``outcomes/`` in the per-user data directory (``platformdirs``).
    Every store on the same server, database and user shares the file (appends and replays lock
    it); the folder is made on the first append."""
    if directory is None:
        from platformdirs import user_data_path

        directory = user_data_path("caller-mcp", appauthor=False) / "outcomes"
    digest = hashlib.sha256(_without_password(url).encode()).hexdigest()[:16]
    return Path(directory) / f"{digest}-outcomes.jsonl"


def _without_password(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and ``path``)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def is_postgres_url(value: object) -> bool:
    """True for ``postgresql://…`` and ``postgres://…`` (``CALLER_MCP_DB``)."""
    return isinstance(value, str) and value.startswith(("postgresql://", "postgres://"))
