"""app.batches against an in-memory provider: batch status pages, the batch list, cancelling."""

from __future__ import annotations

import pytest

from caller_mcp.app import batches, dialling
from caller_mcp.domain.batches import BatchPage, BatchReport, RecipientReport
from caller_mcp.errors import InvalidInput, NotFound, NotSupported, ProviderStatusError, ProviderUnreachable
from caller_mcp.ports import Capabilities
from tests.fakes import PIZZA, FakeProvider

pytestmark = pytest.mark.anyio


def batch(batch_id: str, created_at: float = 1_800_000_000, **fields) -> BatchReport:
    fields.setdefault("status", "in_progress")
    return BatchReport(batch_id=batch_id, name=f"name {batch_id}", created_at=created_at, **fields)


# -- list_batches -----------------------------------------------------------------------------


async def test_list_batches_stops_paging_when_the_cursor_repeats(services, provider):
    provider.pages[None] = BatchPage((batch("b1", 3),), cursor="c1")
    provider.pages["c1"] = BatchPage((batch("b2", 2),), cursor="c1")  # a provider stuck on one page
    answer = await batches.list_batches(services, 500)
    assert provider.list_requests == [(100, None), (100, "c1")]
    assert [b.batch_id for b in answer.batches] == ["b1", "b2"] and answer.warning is None


async def test_list_batches_follows_cursors_until_the_last_page(services, provider):
    provider.pages[None] = BatchPage((batch("b1", 3),), cursor="c1")
    provider.pages["c1"] = BatchPage((batch("b2", 2),), cursor="c2")
    provider.pages["c2"] = BatchPage((batch("b3", 1),), cursor=None)
    answer = await batches.list_batches(services, 50)
    assert provider.list_requests == [(50, None), (49, "c1"), (48, "c2")]
    assert [b.batch_id for b in answer.batches] == ["b1", "b2", "b3"] and answer.count == 3


async def test_list_batches_stops_once_it_has_enough(services, provider):
    provider.pages[None] = BatchPage(tuple(batch(f"b{i}", 100 - i) for i in range(2)), cursor="c1")
    answer = await batches.list_batches(services, 2)
    assert provider.list_requests == [(2, None)] and answer.count == 2


async def test_list_batches_merges_local_batches_newest_first_and_marks_them(services, provider):
    plan = await dialling.plan_batch(services, ["+15551234567"], "mine", PIZZA)
    submitted = await dialling.submit_batch(services, plan)  # btcal_fake_1, created now
    provider.pages[None] = BatchPage((batch(submitted.batch_id, 10**10, status="completed"), batch("theirs", 1)))
    answer = await batches.list_batches(services)
    assert [b.batch_id for b in answer.batches] == [submitted.batch_id, "theirs"]
    mine, theirs = answer.batches
    assert mine.submitted_here is True and mine.local_id is not None and theirs.submitted_here is False
    assert (await services.store.get_batch(submitted.batch_id)).status == "completed"


async def test_list_batches_when_the_provider_fails_shows_local_batches_with_a_warning(services, provider):
    await dialling.submit_batch(services, await dialling.plan_batch(services, ["+15551234567"], "mine", PIZZA))
    provider.failures["list_batches"] = ProviderUnreachable("Could not reach the fake: refused")
    answer = await batches.list_batches(services)
    assert [b.name for b in answer.batches] == ["mine"] and answer.batches[0].submitted_here is True
    assert answer.warning == (
        "The provider's batch list could not be read (Could not reach the fake: refused); "
        "showing this server's records only."
    )


@pytest.mark.parametrize("limit", [0, 501, True])
async def test_list_batches_refuses_a_bad_limit_without_asking_the_provider(services, provider, limit):
    with pytest.raises(InvalidInput, match="^limit must be between 1 and 500.$"):
        await batches.list_batches(services, limit)
    assert provider.list_requests == []


async def test_list_batches_without_batch_capability_is_not_supported(make_services):
    lacking = FakeProvider("dialonly", capabilities=Capabilities(read_call=True))
    with pytest.raises(NotSupported, match="^The dialonly provider does not support batch calls.$"):
        await batches.list_batches(make_services(lacking))
    assert lacking.list_requests == []


# -- get_batch_status -------------------------------------------------------------------------


def _recipients(*statuses: str) -> tuple[RecipientReport, ...]:
    return tuple(
        RecipientReport(status=s, phone_number=f"+1555000{i:04d}", call_ref=f"conv_{i}" if s != "pending" else None)
        for i, s in enumerate(statuses)
    )


async def test_get_batch_status_counts_progress_and_pages_matching_recipients(services, provider):
    provider.batches["btcal_1"] = batch(
        "btcal_1",
        total_calls_scheduled=6,
        recipients=_recipients("completed", "failed", "pending", "voicemail", "failed", "in_progress"),
    )
    answer = await batches.get_batch_status(services, "btcal_1", status="failed,voicemail", offset=0, limit=2)
    assert answer.counts == {"pending": 1, "in_progress": 1, "completed": 1, "failed": 2, "voicemail": 1}
    assert answer.progress == 0.667
    assert answer.recipients_matching == 3 and answer.next_offset == 2
    assert [(r.phone_number, r.status, r.conversation_id) for r in answer.recipients] == [
        ("+15550000001", "failed", "conv_1"),
        ("+15550000003", "voicemail", "conv_3"),
    ]
    last = await batches.get_batch_status(services, "btcal_1", status="failed,voicemail", offset=2, limit=2)
    assert [r.phone_number for r in last.recipients] == ["+15550000004"] and last.next_offset is None


async def test_get_batch_status_progress_uses_recipients_when_nothing_is_scheduled(services, provider):
    provider.batches["btcal_1"] = batch("btcal_1", total_calls_scheduled=0, recipients=_recipients("completed", "pending"))
    assert (await batches.get_batch_status(services, "btcal_1")).progress == 0.5


async def test_get_batch_status_records_the_calls_of_a_batch_submitted_here(services, provider):
    plan = await dialling.plan_batch(services, ["+15550000000", "+15550000001"], "mine", PIZZA, "order a pizza")
    submitted = await dialling.submit_batch(services, plan)
    provider.batches[submitted.batch_id] = batch(submitted.batch_id, recipients=_recipients("completed", "pending"))
    await batches.get_batch_status(services, submitted.batch_id)
    [row] = await services.store.list_calls(10)
    assert row.conversation_id == "conv_0" and row.status == "done" and row.batch_id == submitted.batch_id
    assert row.scenario == "order a pizza" and row.provider == "fakecall"


async def test_get_batch_status_of_an_unknown_batch_is_not_found(services, provider):
    with pytest.raises(NotFound, match="^No batch btcal_x exists for this fakecall account"):
        await batches.get_batch_status(services, "btcal_x")


async def test_get_batch_status_passes_on_other_provider_errors(services, provider):
    provider.failures["get_batch"] = ProviderStatusError("server error", status=500, detail="boom")
    with pytest.raises(ProviderStatusError, match="server error"):
        await batches.get_batch_status(services, "btcal_1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": "done"}, "Unknown recipient status done"),
        ({"offset": -1}, "offset must be 0 or more"),
        ({"limit": 101}, "limit must be between 1 and 100"),
        ({"limit": True}, "limit must be between 1 and 100"),
        ({"offset": False}, "offset must be 0 or more"),
        ({"batch_id": "../x"}, "batch_id must be the id submit_batch or list_batches returned"),
    ],
)
async def test_get_batch_status_refuses_bad_arguments_without_reading(services, provider, kwargs, message):
    arguments = {"batch_id": "btcal_1", **kwargs}
    with pytest.raises(InvalidInput, match=message):
        await batches.get_batch_status(services, **arguments)
    assert provider.batch_reads == []


# -- cancel_batch -----------------------------------------------------------------------------


async def test_cancel_batch_cancels_and_records_the_new_status(services, provider):
    submitted = await dialling.submit_batch(services, await dialling.plan_batch(services, ["+15551234567"], "mine", PIZZA))
    provider.batches[submitted.batch_id] = batch(submitted.batch_id)
    answer = await batches.cancel_batch(services, submitted.batch_id)
    assert provider.cancelled == [submitted.batch_id] and answer.status == "cancelled"
    assert (await services.store.get_batch(submitted.batch_id)).status == "cancelled"


async def test_cancel_batch_without_batch_capability_sends_nothing(make_services):
    lacking = FakeProvider("dialonly", capabilities=Capabilities())
    with pytest.raises(NotSupported, match="dialonly provider does not support batch calls"):
        await batches.cancel_batch(make_services(lacking), "btcal_1")
    assert lacking.cancelled == []


class StoreSpy:
    """Counts the store's batch writes and reads made by status polls."""

    def __init__(self, store, monkeypatch):
        self.calls: list[tuple[str, int]] = []
        for name in ("update_batch_status", "batch_call_statuses", "record_batch_calls", "batch_recipients", "batch_recipient_entries"):
            real = getattr(store, name)

            async def spy(*args, _name=name, _real=real, **kwargs):
                rows = args[2] if _name == "record_batch_calls" else 0
                self.calls.append((_name, len(rows) if rows else 0))
                return await _real(*args, **kwargs)

            monkeypatch.setattr(store, name, spy)


async def test_a_status_poll_writes_only_the_recipients_whose_status_changed(services, provider, monkeypatch):
    plan = await dialling.plan_batch(services, ["+15550000000", "+15550000001", "+15550000002"], "mine", PIZZA)
    submitted = await dialling.submit_batch(services, plan)
    provider.batches[submitted.batch_id] = batch(
        submitted.batch_id, last_updated_at=100, recipients=_recipients("in_progress", "in_progress", "pending")
    )
    spy = StoreSpy(services.store, monkeypatch)
    await batches.get_batch_status(services, submitted.batch_id)
    assert ("record_batch_calls", 2) in spy.calls

    spy.calls.clear()  # the same answer again: the store is not touched at all
    await batches.get_batch_status(services, submitted.batch_id)
    assert spy.calls == []

    spy.calls.clear()  # one recipient finished, one was dispatched: those two rows only
    provider.batches[submitted.batch_id] = batch(
        submitted.batch_id, last_updated_at=130, recipients=_recipients("completed", "in_progress", "initiated")
    )
    await batches.get_batch_status(services, submitted.batch_id)
    assert [c for c in spy.calls if c[0] == "record_batch_calls"] == [("record_batch_calls", 2)]
    statuses = {row.conversation_id: row.provider_status for row in await services.store.list_calls(10)}
    assert statuses == {"conv_0": "completed", "conv_1": "in_progress", "conv_2": "initiated"}


async def test_a_status_poll_of_a_new_process_rewrites_nothing_already_recorded(make_services, provider, monkeypatch):
    first = make_services()
    submitted = await dialling.submit_batch(first, await dialling.plan_batch(first, ["+15550000000"], "mine", PIZZA))
    provider.batches[submitted.batch_id] = batch(submitted.batch_id, last_updated_at=100, recipients=_recipients("completed"))
    await batches.get_batch_status(first, submitted.batch_id)
    second = make_services()  # another process on the same database: it remembers no poll
    spy = StoreSpy(second.store, monkeypatch)
    await batches.get_batch_status(second, submitted.batch_id)
    assert ("batch_call_statuses", 0) in spy.calls and not [c for c in spy.calls if c[0].startswith("batch_recipient")]


async def test_a_poll_after_a_failed_write_writes_again(services, provider, monkeypatch):
    plan = await dialling.plan_batch(services, ["+15550000000"], "mine", PIZZA)
    submitted = await dialling.submit_batch(services, plan)
    provider.batches[submitted.batch_id] = batch(submitted.batch_id, last_updated_at=100, recipients=_recipients("completed"))
    real = services.store.record_batch_calls

    async def broken(*args, **kwargs):
        raise RuntimeError("disk I/O error")

    monkeypatch.setattr(services.store, "record_batch_calls", broken)
    with pytest.raises(RuntimeError):
        await batches.get_batch_status(services, submitted.batch_id)
    monkeypatch.setattr(services.store, "record_batch_calls", real)
    await batches.get_batch_status(services, submitted.batch_id)
    assert [row.conversation_id for row in await services.store.list_calls(10)] == ["conv_0"]
