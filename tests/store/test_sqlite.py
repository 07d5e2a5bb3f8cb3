import sqlite3

import httpx
import pytest

from caller_mcp.config import Settings
from caller_mcp.errors import ConfigError, OutcomeUnknown
from caller_mcp.service import CallerService
from caller_mcp.store import Store


def test_context_round_trips_and_is_replaced(db_path):
    store = Store(db_path)
    assert store.get_context() is None
    store.set_context("We are A.", "order")
    store.set_context("We are B.", None)
    store.close()
    reopened = Store(db_path).get_context()
    assert (reopened.description, reopened.scenario) == ("We are B.", None)


def test_call_intent_then_outcome(db_path):
    store = Store(db_path)
    intent = store.record_call_intent(
        call_id="call_1", provider="sandbox", to_number="+15551234567", scenario="s", business_description="d"
    )
    assert intent.status == "dialling" and intent.conversation_id is None
    done = store.record_call_outcome("call_1", status="initiated", conversation_id="conv_1", call_sid="CA1")
    assert (done.status, done.conversation_id, done.call_sid) == ("initiated", "conv_1", "CA1")
    with pytest.raises(KeyError):
        store.record_call_outcome("call_missing", status="failed")


def test_calls_list_newest_first(db_path):
    store = Store(db_path)
    for i in range(3):
        store.record_call_intent(call_id=f"c{i}", provider="sandbox", to_number="+15551234567", scenario="s", business_description="d")
    assert [c.call_id for c in store.list_calls(limit=2)] == ["c2", "c1"]


def test_batch_intent_outcome_and_status_updates(db_path):
    store = Store(db_path)
    store.record_batch_intent(
        local_id="batch_l", provider="sandbox", name="n", recipients=[{"phone_number": "+1555", "scenario": "s"}],
        scheduled_time_unix=None,
    )
    store.record_batch_outcome("batch_l", status="pending", batch_id="btcal_1")
    store.update_batch_status("btcal_1", "cancelled")
    record = store.get_batch("btcal_1")
    assert (record.local_id, record.status, record.total_recipients) == ("batch_l", "cancelled", 1)
    assert store.get_batch("btcal_unknown") is None


PIZZA = "We are Pizza Palace."


@pytest.mark.anyio
async def test_call_is_recorded_before_the_request_leaves(db_path):
    seen_during_request = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"provider": "twilio"})
        with sqlite3.connect(db_path) as db:
            seen_during_request.extend(db.execute("SELECT status, to_number FROM calls").fetchall())
        return httpx.Response(200, json={"success": True, "message": "ok", "conversation_id": "c1", "callSid": "CA1"})

    settings = Settings(_env_file=None, caller_mcp_db=db_path)
    service = CallerService(settings, transport=httpx.MockTransport(handler))
    try:
        await service.place_call("+15551234567", PIZZA)
    finally:
        await service.aclose()
    assert seen_during_request == [("dialling", "+15551234567")]
    [record] = Store(db_path).list_calls()
    assert record.status == "initiated"


@pytest.mark.anyio
async def test_lost_answer_is_recorded_as_outcome_unknown_with_the_call_id(db_path):
    posts = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"provider": "twilio"})
        posts.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    service = CallerService(Settings(_env_file=None, caller_mcp_db=db_path), transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(OutcomeUnknown) as info:
            await service.place_call("+15551234567", PIZZA)
    finally:
        await service.aclose()
    [record] = Store(db_path).list_calls()
    assert record.status == "outcome_unknown"
    assert record.call_id in str(info.value)
    assert len(posts) == 1


@pytest.mark.anyio
async def test_unwritable_database_is_a_config_error_naming_the_variable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    service = CallerService(Settings(_env_file=None, caller_mcp_db=blocker / "db.sqlite3"))
    with pytest.raises(ConfigError, match="CALLER_MCP_DB"):
        await service.set_context("We are X.")


def test_a_second_store_in_the_same_process_leaves_live_requests_alone(db_path):
    first = Store(db_path)
    first.record_call_intent(call_id="c1", provider="sandbox", to_number="+15551234567", scenario="s", business_description="d")
    second = Store(db_path)
    assert second.get_call("c1").status == "dialling"
    first.close()  # the writer is gone now: a later store takes the row as interrupted
    third = Store(db_path)
    assert third.get_call("c1").status == "outcome_unknown"
    assert "stopped while the request was in flight" in third.get_call("c1").error


def test_a_database_from_the_first_release_gains_the_new_columns_and_keeps_its_rows(db_path):
    import sqlite3

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
    store = Store(db_path)
    try:
        store.record_provider_report("call_old", status="done", provider_status="done", outcome="success", duration_secs=8)
        row = store.find_call("conv_old")
        assert (row.call_id, row.status, row.outcome, row.duration_secs, row.batch_id) == (
            "call_old", "done", "success", 8.0, None
        )
        assert store.dials_since(0) == [(1.0, 1)]  # a provider-reported call still counts towards the cap
    finally:
        store.close()


def test_batch_recipient_calls_are_upserted_by_conversation_and_not_counted_twice(db_path):
    store = Store(db_path)
    try:
        store.record_batch_intent(
            local_id="batch_local", provider="sandbox", name="b", recipients=[{"phone_number": "+15551230000"}] * 2,
            scheduled_time_unix=None,
        )
        store.record_batch_outcome("batch_local", status="pending", batch_id="btcal_1")
        rows = [
            {"conversation_id": f"conv_{i}", "to_number": f"+1555123000{i}", "scenario": "s", "status": "ringing",
             "provider_status": "initiated", "created_at": 5.0}
            for i in range(2)
        ]
        assert store.record_batch_calls("btcal_1", "sandbox", rows) == 2
        assert store.record_batch_calls("btcal_1", "sandbox", rows) == 0  # unchanged rows are not rewritten
        rows[0] = {**rows[0], "status": "done", "provider_status": "completed"}
        assert store.record_batch_calls("btcal_1", "sandbox", rows) == 1
        listed = store.list_calls(10)
        assert sorted((c.call_id, c.status, c.batch_id) for c in listed) == [
            ("conv_0", "done", "btcal_1"), ("conv_1", "ringing", "btcal_1")
        ]
        assert sum(n for _, n in store.dials_since(0)) == 2  # the batch's 2 recipients, once
    finally:
        store.close()
