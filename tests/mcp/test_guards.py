"""The duplicate guards through the tool layer, in one process: a resubmitted batch, concurrent
retries of one batch, and a single call to a number a batch just dialled. (Across processes:
``tests/e2e/test_guards_cross_process.py``.)"""

from __future__ import annotations

import anyio
import httpx
import pytest

from tests.mcp.test_batch_monitoring import AFTER_ALL, MIXED, PIZZA, Counting, clock, submit, text  # noqa: F401

pytestmark = pytest.mark.anyio

NUMBERS = ["+15551230000", "+15551230001", "+15551230002"]
SUBMIT = "POST /v1/convai/batch-calling/submit"


async def test_a_resubmitted_batch_returns_the_first_and_submits_nothing(connect, sandbox_app):
    transport = Counting(httpx.ASGITransport(app=sandbox_app))
    async with connect(transport=transport) as client:
        first = await client.call_tool("submit_batch", {"recipients": NUMBERS, "business_description": PIZZA})
        # The same recipients in another order, under another name: still the same batch.
        again = await client.call_tool(
            "submit_batch", {"recipients": NUMBERS[::-1], "business_description": PIZZA, "call_name": "again"}
        )
    assert not again.is_error, text(again)
    assert transport.requests.count(SUBMIT) == 1
    answer, earlier = again.structured_content, first.structured_content
    assert answer["duplicate_of"] == earlier["batch_id"] == answer["batch_id"]
    assert "Not submitted again" in answer["message"] and "allow_resubmit=true" in answer["message"]
    assert answer["total_calls_scheduled"] == 3
    assert len(sandbox_app.state.sandbox.batches) == 1


async def test_allow_resubmit_submits_the_same_batch_again(connect, sandbox_app):
    transport = Counting(httpx.ASGITransport(app=sandbox_app))
    async with connect(transport=transport) as client:
        await client.call_tool("submit_batch", {"recipients": NUMBERS, "business_description": PIZZA})
        again = await client.call_tool(
            "submit_batch", {"recipients": NUMBERS, "business_description": PIZZA, "allow_resubmit": True}
        )
    assert not again.is_error and "duplicate_of" not in again.structured_content
    assert transport.requests.count(SUBMIT) == 2


async def test_a_batch_with_another_scenario_or_recipient_is_not_a_duplicate(connect, sandbox_app):
    transport = Counting(httpx.ASGITransport(app=sandbox_app))
    async with connect(transport=transport) as client:
        await client.call_tool("submit_batch", {"recipients": NUMBERS, "business_description": PIZZA})
        await client.call_tool(
            "submit_batch", {"recipients": NUMBERS, "business_description": PIZZA, "scenario": "ask the hours"}
        )
        await client.call_tool("submit_batch", {"recipients": NUMBERS[:2], "business_description": PIZZA})
    assert transport.requests.count(SUBMIT) == 3


async def test_place_call_after_a_batch_to_the_same_number_and_scenario_returns_the_batch(connect, sandbox_app):
    transport = Counting(httpx.ASGITransport(app=sandbox_app))
    async with connect(transport=transport) as client:
        batch_id = await submit(client, NUMBERS)
        answer = await client.call_tool("place_call", {"to_number": NUMBERS[1], "business_description": PIZZA})
        other = await client.call_tool(
            "place_call", {"to_number": NUMBERS[1], "business_description": PIZZA, "scenario": "ask the hours"}
        )
    assert not answer.is_error, text(answer)
    placed = answer.structured_content
    assert placed["duplicate_of"] == batch_id and "conversation_id" not in placed
    assert f"recipient of batch {batch_id}" in placed["message"] and "get_batch_status" in placed["message"]
    assert not other.is_error and "duplicate_of" not in other.structured_content  # another goal: dialled
    assert sum(1 for r in transport.requests if r.endswith("/outbound-call")) == 1


async def test_concurrent_retries_of_one_batch_send_one_retry_and_all_answer_it(connect, sandbox_app, clock):
    transport = Counting(httpx.ASGITransport(app=sandbox_app))
    answers = []
    async with connect(transport=transport) as client:
        batch_id = await submit(client, MIXED)
        clock.advance(AFTER_ALL)

        async def retry() -> None:
            answers.append(await client.call_tool("retry_batch", {"batch_id": batch_id}))

        async with anyio.create_task_group() as tasks:
            for _ in range(5):
                tasks.start_soon(retry)
    assert len(transport.retry_posts()) == 1
    assert all(not a.is_error for a in answers), [text(a) for a in answers if a.is_error]
    results = [a.structured_content for a in answers]
    duplicates = [r for r in results if "duplicate_of" in r]
    # A retry planned after the first was sent finds nothing left to retry (the recipients are
    # being called again): it says so and sends nothing either.
    idle = [r for r in results if "duplicate_of" not in r and r["recipients_retried"] == 0]
    [sent] = [r for r in results if "duplicate_of" not in r and r["recipients_retried"]]
    assert sent["recipients_retried"] == 3 and len(duplicates) + len(idle) == 4
    assert all(d["batch_id"] == batch_id and "Not sent again" in d["message"] for d in duplicates)
    assert {d["recipients_retried"] for d in duplicates} <= {3}
    assert all("Nothing to retry" in r["message"] for r in idle)
