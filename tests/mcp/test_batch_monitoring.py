"""Batch monitoring through the MCP tool layer: get_batch_status paging and filters, batch calls in
list_calls, list_batches (merge, paging, provider failure), retry_batch, and the context resource
(the test_phone_line prompt is tested with the suites, in test_test_suites.py).

Sandbox time is driven by the ManualClock only (``clock.advance``); nothing sleeps to wait for state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import anyio
import httpx
import pytest
from mcp import Client
from mcp_types import ElicitResult

from caller_mcp.app import batches as batches_use_case
from caller_mcp.bootstrap import bootstrap
from caller_mcp.domain.batches import RECIPIENT_STATUSES
from caller_mcp.mcp.server import build_server
from caller_mcp.providers.elevenlabs.config import SANDBOX_AGENT_ID, SANDBOX_API_KEY, SANDBOX_PHONE_NUMBER_ID
from caller_mcp.sandbox import ManualClock
from caller_mcp.settings import Settings
from caller_mcp.store import SqliteStore

from tests.fakes import real_settings

pytestmark = pytest.mark.anyio

PIZZA = "We are Pizza Palace, a pizza restaurant that takes orders and handles delivery inquiries."
KEY = "sk_live_BATCH_MONITORING_0042"
#: Seconds after which every recipient of the batches below has finished (waves of 2 every 3 s,
#: the longest call 0.5 s dispatch + 12 s).
AFTER_ALL = 300
#: Retry-After 0: the provider's retries of a read happen at once (no real backoff sleep).
NO_WAIT = {"retry-after": "0"}


@pytest.fixture
def clock() -> ManualClock:
    """The sandbox clock starts at the real time, so the sandbox's timestamps (recorded for batch
    recipients' calls) fall inside the hourly-cap window like a real provider's would."""
    return ManualClock(start=float(int(time.time())))


def text(result) -> str:
    return result.content[0].text




class Counting(httpx.AsyncBaseTransport):
    """Wraps a transport and records every request as ``"METHOD /path"``."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def retry_posts(self) -> list[str]:
        return [r for r in self.requests if r.startswith("POST ") and r.endswith("/retry")]


def decline(seen: list[str]):
    async def callback(context, params):
        seen.append(params.message)
        return ElicitResult(action="decline")

    return callback


async def submit(client, recipients, **extra) -> str:
    result = await client.call_tool(
        "submit_batch", {"recipients": recipients, "business_description": PIZZA, **extra}
    )
    assert not result.is_error, text(result)
    return result.structured_content["batch_id"]


async def status(client, batch_id: str, **arguments) -> dict:
    result = await client.call_tool("get_batch_status", {"batch_id": batch_id, **arguments})
    assert not result.is_error, text(result)
    return result.structured_content


#: 45 distinct numbers cycling through the sandbox outcomes: completed, voicemail, no answer
#: (failed), busy (failed), refused (failed).
SUFFIXES = ("0000", "0001", "0002", "0003", "0004")
FORTY_FIVE = [f"+1555{i:04d}{SUFFIXES[i % 5]}" for i in range(45)]


# -- get_batch_status --------------------------------------------------------------------------


async def test_get_batch_status_pages_of_20_cover_every_recipient_once_in_order(connect, clock):
    async with connect() as client:
        batch_id = await submit(client, FORTY_FIVE)
        clock.advance(AFTER_ALL)
        seen: list[str] = []
        offsets = []
        offset: int | None = 0
        while offset is not None:
            offsets.append(offset)
            page = await status(client, batch_id, offset=offset, limit=20)
            assert page["recipients_matching"] == 45
            assert len(page["recipients"]) <= 20
            seen.extend(r["phone_number"] for r in page["recipients"])
            offset = page.get("next_offset")
    assert offsets == [0, 20, 40]
    assert "next_offset" not in page and len(page["recipients"]) == 5
    assert seen == FORTY_FIVE


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"limit": 0}, "limit must be between 1 and 100"),
        ({"limit": 101}, "limit must be between 1 and 100"),
        ({"offset": -1}, "offset must be 0 or more"),
    ],
)
async def test_get_batch_status_out_of_bounds_page_is_a_tool_error_naming_the_bound(connect, arguments, fragment):
    async with connect() as client:
        batch_id = await submit(client, ["+15551230000"])
        result = await client.call_tool("get_batch_status", {"batch_id": batch_id, **arguments})
    assert result.is_error
    assert fragment in text(result)


async def test_get_batch_status_filter_returns_only_failed_and_voicemail_with_conversations(connect, clock):
    async with connect() as client:
        batch_id = await submit(client, FORTY_FIVE)
        clock.advance(AFTER_ALL)
        answer = await status(client, batch_id, status="failed,voicemail", limit=100)
        spaced = await status(client, batch_id, status=" Voicemail , FAILED ", limit=100)
    expected = [n for n in FORTY_FIVE if not n.endswith("0000")]
    assert answer["recipients_matching"] == len(expected) == 36
    assert [r["phone_number"] for r in answer["recipients"]] == expected
    assert {r["status"] for r in answer["recipients"]} == {"failed", "voicemail"}
    assert all(r["status"] == "voicemail" for r in answer["recipients"] if r["phone_number"].endswith("0001"))
    assert all(r["conversation_id"] for r in answer["recipients"])
    assert "next_offset" not in answer
    assert answer["counts"] == {"completed": 9, "voicemail": 9, "failed": 27}  # counts stay unfiltered
    assert spaced["recipients"] == answer["recipients"]


async def test_get_batch_status_unknown_status_is_a_tool_error_listing_valid_statuses(connect):
    async with connect() as client:
        batch_id = await submit(client, ["+15551230000"])
        result = await client.call_tool("get_batch_status", {"batch_id": batch_id, "status": "failed,done"})
    assert result.is_error
    message = text(result)
    assert "Unknown recipient status done" in message
    for valid in RECIPIENT_STATUSES:
        assert valid in message


async def test_get_batch_status_progress_goes_from_0_through_a_fraction_to_1(connect, clock):
    async with connect() as client:
        batch_id = await submit(client, FORTY_FIVE)
        start = await status(client, batch_id)
        clock.advance(30)
        middle = await status(client, batch_id)
        clock.advance(AFTER_ALL)
        end = await status(client, batch_id)
    finished = ("completed", "failed", "voicemail", "cancelled")
    assert start["progress"] == 0
    assert start["status"] in ("pending", "in_progress")
    assert 0 < middle["progress"] < 1
    assert middle["progress"] == round(sum(middle["counts"].get(s, 0) for s in finished) / 45, 3)
    assert middle["status"] == "in_progress"
    assert end["progress"] == 1 and end["status"] == "completed"
    for answer in (start, middle, end):
        assert sum(answer["counts"].values()) == 45
        assert all(n > 0 for n in answer["counts"].values())
        assert set(answer["counts"]) <= set(RECIPIENT_STATUSES)
    assert set(start["counts"]) == {"pending", "dispatched"}
    assert start["total_calls_scheduled"] == 45


async def test_get_batch_status_of_10000_recipients_answers_in_at_most_4000_characters(connect, clock):
    numbers = [f"+1555{i:07d}" for i in range(10_000)]
    async with connect() as client:
        batch_id = await submit(client, numbers, call_name="ten thousand")
        first = await client.call_tool("get_batch_status", {"batch_id": batch_id})
        clock.advance(20_000)  # every recipient finished: every one has a conversation id
        last = await client.call_tool("get_batch_status", {"batch_id": batch_id})
        calls = (await client.call_tool("list_calls", {"limit": 200})).structured_content
    for result in (first, last):
        assert not result.is_error, text(result)
        assert len(text(result)) <= 4_000
        assert len(result.structured_content["recipients"]) == 20
        assert result.structured_content["next_offset"] == 20
    assert sum(last.structured_content["counts"].values()) == 10_000
    assert last.structured_content["progress"] == 1
    assert calls["count"] == 200 and all(c["batch_id"] == batch_id for c in calls["calls"])


async def test_a_poll_builds_recipient_objects_only_for_its_page_and_the_calls_it_records(connect, clock, monkeypatch):
    """A poll of a large batch compares recipients as plain tuples: it makes a recipient object
    for each one shown and each call it writes, never for the unchanged rest."""
    from caller_mcp.providers.elevenlabs import mapping

    built: list[dict] = []
    real = mapping._recipient
    monkeypatch.setattr(mapping, "_recipient", lambda raw: built.append(raw) or real(raw))
    written: list[int] = []
    real_record = SqliteStore.record_batch_calls
    monkeypatch.setattr(
        SqliteStore, "record_batch_calls", lambda self, *a: written.append(len(a[2])) or real_record(self, *a)
    )
    numbers = [f"+1555{i:07d}" for i in range(3_000)]
    async with connect() as client:
        batch_id = await submit(client, numbers, call_name="three thousand")
        answers = []
        for advance, page in ((0, {}), (60, {}), (0, {"offset": 10}), (120, {"status": "completed"})):
            clock.advance(advance)
            built.clear()
            written.clear()
            answers.append(await status(client, batch_id, limit=5, **page))
            assert len(built) == len(answers[-1]["recipients"]) + sum(written)
    assert sum(answers[1]["counts"].values()) == 3_000 and answers[2]["counts"] == answers[1]["counts"]
    assert [len(a["recipients"]) for a in answers] == [5, 5, 5, 5]
    assert all(r["status"] == "completed" for r in answers[3]["recipients"])


# -- batch calls in list_calls ----------------------------------------------------------------

RECIPIENTS = [
    {"phone_number": "+15551230000", "scenario": "order a pizza"},
    {"phone_number": "+15551230002", "scenario": "ask the opening hours"},
    {"phone_number": "+15551230010", "scenario": "book a table for four"},
]


def rows_by_number(listed: dict) -> dict[str, dict]:
    return {c["to_number"]: c for c in listed["calls"]}


async def test_batch_calls_appear_in_list_calls_once_each_with_scenario_and_normalised_status(connect, clock):
    async with connect() as client:
        batch_id = await submit(client, RECIPIENTS, scenario="a default goal")
        early = await status(client, batch_id)  # first wave dispatched: 2 conversations named
        after_first = (await client.call_tool("list_calls", {})).structured_content
        clock.advance(AFTER_ALL)
        await status(client, batch_id)
        after_end = (await client.call_tool("list_calls", {})).structured_content
        await status(client, batch_id)
        await status(client, batch_id, status="failed")
        again = (await client.call_tool("list_calls", {})).structured_content
    assert sum(1 for r in early["recipients"] if r.get("conversation_id")) == 2
    assert after_first["count"] == 2
    assert {c["status"] for c in after_first["calls"]} == {"queued"}
    assert after_end["count"] == 3
    rows = rows_by_number(after_end)
    assert set(rows) == {r["phone_number"] for r in RECIPIENTS}
    for recipient in RECIPIENTS:
        row = rows[recipient["phone_number"]]
        assert row["batch_id"] == batch_id
        assert row["scenario"] == recipient["scenario"]
        assert row["conversation_id"] and row["call_id"] == row["conversation_id"]
    assert rows["+15551230000"]["status"] == "done"  # completed → done
    assert rows["+15551230010"]["status"] == "done"
    assert rows["+15551230002"]["status"] == "failed"  # no answer → failed
    assert again["count"] == 3
    assert sorted(c["call_id"] for c in again["calls"]) == sorted(c["call_id"] for c in after_end["calls"])
    assert rows_by_number(again) == rows


async def test_batch_calls_in_list_calls_survive_a_restart(connect, clock):
    async with connect() as client:
        batch_id = await submit(client, RECIPIENTS)
        clock.advance(AFTER_ALL)
        await status(client, batch_id)
        before = (await client.call_tool("list_calls", {})).structured_content
    async with connect() as client:
        after = (await client.call_tool("list_calls", {})).structured_content
        failed = (await client.call_tool("list_calls", {"status": "failed"})).structured_content
    assert after["count"] == 3
    assert rows_by_number(after) == rows_by_number(before)
    assert [c["to_number"] for c in failed["calls"]] == ["+15551230002"]


async def test_recorded_batch_calls_do_not_count_twice_towards_the_hourly_cap(connect, db_path, clock, sandbox_app):
    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_max_calls_per_hour=5)
    async with connect(settings) as client:
        batch_id = await submit(client, ["+15551230000", "+15551230010", "+15551230020"])
        clock.advance(AFTER_ALL)
        await status(client, batch_id)
        listed = (await client.call_tool("list_calls", {})).structured_content
        assert listed["count"] == 3 and all(c["batch_id"] == batch_id for c in listed["calls"])
        one = await client.call_tool("place_call", {"to_number": "+15551234567", "business_description": PIZZA})
        second_batch = await client.call_tool(
            "submit_batch",
            {"recipients": ["+15551230030", "+15551230040", "+15551230050"], "business_description": PIZZA},
        )
    assert not one.is_error, text(one)  # 3 (batch) + 1 <= 5: the recorded rows are not counted again
    assert second_batch.is_error
    assert "Hourly call cap reached: 4 calls in the last hour" in text(second_batch)
    assert "CALLER_MCP_MAX_CALLS_PER_HOUR=5" in text(second_batch)
    assert len(sandbox_app.state.sandbox.batches) == 1


async def test_a_batch_the_provider_reports_failed_after_dialling_still_counts_towards_the_hourly_cap(connect, db_path):
    submitted = {"id": "btcal_1", "name": "b", "status": "pending", "total_calls_scheduled": 2}
    reported = {
        **submitted,
        "status": "failed",
        "total_calls_dispatched": 2,
        "recipients": [
            {"id": "r1", "phone_number": "+14155550123", "status": "failed", "conversation_id": "conv_1"},
            {"id": "r2", "phone_number": "+14155550124", "status": "failed", "conversation_id": "conv_2"},
        ],
    }
    posts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(request.url.path)
            if request.url.path == "/v1/convai/batch-calling/submit":
                return httpx.Response(200, json=submitted)
            return httpx.Response(200, json={"success": True, "message": "ok", "conversation_id": "conv_x", "callSid": "CA1"})
        return httpx.Response(200, json=reported)

    # Regression: the store's dials_since once left out every batch with status 'failed', the column where
    # get_batch_status and list_batches store the provider's batch status.
    settings = real_settings(db_path, KEY, caller_mcp_max_calls_per_hour=2)
    async with connect(settings, transport=httpx.MockTransport(handler)) as client:
        await submit(client, ["+14155550123", "+14155550124"])  # 2 of 2 dials used
        assert (await status(client, "btcal_1"))["status"] == "failed"  # both phones rang, no one answered
        call = await client.call_tool("place_call", {"to_number": "+14155550199", "business_description": PIZZA})
    assert call.is_error and "Hourly call cap reached" in text(call)
    assert posts == ["/v1/convai/batch-calling/submit"]


# -- list_batches ------------------------------------------------------------------------------


async def submit_directly(sandbox_app, name: str, numbers: list[str]) -> str:
    """Create a batch on the sandbox without this server (as another tool or the dashboard would)."""
    body = {
        "call_name": name,
        "agent_id": SANDBOX_AGENT_ID,
        "agent_phone_number_id": SANDBOX_PHONE_NUMBER_ID,
        "scheduled_time_unix": None,
        "recipients": [{"phone_number": n, "conversation_initiation_client_data": None} for n in numbers],
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="http://sandbox") as http:
        response = await http.post(
            "/v1/convai/batch-calling/submit", json=body, headers={"xi-api-key": SANDBOX_API_KEY}
        )
    assert response.status_code == 200, response.text
    return response.json()["id"]


async def test_list_batches_merges_own_and_workspace_batches_newest_first_within_limit(connect, clock, sandbox_app):
    async with connect() as client:
        oldest = await submit(client, ["+15551230000"], call_name="first here")
        clock.advance(10)
        direct = await submit_directly(sandbox_app, "made elsewhere", ["+15551230010"])
        clock.advance(10)
        newest = await submit(client, ["+15551230020"], call_name="second here")
        listed = await client.call_tool("list_batches", {})
        two = await client.call_tool("list_batches", {"limit": 2})
    assert not listed.is_error, text(listed)
    answer = listed.structured_content
    assert answer["count"] == 3
    assert [b["batch_id"] for b in answer["batches"]] == [newest, direct, oldest]
    by_id = {b["batch_id"]: b for b in answer["batches"]}
    for own, name in ((oldest, "first here"), (newest, "second here")):
        assert by_id[own]["submitted_here"] is True
        assert by_id[own]["local_id"].startswith("batch_")
        assert by_id[own]["name"] == name
    assert by_id[direct]["submitted_here"] is False
    assert "local_id" not in by_id[direct]
    assert by_id[direct]["name"] == "made elsewhere"
    assert by_id[direct]["total_calls_scheduled"] == 1
    assert answer["provider"] == "elevenlabs" and answer["sandbox"] is True and "warning" not in answer
    assert [b["batch_id"] for b in two.structured_content["batches"]] == [newest, direct]
    assert two.structured_content["count"] == 2


@pytest.mark.parametrize("limit", [0, 501])
async def test_list_batches_out_of_bounds_limit_is_a_tool_error(connect, limit):
    async with connect() as client:
        result = await client.call_tool("list_batches", {"limit": limit})
    assert result.is_error
    assert "limit must be between 1 and 500" in text(result)


class Workspace:
    """A MockTransport handler: a workspace of ``total`` batches, newest first, in pages of at
    most 100 linked by ``last_doc`` / ``next_doc``; records every request."""

    def __init__(self, total: int) -> None:
        self.batches = [
            {
                "id": f"btcal_ws{i:04d}",
                "name": f"workspace batch {i}",
                "agent_id": "agent_1",
                "status": "completed",
                "created_at_unix": 1_767_225_600 - 60 * i,
                "total_calls_scheduled": 2,
                "total_calls_dispatched": 2,
            }
            for i in range(total)
        ]
        self.requests: list[dict] = []
        self.answers: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("GET", "/v1/convai/batch-calling/workspace")
        params = dict(request.url.params)
        self.requests.append(params)
        limit = int(params["limit"])
        assert 1 <= limit <= 100
        ids = [b["id"] for b in self.batches]
        start = ids.index(params["last_doc"]) + 1 if "last_doc" in params else 0
        page = self.batches[start : start + limit]
        has_more = start + limit < len(self.batches)
        answer = {"batch_calls": page, "has_more": has_more, "next_doc": page[-1]["id"] if has_more else None}
        self.answers.append(answer)
        return httpx.Response(200, json=answer)


async def test_list_batches_250_reads_three_workspace_pages_linked_by_last_doc(connect, db_path):
    workspace = Workspace(250)
    async with connect(real_settings(db_path, KEY), transport=httpx.MockTransport(workspace)) as client:
        result = await client.call_tool("list_batches", {"limit": 250})
    assert not result.is_error, text(result)
    answer = result.structured_content
    assert len(workspace.requests) == 3
    assert "last_doc" not in workspace.requests[0]
    assert workspace.requests[1]["last_doc"] == workspace.answers[0]["next_doc"]
    assert workspace.requests[2]["last_doc"] == workspace.answers[1]["next_doc"]
    assert [int(r["limit"]) for r in workspace.requests] == [100, 100, 50]
    assert answer["count"] == 250
    assert [b["batch_id"] for b in answer["batches"]] == [b["id"] for b in workspace.batches]
    assert not any(b["submitted_here"] for b in answer["batches"])


def workspace_down(submit_answer: Callable[[httpx.Request], httpx.Response]):
    """A provider whose batch submit answers ``submit_answer`` and whose workspace list fails."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "POST" and request.url.path == "/v1/convai/batch-calling/submit":
            return submit_answer(request)
        if request.method == "GET" and request.url.path == "/v1/convai/batch-calling/workspace":
            return httpx.Response(500, json={"detail": {"status": "internal_error", "message": "boom"}}, headers=NO_WAIT)
        return httpx.Response(404, json={"detail": {"status": "not_found", "message": "nothing here"}})

    return handler, seen


BATCH_OK = {
    "id": "btcal_1", "name": "own batch", "agent_id": "agent_1", "status": "pending", "phone_provider": "twilio",
    "created_at_unix": 1767225600, "scheduled_time_unix": 1767225600, "total_calls_scheduled": 2,
    "total_calls_dispatched": 0, "last_updated_at_unix": 1767225600,
}


async def test_list_batches_with_the_workspace_down_answers_own_records_with_a_warning(connect, db_path):
    handler, seen = workspace_down(lambda request: httpx.Response(200, json=BATCH_OK))
    async with connect(real_settings(db_path, KEY), transport=httpx.MockTransport(handler)) as client:
        submitted = await client.call_tool(
            "submit_batch",
            {"recipients": ["+14155550123", "+14155550124"], "business_description": PIZZA, "call_name": "own batch"},
        )
        assert not submitted.is_error, text(submitted)
        result = await client.call_tool("list_batches", {})
    assert not result.is_error, text(result)
    answer = result.structured_content
    assert seen.count("GET /v1/convai/batch-calling/workspace") == 3  # a read is retried, then given up
    assert "could not be read" in answer["warning"] and "this server's records only" in answer["warning"]
    assert KEY not in text(result)
    [batch] = answer["batches"]
    assert batch["batch_id"] == "btcal_1" and batch["submitted_here"] is True
    assert batch["local_id"].startswith("batch_") and batch["total_calls_scheduled"] == 2


async def test_list_batches_shows_an_outcome_unknown_submission_from_the_store_with_its_error(connect, db_path):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(500, json={"detail": {"status": "internal_error", "message": "boom"}})
        return httpx.Response(200, json={"batch_calls": [], "has_more": False, "next_doc": None})

    async with connect(real_settings(db_path, KEY), transport=httpx.MockTransport(handler)) as client:
        submitted = await client.call_tool(
            "submit_batch", {"recipients": ["+14155550123"], "business_description": PIZZA, "call_name": "lost"}
        )
        result = await client.call_tool("list_batches", {})
    assert submitted.is_error and "may or may not have been placed" in text(submitted)
    assert not result.is_error, text(result)
    answer = result.structured_content
    assert "warning" not in answer
    [batch] = answer["batches"]
    assert "batch_id" not in batch
    assert batch["status"] == "outcome_unknown" and batch["submitted_here"] is True
    assert batch["local_id"].startswith("batch_") and batch["local_id"] in text(submitted)
    assert batch["name"] == "lost" and batch["total_calls_scheduled"] == 1
    assert "may or may not have been placed" in batch["error"]


# -- retry_batch -------------------------------------------------------------------------------

MIXED = ["+15551230000", "+15551230001", "+15551230002", "+15551230003"]


async def test_retry_batch_recalls_failed_and_voicemail_and_the_busy_line_answers(connect, clock):
    async with connect() as client:
        batch_id = await submit(client, MIXED)
        clock.advance(AFTER_ALL)
        before = await status(client, batch_id)
        retried = await client.call_tool("retry_batch", {"batch_id": batch_id})
        clock.advance(AFTER_ALL)
        after = await status(client, batch_id)
        listed = (await client.call_tool("list_calls", {})).structured_content
    assert before["counts"] == {"completed": 1, "voicemail": 1, "failed": 2}
    assert not retried.is_error, text(retried)
    answer = retried.structured_content
    assert answer["recipients_retried"] == 3
    assert answer["status"] in ("pending", "in_progress", "completed")
    assert answer["batch_id"] == batch_id and "get_batch_status" in answer["message"]
    by_number = {r["phone_number"]: r for r in after["recipients"]}
    assert by_number["+15551230003"]["status"] == "completed"  # busy line answered on retry
    assert by_number["+15551230002"]["status"] == "failed"  # still no answer
    assert by_number["+15551230001"]["status"] == "voicemail"
    assert by_number["+15551230000"]["status"] == "completed"
    old = {r["phone_number"]: r["conversation_id"] for r in before["recipients"]}
    assert by_number["+15551230003"]["conversation_id"] != old["+15551230003"]
    assert by_number["+15551230000"]["conversation_id"] == old["+15551230000"]  # not called again
    # each dialled attempt is a call row: 4 first calls + 3 retried
    assert listed["count"] == 7


async def test_retry_batch_with_nothing_failed_sends_no_retry_and_says_so(connect, sandbox_app, clock):
    transport = Counting(httpx.ASGITransport(app=sandbox_app))
    async with connect(transport=transport) as client:
        batch_id = await submit(client, ["+15551230000", "+15551230010"])
        clock.advance(AFTER_ALL)
        result = await client.call_tool("retry_batch", {"batch_id": batch_id})
    assert not result.is_error, text(result)
    answer = result.structured_content
    assert answer["recipients_retried"] == 0
    assert "Nothing to retry" in answer["message"] and "Nothing was sent" in answer["message"]
    assert transport.retry_posts() == []
    assert f"GET /v1/convai/batch-calling/{batch_id}" in transport.requests


async def test_retry_batch_of_an_unknown_batch_is_a_clear_tool_error(connect, sandbox_app):
    transport = Counting(httpx.ASGITransport(app=sandbox_app))
    async with connect(transport=transport) as client:
        missing = await client.call_tool("retry_batch", {"batch_id": "btcal_doesnotexist"})
        malformed = await client.call_tool("retry_batch", {"batch_id": "../phone-numbers/x"})
    assert missing.is_error and "No batch btcal_doesnotexist exists" in text(missing)
    assert malformed.is_error and "batch_id must be the id submit_batch or list_batches returned" in text(malformed)
    assert transport.retry_posts() == []


async def test_retry_batch_over_the_hourly_cap_is_refused_and_sends_no_retry(connect, db_path, sandbox_app, clock):
    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_max_calls_per_hour=6)
    transport = Counting(httpx.ASGITransport(app=sandbox_app))
    async with connect(settings, transport=transport) as client:
        batch_id = await submit(client, MIXED)  # 4 dials; the retry would add 3 → 7 > 6
        clock.advance(AFTER_ALL)
        result = await client.call_tool("retry_batch", {"batch_id": batch_id})
    assert result.is_error
    assert "Hourly call cap reached: 4 calls in the last hour" in text(result)
    assert "CALLER_MCP_MAX_CALLS_PER_HOUR=6" in text(result) and "batch of 3 calls" in text(result)
    assert transport.retry_posts() == []
    store = SqliteStore(db_path)
    try:
        assert store._db.execute("SELECT COUNT(*) FROM batch_retries").fetchone()[0] == 0
    finally:
        store.close()


def failing_retry_provider():
    """A real-mode provider: the batch has two failed recipients and the retry POST answers 500."""
    posts: list[str] = []
    batch = {
        **BATCH_OK,
        "status": "completed",
        "total_calls_dispatched": 2,
        "recipients": [
            {"id": "r1", "phone_number": "+14155550123", "status": "failed", "conversation_id": "conv_1"},
            {"id": "r2", "phone_number": "+14155550124", "status": "completed", "conversation_id": "conv_2"},
            {"id": "r3", "phone_number": "+14155550125", "status": "voicemail", "conversation_id": "conv_3"},
        ],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/v1/convai/batch-calling/btcal_1":
            return httpx.Response(200, json=batch)
        if request.method == "POST" and request.url.path == "/v1/convai/batch-calling/btcal_1/retry":
            posts.append(request.url.path)
            return httpx.Response(500, json={"detail": {"status": "internal_error", "message": "boom"}}, headers=NO_WAIT)
        return httpx.Response(404, json={"detail": {"status": "not_found", "message": "nothing here"}})

    return handler, posts


async def test_retry_batch_answered_500_is_outcome_unknown_after_one_post_and_recorded(connect, db_path):
    handler, posts = failing_retry_provider()
    async with connect(real_settings(db_path, KEY), transport=httpx.MockTransport(handler)) as client:
        result = await client.call_tool("retry_batch", {"batch_id": "btcal_1"})
    assert result.is_error
    message = text(result)
    assert "answered 500" in message and "may or may not have been placed" in message
    assert "Check get_batch_status before retrying again" in message
    assert KEY not in message
    assert len(posts) == 1
    store = SqliteStore(db_path)
    try:
        rows = store._db.execute("SELECT batch_id, recipients, status, error FROM batch_retries").fetchall()
    finally:
        store.close()
    assert [tuple(r) for r in rows] == [("btcal_1", 2, "outcome_unknown", rows[0]["error"])]
    assert "answered 500" in rows[0]["error"]


async def test_retry_batch_declined_by_the_person_posts_nothing(connect, settings, sandbox_app, clock, db_path):
    async with connect() as client:  # this client declares no elicitation: the submission is not asked
        batch_id = await submit(client, MIXED)
    clock.advance(AFTER_ALL)
    transport = Counting(httpx.ASGITransport(app=sandbox_app))
    seen: list[str] = []
    server = build_server(settings, transport=transport)  # CALLER_MCP_CONFIRM defaults to batch
    async with Client(server, elicitation_callback=decline(seen)) as client:
        result = await client.call_tool("retry_batch", {"batch_id": batch_id})
    assert result.is_error and "did not confirm" in text(result)
    assert transport.retry_posts() == []
    assert len(seen) == 1 and "Call 3 recipients of batch" in seen[0] and "+15551230002" in seen[0]
    store = SqliteStore(db_path)
    try:
        assert store._db.execute("SELECT COUNT(*) FROM batch_retries").fetchone()[0] == 0
    finally:
        store.close()


# -- resources and prompt ----------------------------------------------------------------------


async def test_context_resource_says_none_is_set_then_reads_the_stored_context(connect):
    async with connect() as client:
        before = await client.read_resource("caller://context")
        await client.call_tool("set_business_context", {"description": PIZZA, "scenario": "order a pizza"})
        after = await client.read_resource("caller://context")
    empty = json.loads(before.contents[0].text)
    assert empty["description"] is None and "set_business_context" in empty["message"]
    stored = json.loads(after.contents[0].text)
    assert stored["description"] == PIZZA
    assert stored["scenario"] == "order a pizza" and stored["scenario_is_default"] is False
    assert stored["updated_at"].endswith("+00:00")


async def test_resource_templates_include_the_call_transcript(connect):
    async with connect() as client:
        templates = (await client.list_resource_templates()).resource_templates
    assert "caller://calls/{call_id}/transcript" in {t.uri_template for t in templates}


class EndlessWorkspace:
    """A MockTransport handler: a workspace that answers every page empty with ``has_more: true``
    and a new ``next_doc`` (it would be paged forever); ``tick`` seconds pass on ``clock`` per read."""

    def __init__(self, clock: list[float] | None = None, tick: float = 0.0) -> None:
        self.requests: list[dict] = []
        self.clock, self.tick = clock, tick

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("GET", "/v1/convai/batch-calling/workspace")
        self.requests.append(dict(request.url.params))
        if self.clock is not None:
            self.clock[0] += self.tick
        return httpx.Response(200, json={"batch_calls": [], "has_more": True, "next_doc": f"doc{len(self.requests)}"})


async def test_list_batches_stops_at_its_page_budget_and_says_so(connect, db_path):
    workspace = EndlessWorkspace()
    async with connect(real_settings(db_path, KEY), transport=httpx.MockTransport(workspace)) as client:
        result = await client.call_tool("list_batches", {"limit": 500})
    assert not result.is_error, text(result)
    answer = result.structured_content
    assert len(workspace.requests) == batches_use_case.MAX_WORKSPACE_PAGES
    assert answer["stopped_early"] is True and answer["count"] == 0
    assert f"after {batches_use_case.MAX_WORKSPACE_PAGES} pages" in answer["warning"]
    assert "smaller limit" in answer["warning"] and "stopped_early" in text(result)


async def test_list_batches_stops_at_its_time_budget_and_says_so(db_path):
    """Each read takes 7 s on the services' clock: the third would start past the 20 s budget."""
    clock = [0.0]
    workspace = EndlessWorkspace(clock, tick=7.0)
    settings = real_settings(db_path, KEY)
    services = bootstrap(settings, transport=httpx.MockTransport(workspace), monotonic=lambda: clock[0])
    try:
        async with Client(build_server(settings, services=services), raise_exceptions=True) as client:
            result = await client.call_tool("list_batches", {"limit": 500})
    finally:
        await services.aclose()
    answer = result.structured_content
    assert len(workspace.requests) == 3 and answer["stopped_early"] is True
    assert "after 3 pages" in answer["warning"]


async def test_list_batches_that_reads_every_page_does_not_say_it_stopped_early(connect, db_path):
    workspace = Workspace(120)
    async with connect(real_settings(db_path, KEY), transport=httpx.MockTransport(workspace)) as client:
        result = await client.call_tool("list_batches", {"limit": 500})
    answer = result.structured_content
    assert answer["count"] == 120 and "stopped_early" not in answer and "warning" not in answer


async def test_list_batches_abandons_a_page_read_that_outlasts_its_time_budget(connect, db_path, monkeypatch):
    monkeypatch.setattr(batches_use_case, "WORKSPACE_BUDGET_SECS", 0.3)
    release = anyio.Event()

    async def hanging(request: httpx.Request) -> httpx.Response:
        await release.wait()  # never set: the read outlasts any budget
        return httpx.Response(200, json={"batch_calls": [], "has_more": False})

    with anyio.fail_after(10):
        async with connect(real_settings(db_path, KEY), transport=httpx.MockTransport(hanging)) as client:
            result = await client.call_tool("list_batches", {})
    answer = result.structured_content
    assert answer["stopped_early"] is True and "after 0 pages" in answer["warning"]
