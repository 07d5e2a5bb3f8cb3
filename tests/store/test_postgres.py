"""The PostgreSQL store: the SQLite store's records, migrations and guards on PostgreSQL, and the
guards holding across processes sharing one database."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from caller_mcp.domain.caps import Caps
from caller_mcp.errors import CapExceeded, ConfigError
from caller_mcp.settings import Settings
from caller_mcp.store import open_postgres, open_store
from caller_mcp.store.migrations import SCHEMA_VERSION
from caller_mcp.store.postgres import PostgresStore, pg_sql

from .test_sqlite import RESERVER

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(pg_url):
    opened = PostgresStore(pg_url)
    try:
        yield opened
    finally:
        opened.close()


def reserve(store, call_id, number="+15551230000", scenario="s", guard=True, cap=None, principal="local"):
    return store.reserve_call(
        call_id=call_id, provider="elevenlabs", to_number=number, scenario=scenario, business_description="d",
        guard_since=0.0 if guard else None, cap_window_start=0.0, check_cap=cap or (lambda recent: None),
        principal=principal,
    )


def test_the_dialect_translation():
    assert pg_sql("SELECT * FROM calls WHERE a = ? AND b IS NOT c AND d IS NOT NULL") == (
        "SELECT * FROM calls WHERE a = %s AND b IS DISTINCT FROM c AND d IS NOT NULL"
    )
    assert pg_sql("INSERT OR IGNORE INTO t (a) SELECT 1") == "INSERT INTO t (a) SELECT 1 ON CONFLICT DO NOTHING"
    assert pg_sql("VALUES (:conversation_id, 'x:y')") == "VALUES (%(conversation_id)s, 'x:y')"


def test_migrations_run_twice_and_record_the_version(pg_url, store):
    PostgresStore(pg_url).close()  # a second replica starting on the same database
    [row] = store._db.execute("SELECT version FROM caller_mcp_schema").fetchall()
    assert row["version"] == SCHEMA_VERSION


def test_contexts_calls_and_the_redial_guard(store):
    store.set_context("Alice's shop", "order", "alice")
    assert store.get_context("alice").description == "Alice's shop" and store.get_context("bob") is None
    first, new = reserve(store, "call_1", principal="alice")
    again, second = reserve(store, "call_2", principal="bob")
    assert new and not second and again.call_id == "call_1"
    store.record_call_outcome("call_1", status="initiated", conversation_id="conv_1")
    assert store.find_call("conv_1").call_id == "call_1"
    assert [c.call_id for c in store.list_calls(principal="alice")] == ["call_1"]
    assert store.list_calls(principal="bob") == []


def test_a_cap_refusal_writes_nothing(store):
    caps = Caps(per_hour=1, batch_size=None)
    reserve(store, "call_1", cap=lambda recent: caps.check_hourly(recent, 1, time.time(), batch=False))
    with pytest.raises(CapExceeded):
        reserve(store, "call_2", number="+15551230001",
                cap=lambda recent: caps.check_hourly(recent, 1, time.time(), batch=False))
    assert [c.call_id for c in store.list_calls()] == ["call_1"]


def test_batches_their_calls_and_the_batch_recipient_guard(store):
    store.reserve_batch(
        local_id="batch_1", provider="elevenlabs", name="b",
        recipients=[{"phone_number": "+15551230000", "scenario": "s"}], scheduled_time_unix=None,
        cap_window_start=0.0, check_cap=lambda recent: None, principal="ci",
    )
    store.record_batch_outcome("batch_1", status="pending", batch_id="btc_1")
    written = store.record_batch_calls("btc_1", "elevenlabs", [
        {"conversation_id": "conv_9", "to_number": "+15551230000", "scenario": "s", "status": "queued",
         "provider_status": "pending", "created_at": time.time()},
    ])
    assert written == 1
    assert store.get_call("conv_9").principal == "ci"
    assert store.recent_batch_recipient("+15551230000", "s", 0.0).batch_id == "btc_1"
    assert [b.local_id for b in store.list_batches(principal="ci")] == ["batch_1"]
    assert store.dials_since(0.0)


def test_webhook_events_apply_once(store):
    reserve(store, "call_1")
    store.record_call_outcome("call_1", status="initiated", conversation_id="conv_1")
    merge = lambda stored: ('{"x": 1}', {"status": "done", "duration_secs": 3.0})  # noqa: E731
    args = dict(provider="elevenlabs", event_key="k1", received_at=time.time(), refs=("conv_1",), to_number=None, merge=merge)
    assert store.apply_webhook(**args)[0] == "applied"
    assert store.apply_webhook(**args) == ("replay", None)
    assert store.get_call("call_1").status == "done" and store.get_call("call_1").report_json == '{"x": 1}'


def test_an_unreachable_server_is_a_config_error_without_the_password():
    with pytest.raises(ConfigError, match=r"Cannot open the PostgreSQL database postgresql://u:\*\*\*@127\.0\.0\.1:1/x"):
        open_postgres("postgresql://u:secret@127.0.0.1:1/x?connect_timeout=1")


async def test_open_store_picks_postgresql_for_a_postgresql_url(pg_url):
    store = open_store(Settings(_env_file=None, caller_mcp_db=pg_url))
    try:
        assert await store.get_context() is None
        assert isinstance(store.sync, PostgresStore)
    finally:
        await store.aclose()


def test_three_processes_reserving_the_same_numbers_on_postgresql_reserve_each_once(pg_url, store):
    numbers = [f"+1555123{i:04d}" for i in range(20)]
    script = RESERVER.replace("from caller_mcp.store import SqliteStore", "from caller_mcp.store.postgres import PostgresStore as SqliteStore")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, pg_url, json.dumps(numbers)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for _ in range(3)
    ]
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "ready", process.stderr.read()
        start = time.time() + 0.3
        for process in processes:
            process.stdin.write(f"{start}\n")
            process.stdin.flush()
        reserved = []
        for process in processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            reserved.extend(json.loads(out))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert sorted(reserved) == numbers
    counts = store._db.execute("SELECT to_number, count(*) AS n FROM calls GROUP BY to_number ORDER BY to_number").fetchall()
    assert [(r["to_number"], r["n"]) for r in counts] == [(n, 1) for n in numbers]


def test_call_controls_recipient_ids_and_costs_on_postgresql(store):
    call, _ = store.reserve_call(
        call_id="call_c", provider="elevenlabs", to_number="+15551230000", scenario="s", business_description="d",
        guard_since=None, cap_window_start=0.0, check_cap=lambda recent: None, overrides='{"language": "es"}',
    )
    assert store.get_call("call_c").controls() == {"language": "es"}
    store.reserve_batch(
        local_id="batch_l", provider="elevenlabs", name="b", recipients=[{"phone_number": "+15551230001", "scenario": "s", "id": "case-1"}],
        scheduled_time_unix=None, cap_window_start=0.0, check_cap=lambda recent: None,
    )
    store.record_batch_outcome("batch_l", status="pending", batch_id="btcal_1")
    row = {"conversation_id": "conv_1", "to_number": "+15551230001", "scenario": "s", "status": "done",
           "provider_status": "completed", "created_at": 1.0, "recipient_id": "case-1", "overrides": '{"voice_id": "v"}'}
    assert store.record_batch_calls("btcal_1", "elevenlabs", [row]) == 1
    assert store.batch_costs("btcal_1")["calls"] == 0
    store.record_provider_report("conv_1", status="done", provider_status="done", cost=80.0, cost_unit="credits", cost_usd=0.0133)
    recorded = store.get_call("conv_1")
    assert (recorded.recipient_id, recorded.controls(), recorded.cost, recorded.cost_unit) == ("case-1", {"voice_id": "v"}, 80.0, "credits")
    assert store.batch_costs("btcal_1") == {"calls": 1, "cost": 80.0, "cost_unit": "credits", "calls_usd": 1, "cost_usd": 0.0133}
