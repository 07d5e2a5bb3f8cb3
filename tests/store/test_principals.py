"""Principals in the store (schema 7): who placed each call and batch, a business context per
principal, and databases written before principals existed."""

from __future__ import annotations

import sqlite3

import pytest

from caller_mcp.store import LOCAL_PRINCIPAL, SqliteStore
from caller_mcp.store.migrations import SCHEMA_VERSION

SINCE_EVER = 0.0


@pytest.fixture
def store(db_path):
    opened = SqliteStore(db_path)
    try:
        yield opened
    finally:
        opened.close()


def reserve(store, call_id, principal, number="+15551230000", scenario="order pizza", guard=True):
    return store.reserve_call(
        call_id=call_id, provider="elevenlabs", to_number=number, scenario=scenario, business_description="Pizza",
        guard_since=SINCE_EVER if guard else None, cap_window_start=SINCE_EVER, check_cap=lambda _: None,
        principal=principal,
    )


def test_each_principal_has_its_own_business_context(store):
    store.set_context("Alice's pizza shop", "order pizza", "alice")
    store.set_context("Bob's bakery", None, "bob")
    assert store.get_context("alice").description == "Alice's pizza shop"
    assert store.get_context("bob").description == "Bob's bakery"
    assert store.get_context(LOCAL_PRINCIPAL) is None
    store.set_context("Alice moved", None, "alice")
    assert store.get_context("bob").description == "Bob's bakery"


def test_calls_record_their_principal_and_list_by_it(store):
    reserve(store, "call_a", "alice")
    reserve(store, "call_b", "bob", number="+15551230001")
    assert store.get_call("call_a").principal == "alice"
    assert [c.call_id for c in store.list_calls(principal="alice")] == ["call_a"]
    assert [c.call_id for c in store.list_calls(principal="bob")] == ["call_b"]
    assert {c.call_id for c in store.list_calls()} == {"call_a", "call_b"}


def test_the_redial_guard_holds_across_principals(store):
    first, new = reserve(store, "call_a", "alice")
    again, second_new = reserve(store, "call_b", "bob")
    assert new and not second_new and again.call_id == "call_a"


def test_a_batchs_calls_are_recorded_under_the_principal_that_submitted_it(store):
    store.reserve_batch(
        local_id="local_1", provider="elevenlabs", name="b", recipients=[{"phone_number": "+15551230000", "scenario": "x"}],
        scheduled_time_unix=None, cap_window_start=SINCE_EVER, check_cap=lambda _: None, principal="ci",
    )
    store.record_batch_outcome("local_1", status="pending", batch_id="btc_1")
    store.record_batch_calls(
        "btc_1", "elevenlabs",
        [{"conversation_id": "conv_1", "to_number": "+15551230000", "scenario": "x", "status": "queued",
          "provider_status": "pending", "created_at": 1.0}],
    )
    assert store.get_call("conv_1").principal == "ci"
    assert [b.local_id for b in store.list_batches(principal="ci")] == ["local_1"]
    assert store.list_batches(principal="alice") == []
    assert store.get_batch("btc_1").principal == "ci"


def test_a_database_from_before_principals_gives_its_rows_and_context_to_the_local_principal(db_path):
    store = SqliteStore(db_path)
    store.close()
    with sqlite3.connect(db_path) as db:  # as version 6 left it: no principals
        db.execute("INSERT INTO business_context (id, description, scenario, updated_at) VALUES (1, 'Old shop', NULL, 1.0)")
        db.execute("DELETE FROM principal_context")
        db.execute(
            "INSERT INTO calls (call_id, created_at, updated_at, provider, to_number, scenario, business_description, status) "
            "VALUES ('call_old', 1.0, 1.0, 'elevenlabs', '+15551230000', 'x', 'Old shop', 'done')"
        )
        db.execute("PRAGMA user_version = 6")
    reopened = SqliteStore(db_path)
    try:
        assert reopened.get_context(LOCAL_PRINCIPAL).description == "Old shop"
        assert [c.call_id for c in reopened.list_calls(principal=LOCAL_PRINCIPAL)] == ["call_old"]
        assert reopened._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        reopened.close()
