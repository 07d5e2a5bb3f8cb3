"""Store indexes (issue 10): queries that would grow with history use an index.

Timing is not asserted here (see benchmarks/store_history.py); query plans are, since they are
deterministic for a given schema and SQLite version (no ANALYZE statistics are ever written).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from caller_mcp.store.migrations import SCHEMA_VERSION
from caller_mcp.store.sqlite import SqliteStore

NEW_INDEXES = {
    ("calls", "calls_status"),
    ("calls", "calls_batch_created"),
    ("batches", "batches_created"),
    ("batches", "batches_status"),
    ("batch_retries", "batch_retries_created"),
    ("batch_retries", "batch_retries_status"),
}

#: The schema as the first release wrote it (before the columns of _ADDED_COLUMNS).
FIRST_RELEASE_SCHEMA = """
CREATE TABLE business_context (
    id INTEGER PRIMARY KEY CHECK (id = 1), description TEXT NOT NULL, scenario TEXT, updated_at REAL NOT NULL
);
CREATE TABLE calls (
    call_id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL, provider TEXT NOT NULL,
    to_number TEXT NOT NULL, scenario TEXT NOT NULL, business_description TEXT NOT NULL, status TEXT NOT NULL,
    phone_provider TEXT, conversation_id TEXT, call_sid TEXT, error TEXT
);
CREATE INDEX calls_created ON calls (created_at);
CREATE INDEX calls_number ON calls (to_number, created_at);
CREATE INDEX calls_conversation ON calls (conversation_id);
CREATE TABLE batches (
    local_id TEXT PRIMARY KEY, batch_id TEXT UNIQUE, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    provider TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, total_recipients INTEGER NOT NULL,
    scheduled_time_unix INTEGER, recipients_json TEXT NOT NULL, error TEXT
);
"""
#: The schema version 3 wrote: every column, the calls_batch index, batch_retries.
V3_SCHEMA = """
CREATE TABLE business_context (
    id INTEGER PRIMARY KEY CHECK (id = 1), description TEXT NOT NULL, scenario TEXT, updated_at REAL NOT NULL
);
CREATE TABLE calls (
    call_id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL, provider TEXT NOT NULL,
    to_number TEXT NOT NULL, scenario TEXT NOT NULL, business_description TEXT NOT NULL, status TEXT NOT NULL,
    phone_provider TEXT, conversation_id TEXT, call_sid TEXT, error TEXT, owner TEXT, pid INTEGER,
    batch_id TEXT, provider_status TEXT, outcome TEXT, termination_reason TEXT, duration_secs REAL,
    started_at REAL
);
CREATE INDEX calls_created ON calls (created_at);
CREATE INDEX calls_number ON calls (to_number, created_at);
CREATE INDEX calls_conversation ON calls (conversation_id);
CREATE INDEX calls_batch ON calls (batch_id);
CREATE TABLE batches (
    local_id TEXT PRIMARY KEY, batch_id TEXT UNIQUE, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    provider TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, total_recipients INTEGER NOT NULL,
    scheduled_time_unix INTEGER, recipients_json TEXT NOT NULL, error TEXT, owner TEXT, pid INTEGER
);
CREATE TABLE batch_retries (
    retry_id TEXT PRIMARY KEY, batch_id TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    recipients INTEGER NOT NULL, status TEXT NOT NULL, error TEXT, owner TEXT, pid INTEGER
);
PRAGMA user_version = 3;
"""


#: "Now" for the small history, the same for both stores compared.
NOW = time.time()


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _indexes(path) -> set[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        return set(db.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
    finally:
        db.close()


@pytest.mark.parametrize("schema", [FIRST_RELEASE_SCHEMA, V3_SCHEMA], ids=["first-release", "v3"])
def test_an_older_database_opens_and_gains_the_indexes(tmp_path, schema):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(schema)
    hour_ago = time.time() - 3600
    old.executemany(
        "INSERT INTO calls (call_id, created_at, updated_at, provider, to_number, scenario, business_description, "
        "status) VALUES (?, ?, ?, 'sandbox', ?, 'book', 'Clinic', ?)",
        [(f"call_{i}", hour_ago + i, hour_ago + i, f"+1555000{i:04d}", status)
         for i, status in enumerate(["done", "failed", "initiated", "done"])],
    )
    old.commit()
    old.close()
    assert not NEW_INDEXES & _indexes(path)

    store = SqliteStore(path)
    try:
        assert [c.call_id for c in store.list_calls(status="done")] == ["call_3", "call_0"]
        assert store.get_call("call_2").status == "initiated"
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 10
    finally:
        store.close()
    indexes = _indexes(path)
    assert NEW_INDEXES <= indexes
    assert ("calls", "calls_batch") not in indexes  # calls_batch_created covers it

    SqliteStore(path).close()  # opening again is a no-op
    assert _indexes(path) == indexes


def test_an_older_database_with_an_interrupted_call_is_recovered_on_open(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(V3_SCHEMA)
    long_ago = time.time() - 86400
    old.execute(
        "INSERT INTO calls (call_id, created_at, updated_at, provider, to_number, scenario, business_description, "
        "status, owner, pid) VALUES ('call_x', ?, ?, 'sandbox', '+15550000001', 'book', 'Clinic', 'dialling', "
        "'gone', ?)",
        (long_ago, long_ago, _dead_pid()),
    )
    old.commit()
    old.close()

    store = SqliteStore(path)
    try:
        assert store.get_call("call_x").status == "outcome_unknown"
    finally:
        store.close()


class _Recorder:
    """Stands in for the store's connection and records each statement with its parameters."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.statements: list[tuple[str, tuple]] = []

    def execute(self, sql: str, params=()):
        self.statements.append((sql, tuple(params)))
        return self.db.execute(sql, params)


@pytest.fixture
def store(tmp_path):
    store = SqliteStore(tmp_path / "caller.sqlite3")
    _fill(store)
    yield store
    store.close()


def _fill(store: SqliteStore) -> None:
    """A small history: direct calls, batch recipients (some at the same instant), batches, retries,
    an in-flight call and batch of a dead process."""
    base = NOW - 7200
    dead = _dead_pid()
    rows = []
    for i in range(60):
        batch = None if i % 4 == 0 else f"batch_{i % 3}"
        rows.append((
            f"call_{i:03d}", base + (i // 2) * 240, base, "sandbox", f"+1555000{i % 7:04d}", ["book", "cancel"][i % 2],
            "Clinic", ["done", "failed", "initiated", "in_progress", "done"][i % 5],
            None if i % 10 == 1 else f"conv_{i}", batch, "gone" if i == 59 else None, dead if i == 59 else None,
        ))
    rows[59] = (*rows[59][:7], "dialling", None, None, "gone", dead)
    store._db.executemany(
        "INSERT INTO calls (call_id, created_at, updated_at, provider, to_number, scenario, business_description, "
        "status, conversation_id, batch_id, owner, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    for b in range(3):
        store._db.execute(
            "INSERT INTO batches (local_id, batch_id, created_at, updated_at, provider, name, status, "
            "total_recipients, owner, pid) VALUES (?, ?, ?, ?, 'sandbox', 'b', ?, 5, ?, ?)",
            (f"local_{b}", f"batch_{b}" if b else None, base + b * 3000, base,
             ["submitting", "completed", "failed"][b], "gone", dead),
        )
        store._db.execute(
            "INSERT INTO batch_retries (retry_id, batch_id, created_at, updated_at, recipients, status, owner, pid) "
            "VALUES (?, 'batch_1', ?, ?, 2, ?, 'gone', ?)",
            (f"retry_{b}", base + 3700 + b * 1200, base, ["retrying", "retried", "failed"][b], dead),
        )


def _queries(store: SqliteStore):
    now = NOW
    return {
        "list_calls(status=nonexistent)": lambda: store.list_calls(status="nonexistent"),
        "list_calls(status=done, limit=5)": lambda: store.list_calls(5, status="done"),
        "list_calls(status, since)": lambda: store.list_calls(status="done", since=now - 3600),
        "list_calls(to_number)": lambda: store.list_calls(to_number="+15550000003"),
        "list_calls(to_number, since)": lambda: store.list_calls(to_number="+15550000003", since=now - 3600),
        "list_calls(since)": lambda: store.list_calls(50, since=now - 3600),
        "dials_since": lambda: store.dials_since(now - 3600),
        "recent_call": lambda: store.recent_call("+15550000002", "book", now - 7200),
        "recover_interrupted": store.recover_interrupted,  # last: it changes rows
    }


def test_each_history_query_uses_an_index(store):
    for name, query in _queries(store).items():
        recorder = _Recorder(store._db)
        store._db, real = recorder, store._db  # type: ignore[assignment]
        try:
            query()
        finally:
            store._db = real
        assert recorder.statements, name
        for sql, params in recorder.statements:
            plan = [row[3] for row in real.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
            assert not [step for step in plan if step.startswith("SCAN")], (name, sql, plan)
            assert not [step for step in plan if "TEMP B-TREE" in step], (name, sql, plan)
            assert any(step.startswith("SEARCH") and "INDEX" in step for step in plan), (name, sql, plan)


def test_results_are_the_same_without_the_new_indexes(tmp_path, store):
    with_indexes = {name: query() for name, query in _queries(store).items()}
    assert with_indexes["recover_interrupted"] == 3  # the dead process's call, batch and retry
    assert with_indexes["list_calls(status=nonexistent)"] == []
    assert len(with_indexes["list_calls(status=done, limit=5)"]) == 5

    plain = SqliteStore(tmp_path / "plain.sqlite3")
    try:
        _fill(plain)
        for _, name in NEW_INDEXES:
            plain._db.execute(f"DROP INDEX {name}")
        plain._db.execute("CREATE INDEX calls_batch ON calls (batch_id)")  # as version 3 had it
        without = {name: query() for name, query in _queries(plain).items()}
    finally:
        plain.close()
    # The two stores have different owners and update times; compare what the queries select.
    def comparable(value):
        if isinstance(value, list):
            return [getattr(v, "call_id", v) for v in value]
        return getattr(value, "call_id", value)

    assert {k: comparable(v) for k, v in with_indexes.items()} == {k: comparable(v) for k, v in without.items()}
    assert len(with_indexes["dials_since"]) >= 5  # direct calls, a batch and retries in the last hour
