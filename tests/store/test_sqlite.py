"""SqliteStore: the records of contexts, calls, batches and retries, and the reservations that
decide the redial guard and the hourly cap together with writing the intent (one transaction,
whatever the number of processes sharing the file)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from caller_mcp.bootstrap import bootstrap
from caller_mcp.domain.caps import Caps
from caller_mcp.errors import CapExceeded, ConfigError
from caller_mcp.app.context import set_context
from caller_mcp.settings import Settings
from caller_mcp.store import SqliteStore

#: A guard window and a cap window that include every row written by a test.
SINCE_EVER = 0.0


@pytest.fixture
def store(db_path):
    opened = SqliteStore(db_path)
    try:
        yield opened
    finally:
        opened.close()


def rows(db_path, sql: str) -> list[tuple]:
    """What another connection sees in the file (every write is committed)."""
    with sqlite3.connect(db_path) as db:
        found = db.execute(sql).fetchall()
    db.close()
    return found


def no_cap(recent: list[tuple[float, int]]) -> None:
    return None


def full_cap(recent: list[tuple[float, int]]) -> None:
    Caps(per_hour=0).check_hourly(recent, 1, time.time(), batch=False)


def test_context_round_trips_and_is_replaced(db_path):
    store = SqliteStore(db_path)
    assert store.get_context() is None
    store.set_context("We are A.", "order")
    store.set_context("We are B.", None)
    store.close()
    again = SqliteStore(db_path)
    try:
        reopened = again.get_context()
    finally:
        again.close()
    assert (reopened.description, reopened.scenario) == ("We are B.", None)


def test_call_intent_then_outcome(store):
    intent = store.record_call_intent(
        call_id="call_1", provider="elevenlabs", to_number="+15551234567", scenario="s", business_description="d"
    )
    assert intent.status == "dialling" and intent.conversation_id is None
    done = store.record_call_outcome("call_1", status="initiated", conversation_id="conv_1", call_sid="CA1")
    assert (done.status, done.conversation_id, done.call_sid) == ("initiated", "conv_1", "CA1")
    with pytest.raises(KeyError):
        store.record_call_outcome("call_missing", status="failed")


def test_calls_list_newest_first(store):
    for i in range(3):
        store.record_call_intent(
            call_id=f"c{i}", provider="elevenlabs", to_number="+15551234567", scenario="s", business_description="d"
        )
    assert [c.call_id for c in store.list_calls(limit=2)] == ["c2", "c1"]


def test_batch_intent_outcome_and_status_updates(store):
    store.record_batch_intent(
        local_id="batch_l", provider="elevenlabs", name="n", recipients=[{"phone_number": "+1555", "scenario": "s"}],
        scheduled_time_unix=None,
    )
    store.record_batch_outcome("batch_l", status="pending", batch_id="btcal_1")
    store.update_batch_status("btcal_1", "cancelled")
    record = store.get_batch("btcal_1")
    assert (record.local_id, record.status, record.total_recipients) == ("batch_l", "cancelled", 1)
    assert store.get_batch("btcal_unknown") is None


@pytest.mark.anyio
async def test_unwritable_database_is_a_config_error_naming_the_variable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    services = bootstrap(Settings(_env_file=None, caller_mcp_db=blocker / "db.sqlite3"))
    try:
        with pytest.raises(ConfigError, match="CALLER_MCP_DB"):
            await set_context(services, "We are X.")
    finally:
        await services.aclose()


def test_a_second_store_in_the_same_process_leaves_live_requests_alone(db_path):
    first = SqliteStore(db_path)
    first.record_call_intent(
        call_id="c1", provider="elevenlabs", to_number="+15551234567", scenario="s", business_description="d"
    )
    second = SqliteStore(db_path)
    assert second.get_call("c1").status == "dialling"
    first.close()  # the writer is gone now: a later store takes the row as interrupted
    third = SqliteStore(db_path)
    try:
        assert third.get_call("c1").status == "outcome_unknown"
        assert "stopped while the request was in flight" in third.get_call("c1").error
    finally:
        second.close()
        third.close()


def test_a_database_from_the_first_release_gains_the_new_columns_and_keeps_its_rows(db_path):
    old = sqlite3.connect(db_path)
    old.executescript(
        """
        CREATE TABLE calls (call_id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,
            provider TEXT NOT NULL, to_number TEXT NOT NULL, scenario TEXT NOT NULL,
            business_description TEXT NOT NULL, status TEXT NOT NULL, phone_provider TEXT,
            conversation_id TEXT, call_sid TEXT, error TEXT);
        INSERT INTO calls VALUES ('call_old', 1.0, 1.0, 'sandbox', '+15551234567', 'order a pizza', 'Pizza Palace',
            'initiated', 'twilio', 'conv_old', 'CA1', NULL);
        """
    )
    old.commit()
    old.close()
    store = SqliteStore(db_path)
    try:
        store.record_provider_report("call_old", status="done", provider_status="done", outcome="success", duration_secs=8)
        row = store.find_call("conv_old")
        assert (row.call_id, row.status, row.outcome, row.duration_secs, row.batch_id) == (
            "call_old", "done", "success", 8.0, None
        )
        assert store.dials_since(0) == [(1.0, 1)]  # a provider-reported call still counts towards the cap
    finally:
        store.close()


def test_batch_recipient_calls_are_upserted_by_conversation_and_not_counted_twice(store):
    store.record_batch_intent(
        local_id="batch_local", provider="elevenlabs", name="b", recipients=[{"phone_number": "+15551230000"}] * 2,
        scheduled_time_unix=None,
    )
    store.record_batch_outcome("batch_local", status="pending", batch_id="btcal_1")
    calls = [
        {"conversation_id": f"conv_{i}", "to_number": f"+1555123000{i}", "scenario": "s", "status": "ringing",
         "provider_status": "initiated", "created_at": 5.0}
        for i in range(2)
    ]
    assert store.record_batch_calls("btcal_1", "elevenlabs", calls) == 2
    assert store.record_batch_calls("btcal_1", "elevenlabs", calls) == 0  # unchanged rows are not rewritten
    calls[0] = {**calls[0], "status": "done", "provider_status": "completed"}
    assert store.record_batch_calls("btcal_1", "elevenlabs", calls) == 1
    listed = store.list_calls(10)
    assert sorted((c.call_id, c.status, c.batch_id) for c in listed) == [
        ("conv_0", "done", "btcal_1"), ("conv_1", "ringing", "btcal_1")
    ]
    assert sum(n for _, n in store.dials_since(0)) == 2  # the batch's 2 recipients, once


# -- reservations: guard + cap + intent in one transaction ----------------------------------------


def reserve(store: SqliteStore, call_id: str, *, to_number: str = "+15551234567", scenario: str = "s",
            guard_since: float | None = SINCE_EVER, check_cap=no_cap):
    return store.reserve_call(
        call_id=call_id, provider="elevenlabs", to_number=to_number, scenario=scenario, business_description="d",
        guard_since=guard_since, cap_window_start=SINCE_EVER, check_cap=check_cap,
    )


def test_reserve_call_writes_a_dialling_intent_that_counts_towards_the_cap(store, db_path):
    record, new = reserve(store, "call_1")
    assert new is True
    assert (record.call_id, record.status, record.to_number, record.scenario) == ("call_1", "dialling", "+15551234567", "s")
    assert rows(db_path, "SELECT call_id, status FROM calls") == [("call_1", "dialling")]
    seen = []
    reserve(store, "call_2", to_number="+15551234568", check_cap=seen.append)
    assert [n for _, n in seen[0]] == [1]  # the cap is shown the first intent


def test_reserve_call_returns_the_earlier_call_instead_of_a_second_intent(store, db_path):
    first, _ = reserve(store, "call_1")
    again, new = reserve(store, "call_2")
    assert new is False
    assert again == first
    assert rows(db_path, "SELECT call_id FROM calls") == [("call_1",)]
    assert store.get_call("call_2") is None


def test_reserve_call_answers_a_duplicate_even_when_the_cap_is_full(store, db_path):
    reserve(store, "call_1")
    again, new = reserve(store, "call_2", check_cap=full_cap)
    assert (again.call_id, new) == ("call_1", False)
    assert rows(db_path, "SELECT count(*) FROM calls") == [(1,)]


def test_reserve_call_guards_only_the_same_number_and_scenario_within_the_window(store, db_path):
    reserve(store, "call_1")
    assert reserve(store, "call_2", scenario="other")[1] is True
    assert reserve(store, "call_3", to_number="+15551234568")[1] is True
    assert reserve(store, "call_4", guard_since=None)[1] is True  # allow_redial: no guard
    assert reserve(store, "call_5", guard_since=time.time() + 60)[1] is True  # the earlier call left the window
    assert rows(db_path, "SELECT count(*) FROM calls") == [(5,)]


def test_reserve_call_refused_by_the_cap_writes_nothing_and_releases_the_file(store, db_path):
    with pytest.raises(CapExceeded, match="CALLER_MCP_MAX_CALLS_PER_HOUR=0"):
        reserve(store, "call_1", check_cap=full_cap)
    assert rows(db_path, "SELECT count(*) FROM calls") == [(0,)]
    assert store.get_call("call_1") is None
    other = SqliteStore(db_path)  # the refused transaction holds no lock
    try:
        assert reserve(other, "call_2")[1] is True
    finally:
        other.close()
    assert reserve(store, "call_3", to_number="+15551234568")[1] is True


def test_reserve_batch_writes_a_submitting_intent_counted_by_recipients(store, db_path):
    record, new = store.reserve_batch(
        local_id="batch_1", provider="elevenlabs", name="b",
        recipients=[{"phone_number": "+15551230000", "scenario": "s"}] * 3, scheduled_time_unix=None,
        cap_window_start=SINCE_EVER, check_cap=no_cap,
    )
    assert new
    assert (record.local_id, record.status, record.total_recipients) == ("batch_1", "submitting", 3)
    assert [n for _, n in store.dials_since(SINCE_EVER)] == [3]


def test_reserve_batch_refused_by_the_cap_writes_nothing(store, db_path):
    store.record_call_intent(
        call_id="call_1", provider="elevenlabs", to_number="+15551234567", scenario="s", business_description="d"
    )
    seen = []

    def cap(recent):
        seen.append(recent)
        Caps(per_hour=2).check_hourly(recent, 2, time.time(), batch=True)

    with pytest.raises(CapExceeded, match="batch of 2 calls"):
        store.reserve_batch(
            local_id="batch_1", provider="elevenlabs", name="b",
            recipients=[{"phone_number": "+15551230000", "scenario": "s"}] * 2, scheduled_time_unix=None,
            cap_window_start=SINCE_EVER, check_cap=cap,
        )
    assert [n for _, n in seen[0]] == [1]
    assert rows(db_path, "SELECT count(*) FROM batches") == [(0,)]
    assert store.list_batches() == []
    assert [n for _, n in store.dials_since(SINCE_EVER)] == [1]


def test_reserve_retry_writes_a_retrying_intent_counted_by_recipients(store, db_path):
    retry, new = store.reserve_retry("btcal_1", 4, cap_window_start=SINCE_EVER, check_cap=no_cap)
    retry_id = retry.retry_id
    assert new and retry.status == "retrying"
    assert rows(db_path, "SELECT retry_id, batch_id, recipients, status FROM batch_retries") == [
        (retry_id, "btcal_1", 4, "retrying")
    ]
    assert [n for _, n in store.dials_since(SINCE_EVER)] == [4]


def test_reserve_retry_refused_by_the_cap_writes_nothing(store, db_path):
    def cap(recent):
        Caps(per_hour=3).check_hourly(recent, 4, time.time(), batch=True)

    with pytest.raises(CapExceeded):
        store.reserve_retry("btcal_1", 4, cap_window_start=SINCE_EVER, check_cap=cap)
    assert rows(db_path, "SELECT count(*) FROM batch_retries") == [(0,)]
    assert store.dials_since(SINCE_EVER) == []


#: One process of the cross-process test: opens the store, says it is ready, waits for the start
#: time it is sent, then reserves a call to every number and prints the numbers it reserved.
RESERVER = textwrap.dedent(
    """
    import json, sys, time, uuid
    from caller_mcp.store import SqliteStore

    path, numbers = sys.argv[1], json.loads(sys.argv[2])
    store = SqliteStore(path)
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    while time.time() < start:
        pass
    reserved = []
    for number in numbers:
        record, new = store.reserve_call(
            call_id=f"call_{uuid.uuid4().hex[:20]}", provider="elevenlabs", to_number=number, scenario="s",
            business_description="d", guard_since=0.0, cap_window_start=0.0, check_cap=lambda recent: None,
        )
        if new:
            reserved.append(number)
    store.close()
    print(json.dumps(reserved), flush=True)
    """
)


def test_three_processes_reserving_the_same_numbers_reserve_each_number_exactly_once(db_path):
    numbers = [f"+1555123{i:04d}" for i in range(20)]
    SqliteStore(db_path).close()  # the schema exists before the race
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RESERVER, str(db_path), json.dumps(numbers)],
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
    assert sorted(reserved) == numbers  # each number reserved by exactly one process
    assert rows(db_path, "SELECT to_number, count(*) FROM calls GROUP BY to_number ORDER BY to_number") == [
        (number, 1) for number in numbers
    ]


def test_batch_calls_of_two_providers_with_the_same_reference_keep_a_row_each(tmp_path):
    from caller_mcp.store import SqliteStore

    store = SqliteStore(tmp_path / "db")
    try:
        row = {"conversation_id": "ref_1", "to_number": "+15551230000", "scenario": "s", "status": "done",
               "provider_status": "completed", "created_at": 1.0}
        store.record_batch_calls("batch_a", "elevenlabs", [row])
        store.record_batch_calls("batch_b", "talkifai", [{**row, "provider_status": "busy", "status": "failed"}])
        calls = {c.provider: c for c in store.list_calls(10)}
        assert calls["elevenlabs"].call_id == "ref_1" and calls["elevenlabs"].status == "done"
        assert calls["talkifai"].call_id == "talkifai_ref_1" and calls["talkifai"].provider_status == "busy"
    finally:
        store.close()
