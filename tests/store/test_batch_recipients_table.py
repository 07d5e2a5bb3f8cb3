"""Schema version 10: a batch's recipients live in ``batch_recipients``, not in a JSON column of
its ``batches`` row; a database written before keeps every batch and recipient when it opens."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from caller_mcp.store.migrations import SCHEMA_VERSION
from caller_mcp.store.sqlite import SqliteStore

from .test_sqlite_indexes import V3_SCHEMA

#: Two batches as version 9 stored them: the recipient list as JSON on the batch's row.
OLD_RECIPIENTS = {
    "batch_local_a": [
        {"phone_number": "+15550000001", "scenario": "book a table"},
        {"phone_number": "+15550000002", "scenario": "ask the hours", "id": "case-2",
         "overrides": {"language": "es", "ring_timeout_secs": 20}},
        {"phone_number": "+15550000001", "scenario": "book a table"},
    ],
    "batch_local_b": [{"phone_number": "+15550000009", "scenario": "order", "id": "x"}],
}


def _old_rows(created: float) -> list[tuple]:
    return [
        ("batch_local_a", "btcal_a", created, created, "elevenlabs", "first", "in_progress", 3,
         json.dumps(OLD_RECIPIENTS["batch_local_a"])),
        ("batch_local_b", "btcal_b", created + 1, created + 1, "elevenlabs", "second", "completed", 1,
         json.dumps(OLD_RECIPIENTS["batch_local_b"])),
    ]


_INSERT_OLD = (
    "INSERT INTO batches (local_id, batch_id, created_at, updated_at, provider, name, status, total_recipients, "
    "recipients_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _check_migrated(store) -> None:
    assert store.batch_recipients("btcal_a") == OLD_RECIPIENTS["batch_local_a"]
    assert store.batch_recipients("btcal_b") == OLD_RECIPIENTS["batch_local_b"]
    assert [b.local_id for b in store.list_batches()] == ["batch_local_b", "batch_local_a"]
    assert store.get_batch("btcal_a").total_recipients == 3
    # The redial guard still sees the batches' recipients.
    guard = store.recent_call("+15550000002", "ask the hours", 0)
    assert (guard.call_id, guard.batch_id) == ("batch_local_a", "btcal_a")
    assert store.recent_call("+15550000002", "book a table", 0) is None
    # A poll reads only the entries it matches calls to: by number (every entry with it, in
    # order) or by the caller's id.
    a = OLD_RECIPIENTS["batch_local_a"]
    assert store.batch_recipient_entries("btcal_a", numbers=["+15550000001"]) == [a[0], a[2]]
    assert store.batch_recipient_entries("btcal_a", ids=["case-2", "x"]) == [a[1]]
    assert store.batch_recipient_entries("btcal_a", numbers=["+15550000002"], ids=["case-2"]) == [a[1]]
    assert store.batch_recipient_entries("btcal_a", numbers=["+15559999999"]) == []
    assert store.batch_recipient_entries("btcal_elsewhere", numbers=["+15550000001"]) is None


def test_a_version_9_database_opens_and_keeps_its_batches_recipients(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(V3_SCHEMA)
    old.executescript("ALTER TABLE batches ADD COLUMN principal TEXT; ALTER TABLE batches ADD COLUMN recipients_key TEXT;")
    old.executemany(_INSERT_OLD, _old_rows(time.time() - 60))
    old.execute("PRAGMA user_version = 9")
    old.commit()
    old.close()

    store = SqliteStore(path)
    try:
        _check_migrated(store)
        columns = {row[1] for row in store._db.execute("PRAGMA table_info(batches)")}
        assert "recipients_json" not in columns and {"principal", "recipients_key", "owner"} <= columns
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 10
        indexes = {row[0] for row in store._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"batches_created", "batches_principal", "batches_key", "batch_recipients_batch_number"} <= indexes
    finally:
        store.close()
    reopened = SqliteStore(path)  # a second open changes nothing
    try:
        _check_migrated(reopened)
    finally:
        reopened.close()


def test_a_new_batch_keeps_its_recipients_in_their_own_table(tmp_path):
    store = SqliteStore(tmp_path / "new.sqlite3")
    try:
        store.record_batch_intent(
            local_id="batch_local_a", provider="elevenlabs", name="first", recipients=OLD_RECIPIENTS["batch_local_a"],
            scheduled_time_unix=None,
        )
        store.record_batch_outcome("batch_local_a", status="pending", batch_id="btcal_a")
        assert store.batch_recipients("btcal_a") == OLD_RECIPIENTS["batch_local_a"]
        assert store.batch_recipients("btcal_unknown") == []
        assert store._db.execute("SELECT COUNT(*) FROM batch_recipients").fetchone()[0] == 3
        assert "recipients_json" not in {row[1] for row in store._db.execute("PRAGMA table_info(batches)")}
    finally:
        store.close()


def test_a_version_9_postgres_database_opens_and_keeps_its_batches_recipients(pg_url):
    psycopg = pytest.importorskip("psycopg")
    from caller_mcp.store.postgres import PostgresStore

    with psycopg.connect(pg_url, autocommit=True) as old:  # the batches table as version 9 made it
        old.execute(
            "CREATE TABLE batches (local_id TEXT PRIMARY KEY, batch_id TEXT UNIQUE, created_at DOUBLE PRECISION NOT NULL, "
            "updated_at DOUBLE PRECISION NOT NULL, provider TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, "
            "total_recipients BIGINT NOT NULL, scheduled_time_unix BIGINT, recipients_json TEXT NOT NULL, error TEXT, "
            "owner TEXT, pid BIGINT, rowid BIGINT GENERATED BY DEFAULT AS IDENTITY)"
        )
        with old.cursor() as cursor:
            cursor.executemany(_INSERT_OLD.replace("?", "%s"), _old_rows(time.time() - 60))
    store = PostgresStore(pg_url)
    try:
        _check_migrated(store)
        assert not store._db.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'batches' AND column_name = 'recipients_json'"
        ).fetchall()
    finally:
        store.close()
    PostgresStore(pg_url).close()  # a second replica starting: nothing moves twice
    again = PostgresStore(pg_url)
    try:
        _check_migrated(again)
    finally:
        again.close()
