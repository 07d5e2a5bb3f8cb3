"""The store's schema and its migrations, applied on every open.

Tables are created if missing; columns added after the first release are added to databases
that lack them; indexes are created if missing (version 4: the history queries stop reading all
rows; version 5: test runs, their units and verdicts; version 6: call overrides, recipient ids
and costs; version 7: the principal of every call and batch, a business context per principal,
the last pushed report of a call, and the webhook events already applied; version 8: the principal
of every test run; version 9: the provider's own call id when a webhook names it apart from the
conversation id; version 10: a batch's recipients in their own table, ``batch_recipients``,
instead of a JSON column on its ``batches`` row — that row stays small, so reading a batch's
principal or status, or updating its status, no longer walks megabytes at 50,000 recipients;
older databases have their rows moved on open). ``PRAGMA user_version`` records the version a database was last opened with;
``PRAGMA application_id`` marks the file as caller-mcp's, and a file that is someone else's is
refused before anything is written to it.
"""

from __future__ import annotations

import sqlite3

from .runs import TEST_RUN_COLUMNS, TEST_RUN_INDEXES, TEST_RUN_SCHEMA

SCHEMA_VERSION = 10

_SCHEMA = """
CREATE TABLE IF NOT EXISTS business_context (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    description TEXT NOT NULL,
    scenario    TEXT,
    updated_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    call_id              TEXT PRIMARY KEY,
    created_at           REAL NOT NULL,
    updated_at           REAL NOT NULL,
    provider             TEXT NOT NULL,
    to_number            TEXT NOT NULL,
    scenario             TEXT NOT NULL,
    business_description TEXT NOT NULL,
    status               TEXT NOT NULL,
    phone_provider       TEXT,
    conversation_id      TEXT,
    call_sid             TEXT,
    error                TEXT,
    owner                TEXT,
    pid                  INTEGER
);
CREATE INDEX IF NOT EXISTS calls_created ON calls (created_at);
CREATE INDEX IF NOT EXISTS calls_number ON calls (to_number, created_at);
CREATE INDEX IF NOT EXISTS calls_conversation ON calls (conversation_id);
CREATE TABLE IF NOT EXISTS batches (
    local_id              TEXT PRIMARY KEY,
    batch_id              TEXT UNIQUE,
    created_at            REAL NOT NULL,
    updated_at            REAL NOT NULL,
    provider              TEXT NOT NULL,
    name                  TEXT NOT NULL,
    status                TEXT NOT NULL,
    total_recipients      INTEGER NOT NULL,
    scheduled_time_unix   INTEGER,
    error                 TEXT,
    owner                 TEXT,
    pid                   INTEGER
);
CREATE TABLE IF NOT EXISTS batch_recipients (
    local_id     TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    phone_number TEXT NOT NULL,
    scenario     TEXT,
    recipient_id TEXT,
    overrides    TEXT,
    PRIMARY KEY (local_id, seq)
);
CREATE TABLE IF NOT EXISTS principal_context (
    principal   TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    scenario    TEXT,
    updated_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_events (
    provider    TEXT NOT NULL,
    event_key   TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (provider, event_key)
);
CREATE TABLE IF NOT EXISTS batch_retries (
    retry_id    TEXT PRIMARY KEY,
    batch_id    TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    recipients  INTEGER NOT NULL,
    status      TEXT NOT NULL,
    error       TEXT,
    owner       TEXT,
    pid         INTEGER
);
"""
#: Columns added after the first release, created on open in databases that lack them.
_ADDED_COLUMNS = {
    "calls": (
        ("owner", "TEXT"),
        ("pid", "INTEGER"),
        ("batch_id", "TEXT"),
        ("provider_status", "TEXT"),
        ("outcome", "TEXT"),
        ("termination_reason", "TEXT"),
        ("duration_secs", "REAL"),
        ("started_at", "REAL"),
        # Issue 12: the call's controls (JSON of CallOverrides.as_dict), the batch recipient's own
        # id, and what the provider said it cost (cost in cost_unit; cost_usd where reported).
        ("overrides", "TEXT"),
        ("recipient_id", "TEXT"),
        ("cost", "REAL"),
        ("cost_unit", "TEXT"),
        ("cost_usd", "REAL"),
        # Issue 13: who placed it (a token's principal; 'local' over stdio), and the last
        # report a signed webhook pushed (JSON of CallReport), which get_call answers from.
        ("principal", "TEXT"),
        ("report_json", "TEXT"),
        # Version 9: TalkifAI's callId, learnt from its webhooks (its outbound call names a room).
        ("provider_call_id", "TEXT"),
    ),
    # Issue 13: principal; issue 9: the batch duplicate guard's key (recipients as a set, scenarios, scripts).
    "batches": (("owner", "TEXT"), ("pid", "INTEGER"), ("principal", "TEXT"), ("recipients_key", "TEXT")),
}
#: Indexes created on open, after the added columns they cover (CREATE ... IF NOT EXISTS, so an
#: older database gains them the first time this version opens it; a large one takes a moment once).
#: Each serves a query that otherwise reads every call as history grows (issue 10):
_INDEXES = (
    # list_calls(status=...), alone or with since, newest first; recover_interrupted ('dialling').
    "CREATE INDEX IF NOT EXISTS calls_status ON calls (status, created_at)",
    # dials_since: the direct calls (batch_id IS NULL) of the last hour, without reading every
    # direct call ever made. Replaces calls_batch (batch_id), which it covers.
    "CREATE INDEX IF NOT EXISTS calls_batch_created ON calls (batch_id, created_at)",
    "DROP INDEX IF EXISTS calls_batch",
    # dials_since's batch and retry parts; list_batches; recover_interrupted.
    "CREATE INDEX IF NOT EXISTS batches_created ON batches (created_at)",
    "CREATE INDEX IF NOT EXISTS batches_status ON batches (status)",
    "CREATE INDEX IF NOT EXISTS batch_retries_created ON batch_retries (created_at)",
    "CREATE INDEX IF NOT EXISTS batch_retries_status ON batch_retries (status)",
    # Version 7: rows written before principals were the local user's; list_calls and
    # list_batches show a principal's own, newest first.
    "UPDATE calls SET principal = 'local' WHERE principal IS NULL",
    "UPDATE batches SET principal = 'local' WHERE principal IS NULL",
    "INSERT OR IGNORE INTO principal_context (principal, description, scenario, updated_at) "
    "SELECT 'local', description, scenario, updated_at FROM business_context WHERE id = 1",
    "CREATE INDEX IF NOT EXISTS calls_principal ON calls (principal, created_at)",
    "CREATE INDEX IF NOT EXISTS batches_principal ON batches (principal, created_at)",
    "CREATE INDEX IF NOT EXISTS webhook_events_received ON webhook_events (received_at)",
    # Issue 9: the batch duplicate guard and the retry guard.
    "CREATE INDEX IF NOT EXISTS batches_key ON batches (recipients_key, created_at)",
    "CREATE INDEX IF NOT EXISTS batch_retries_batch ON batch_retries (batch_id, created_at)",
    "CREATE INDEX IF NOT EXISTS calls_provider_call ON calls (provider_call_id)",
    # Version 10: the redial guard's "is this number and scenario among a batch's recipients",
    # and a poll's lookup of the entries with the numbers it records.
    "CREATE INDEX IF NOT EXISTS batch_recipients_batch_number ON batch_recipients (local_id, phone_number)",
    "DROP INDEX IF EXISTS batch_recipients_number",
    # A poll matching calls to the entries submitted with the caller's own ids (few batches have any).
    "CREATE INDEX IF NOT EXISTS batch_recipients_id ON batch_recipients (local_id, recipient_id) "
    "WHERE recipient_id IS NOT NULL",
)
#: Version 10 moves each batch's recipients out of ``batches.recipients_json`` (a JSON array of
#: ``{"phone_number", "scenario", "id"?, "overrides"?}``) into ``batch_recipients``, in order.
MOVE_RECIPIENTS_SQLITE = (
    "INSERT INTO batch_recipients (local_id, seq, phone_number, scenario, recipient_id, overrides) "
    "SELECT b.local_id, r.key, COALESCE(json_extract(r.value, '$.phone_number'), ''), "
    "json_extract(r.value, '$.scenario'), json_extract(r.value, '$.id'), json_extract(r.value, '$.overrides') "
    "FROM batches AS b, json_each(b.recipients_json) AS r"
)


#: ``PRAGMA application_id`` of a caller-mcp database ("CALL" in ASCII): another application's
#: SQLite file is told apart from ours before anything is written to it.
APPLICATION_ID = 0x43414C4C


class ForeignDatabase(sqlite3.DatabaseError):
    """The file is a SQLite database of another application (or of a newer caller-mcp)."""


def _statements(script: str) -> list[str]:
    """The statements of a schema script, one by one (so they can run inside one transaction;
    ``executescript`` would commit first)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s]


#: Every table a caller-mcp database may hold.
OUR_TABLES = frozenset(
    statement.split()[5] for statement in _statements(_SCHEMA + TEST_RUN_SCHEMA) if statement.startswith("CREATE TABLE")
)


def check_ours(db: sqlite3.Connection) -> None:
    """Refuse a database that is not caller-mcp's, reading only (run before anything is set on it).

    Ours: marked with :data:`APPLICATION_ID`; or unmarked and empty (a new file); or unmarked and
    holding only caller-mcp's tables (made before the mark existed).

    Raises:
        ForeignDatabase: naming what was found; nothing in the file was changed.
        sqlite3.DatabaseError: the file is not a SQLite database at all.
    """
    application_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    foreign = sorted(t for t in tables - OUR_TABLES if not t.startswith("sqlite_"))
    if application_id not in (0, APPLICATION_ID) or (application_id == 0 and foreign):
        shown = ", ".join(foreign[:5]) + (" …" if len(foreign) > 5 else "")
        raise ForeignDatabase(
            f"the file is another application's SQLite database (application_id {application_id}"
            + (f"; tables {shown}" if shown else "")
            + "); nothing in it was changed"
        )
    if version > SCHEMA_VERSION:
        raise ForeignDatabase(
            f"the database was written by a newer caller-mcp (schema {version}, this one knows {SCHEMA_VERSION}); "
            "nothing in it was changed"
        )


def migrate(db: sqlite3.Connection) -> None:
    """Bring ``db`` to :data:`SCHEMA_VERSION` in one ``BEGIN IMMEDIATE`` transaction: create what
    is missing, keep every row, mark the file as caller-mcp's. Processes opening a new file at the
    same moment wait for one another (without the transaction, two would add the same column).
    Call :func:`check_ours` first."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in _statements(_SCHEMA) + _statements(TEST_RUN_SCHEMA):
            db.execute(statement)
        for table, added in {**_ADDED_COLUMNS, **TEST_RUN_COLUMNS}.items():  # databases made by earlier versions
            columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            for column, kind in added:
                if column not in columns:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        if "recipients_json" in {row[1] for row in db.execute("PRAGMA table_info(batches)")}:
            _move_recipients(db)
        for statement in (*_INDEXES, *TEST_RUN_INDEXES):
            db.execute(statement)
        db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _move_recipients(db: sqlite3.Connection) -> None:
    """Version 10 on a database made before it: copy every batch's ``recipients_json`` into
    ``batch_recipients``, then rebuild ``batches`` without that column, keeping every row and its
    rowid (``ALTER TABLE … DROP COLUMN`` needs SQLite 3.35; the rebuild works on any version).
    Its indexes are dropped with the old table and made again by :data:`_INDEXES`. Runs inside
    :func:`migrate`'s transaction."""
    db.execute(MOVE_RECIPIENTS_SQLITE)
    kept = [row[1] for row in db.execute("PRAGMA table_info(batches)") if row[1] != "recipients_json"]
    create = next(s for s in _statements(_SCHEMA) if s.startswith("CREATE TABLE IF NOT EXISTS batches "))
    db.execute(create.replace("IF NOT EXISTS batches ", "batches_v10 ", 1))
    made = {row[1] for row in db.execute("PRAGMA table_info(batches_v10)")}
    for column, kind in _ADDED_COLUMNS["batches"]:
        if column not in made:
            db.execute(f"ALTER TABLE batches_v10 ADD COLUMN {column} {kind}")
    names = ", ".join(kept)
    db.execute(f"INSERT INTO batches_v10 (rowid, {names}) SELECT rowid, {names} FROM batches")
    db.execute("DROP TABLE batches")
    db.execute("ALTER TABLE batches_v10 RENAME TO batches")
