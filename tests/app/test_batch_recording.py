"""Batch recipients' calls matched to what was submitted: by the caller's own id, never by order."""

from __future__ import annotations

import pytest

from caller_mcp.app.recording import record_batch_calls
from caller_mcp.store import SqliteStore, ThreadedStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path):
    threaded = ThreadedStore(lambda: SqliteStore(tmp_path / "db"))
    yield threaded
    if threaded.sync is not None:
        threaded.sync.close()


async def submitted(store, recipients):
    await store.reserve_batch(
        local_id="batch_l", provider="elevenlabs", name="b", recipients=recipients, scheduled_time_unix=None,
        cap_window_start=0, check_cap=lambda recent: None,
    )
    await store.record_batch_outcome("batch_l", status="pending", batch_id="btcal_1")


def call(conversation_id: str, number: str, recipient_id: str | None):
    return {
        "conversation_id": conversation_id, "to_number": number, "status": "done", "provider_status": "completed",
        "created_at": 1.0, "recipient_id": recipient_id,
    }


async def test_recipients_with_ids_are_matched_by_id_whatever_order_the_provider_reports(store):
    await submitted(store, [
        {"phone_number": "+15551230010", "scenario": "order a pizza", "id": "case-1", "overrides": {"language": "es"}},
        {"phone_number": "+15551230010", "scenario": "cancel an order", "id": "case-2"},
    ])
    # The provider lists case-2 first: matching by order would give it case-1's scenario.
    await record_batch_calls(
        store, "elevenlabs", "btcal_1", [call("conv_b", "+15551230010", "case-2"), call("conv_a", "+15551230010", "case-1")]
    )
    first, second = await store.get_call("conv_a"), await store.get_call("conv_b")
    assert (first.recipient_id, first.scenario, first.controls()) == ("case-1", "order a pizza", {"language": "es"})
    assert (second.recipient_id, second.scenario, second.controls()) == ("case-2", "cancel an order", {})


async def test_recipients_without_ids_are_still_matched_by_number(store):
    await submitted(store, [
        {"phone_number": "+15551230010", "scenario": "order", "id": "case-1"},
        {"phone_number": "+15551230020", "scenario": "book"},
    ])
    await record_batch_calls(
        store, "elevenlabs", "btcal_1", [call("conv_b", "+15551230020", "rcpt_made_up"), call("conv_a", "+15551230010", "case-1")]
    )
    made_up, own = await store.get_call("conv_b"), await store.get_call("conv_a")
    assert (made_up.scenario, made_up.recipient_id) == ("book", None)
    assert own.scenario == "order"
