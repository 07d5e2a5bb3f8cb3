"""ElevenLabsProvider reading calls (conversations) and batch lists, and retrying batches, against
``httpx.MockTransport`` handlers that play the ElevenLabs API.

The conversation fields follow ``shared/reference/README.md`` (``GET /v1/convai/conversations/{id}``:
``status``, ``transcript[]``, ``metadata``, ``analysis`` — null until the call is done); the batch
endpoints follow ``003_…`` (``GET /v1/convai/batch-calling/workspace``, ``POST …/{id}/retry``).
"""

from __future__ import annotations

from urllib.parse import unquote

import httpx
import pytest

from caller_mcp.domain.calls import Cost
from caller_mcp.errors import OutcomeUnknown, ProviderStatusError
from caller_mcp.providers.elevenlabs.mapping import call_report
from tests.fakes import (
    AGENT_ID,
    KEY,
    PHONE_ID,
    FakeApi,
    FakeSleep,
    assert_authenticated,
    error_answer,
    open_provider,
    raises,
)

pytestmark = pytest.mark.anyio

CONVERSATIONS = "/v1/convai/conversations/"
WORKSPACE_PATH = "/v1/convai/batch-calling/workspace"

FULL_CONVERSATION = {
    "agent_id": AGENT_ID,
    "conversation_id": "conv_full_1",
    "status": "done",
    "transcript": [
        {"role": "user", "message": "Joe's Pizza, how can I help?", "time_in_call_secs": 0},
        {"role": "agent", "message": "Hi, I'd like a large margherita for pickup.", "time_in_call_secs": 2.5},
        {"role": "agent", "message": None, "time_in_call_secs": 3, "tool_calls": [{"name": "lookup"}]},
        {"role": "user", "message": "", "time_in_call_secs": 4},
        {"role": "user", "message": "   ", "time_in_call_secs": 4.5},
        {"role": "user", "message": "That's 23.50, ready in 20 minutes.", "time_in_call_secs": 5},
    ],
    "metadata": {
        "start_time_unix_secs": 1_767_225_600,
        "call_duration_secs": 42,
        "termination_reason": "Call ended by the caller after completing its goal.",
        "cost": 420,
        "phone_call": {
            "direction": "outbound",
            "type": "twilio",
            "call_sid": "CA0123456789abcdef",
            "external_number": "+14155550123",
        },
        "batch_call": {"batch_call_id": "btcal_9", "batch_call_recipient_id": "rcpt_3"},
    },
    "analysis": {
        "call_successful": "success",
        "transcript_summary": "The caller ordered a large margherita; the business quoted 23.50.",
        "evaluation_criteria_results": {
            "greeted": {"criteria_id": "greeted", "result": "success", "rationale": "The business greeted the caller."}
        },
        "data_collection_results": {
            "order_total": {"data_collection_id": "order_total", "value": "23.50", "rationale": "Quoted by the business."}
        },
    },
    "has_audio": True,
}
BATCH = {  # BatchCallResponse (003_…)
    "id": "btcal_1",
    "phone_number_id": PHONE_ID,
    "phone_provider": "twilio",
    "name": "Friday pizza check",
    "agent_id": AGENT_ID,
    "created_at_unix": 1_760_000_000,
    "scheduled_time_unix": 1_760_000_000,
    "total_calls_dispatched": 2,
    "total_calls_scheduled": 3,
    "last_updated_at_unix": 1_760_000_050,
    "status": "in_progress",
    "agent_name": "Test caller",
}


# -- get_call ------------------------------------------------------------------------------------------


async def test_get_call_sends_authenticated_get_to_the_exact_path_and_parses_every_field():
    api = FakeApi(lambda request: httpx.Response(200, json=FULL_CONVERSATION))
    async with open_provider(api) as provider:
        call = await provider.get_call("conv_full_1")

    [request] = api.requests
    assert request.method == "GET"
    assert request.url.raw_path == b"/v1/convai/conversations/conv_full_1"
    assert request.content == b""
    assert_authenticated(request)

    assert call.provider_ref == "conv_full_1"
    assert call.status == "done" and call.provider_status == "done"
    assert call.to_number == "+14155550123"
    assert call.telephony_ref == "CA0123456789abcdef"
    assert call.started_at == 1_767_225_600
    assert call.duration_secs == 42.0
    assert call.termination_reason == "Call ended by the caller after completing its goal."
    assert call.cost == Cost(420.0, "credits")
    assert call.cost_usd is None
    assert call.outcome == "success"
    assert call.summary == "The caller ordered a large margherita; the business quoted 23.50."
    assert call.evaluations == {
        "greeted": {"criteria_id": "greeted", "result": "success", "rationale": "The business greeted the caller."}
    }
    assert call.data_collected == {
        "order_total": {"data_collection_id": "order_total", "value": "23.50", "rationale": "Quoted by the business."}
    }
    assert call.batch_id == "btcal_9"
    assert call.batch_recipient_id == "rcpt_3"
    # ElevenLabs' "user" is the business line under test; its "agent" is our AI caller.
    assert [(t.role, t.message, t.secs) for t in call.transcript] == [
        ("business", "Joe's Pizza, how can I help?", 0.0),
        ("caller", "Hi, I'd like a large margherita for pickup.", 2.5),
        ("business", "That's 23.50, ready in 20 minutes.", 5.0),
    ]


async def test_conversation_with_null_analysis_and_no_metadata_gives_none_and_empty_not_an_error():
    body = {"conversation_id": "conv_early", "status": "processing", "transcript": None, "analysis": None}
    api = FakeApi(lambda request: httpx.Response(200, json=body))
    async with open_provider(api) as provider:
        call = await provider.get_call("conv_early")

    assert call.status == "processing" and call.provider_status == "processing"
    for field in (
        "to_number", "telephony_ref", "started_at", "duration_secs", "termination_reason", "cost", "cost_usd",
        "outcome", "summary", "batch_id", "batch_recipient_id",
    ):
        assert getattr(call, field) is None, field
    assert call.evaluations == {}
    assert call.data_collected == {}
    assert call.transcript == ()


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"phone_call": None, "batch_call": None, "cost": None, "termination_reason": None},
        {"start_time_unix_secs": "yesterday", "call_duration_secs": True, "cost": "12"},
    ],
    ids=["empty", "nulls", "wrong-types"],
)
async def test_partial_or_odd_metadata_becomes_none_not_an_error(metadata):
    body = {"status": "in-progress", "metadata": metadata, "analysis": {}, "transcript": []}
    call = call_report(body, "conv_x")
    assert call.provider_ref == "conv_x"  # the id asked for, when the answer has none
    assert call.status == "in_progress" and call.provider_status == "in-progress"
    assert call.started_at is None
    assert call.duration_secs is None
    assert call.cost is None
    assert call.to_number is None and call.batch_id is None


async def test_transcript_turns_without_words_are_skipped_and_missing_role_or_time_tolerated():
    body = {
        "status": "in-progress",
        "transcript": [
            {"role": "agent", "message": None},
            {"role": "user", "message": ""},
            {"role": "user"},
            "not a turn",
            {"role": "agent", "message": "   \n  "},
            {"message": "Who is this?", "time_in_call_secs": "soon"},
            {"role": "agent", "message": "Sam, calling about an order.", "time_in_call_secs": 7},
        ],
    }
    call = call_report(body, "conv_t")
    assert [(t.role, t.message, t.secs) for t in call.transcript] == [
        ("unknown", "Who is this?", None),
        ("caller", "Sam, calling about an order.", 7.0),
    ]


@pytest.mark.parametrize(
    ("conversation_id", "encoded"),
    [
        ("a/b", b"a%2Fb"),
        ("..", b"%2E%2E"),
        (".", b"%2E"),
        ("../batch-calling/btcal_1/cancel", b"%2E%2E%2Fbatch-calling%2Fbtcal_1%2Fcancel"),
        ("conv 1?x=y#z", b"conv%201%3Fx%3Dy%23z"),
    ],
)
async def test_conversation_id_with_slash_dots_or_query_stays_one_percent_encoded_segment(conversation_id, encoded):
    api = FakeApi(lambda request: httpx.Response(200, json={**FULL_CONVERSATION, "conversation_id": conversation_id}))
    async with open_provider(api) as provider:
        await provider.get_call(conversation_id)

    [request] = api.requests
    raw_path = request.url.raw_path
    assert raw_path == CONVERSATIONS.encode() + encoded
    segment = raw_path[len(CONVERSATIONS) :]
    assert b"/" not in segment and b"?" not in segment
    assert unquote(segment.decode("ascii")) == conversation_id
    assert request.url.query == b""


async def test_unknown_conversation_raises_status_error_404_after_one_request():
    api = FakeApi(lambda request: error_answer(404, "conversation_not_found", "Conversation conv_nope not found"))
    async with open_provider(api) as provider:
        with pytest.raises(ProviderStatusError) as info:
            await provider.get_call("conv_nope")
    assert info.value.status == 404
    assert info.value.code == "conversation_not_found"
    assert "Conversation conv_nope not found" in info.value.detail
    assert len(api.requests) == 1
    assert KEY not in str(info.value)


async def test_get_call_503_is_retried_with_backoff_and_then_answers():
    answers = iter([error_answer(503, "unavailable", "Try later."), httpx.Response(200, json=FULL_CONVERSATION)])
    api = FakeApi(lambda request: next(answers))
    sleep = FakeSleep()
    async with open_provider(api, sleep=sleep) as provider:
        call = await provider.get_call("conv_full_1")
    assert call.status == "done"
    assert [(r.method, r.url.path) for r in api.requests] == [("GET", CONVERSATIONS + "conv_full_1")] * 2
    assert sleep.waits == [0.75]  # 0.5 s base + 0.5 × 0.5 s jitter


async def test_get_call_503_every_time_raises_status_error_after_three_tries():
    api = FakeApi(lambda request: error_answer(503, "unavailable", "Try later."))
    async with open_provider(api) as provider:
        with pytest.raises(ProviderStatusError) as info:
            await provider.get_call("conv_full_1")
    assert info.value.status == 503
    assert len(api.requests) == 3


# -- list_batches -----------------------------------------------------------------------------------


async def test_list_batches_sends_limit_and_last_doc_and_parses_the_page():
    second = {**BATCH, "id": "btcal_0", "name": "Thursday check", "status": "completed"}

    def respond(request):
        assert request.method == "GET" and request.url.path == WORKSPACE_PATH
        assert_authenticated(request)
        return httpx.Response(
            200, json={"batch_calls": [BATCH, second, {"name": "no id"}], "next_doc": "btcal_0", "has_more": True}
        )

    api = FakeApi(respond)
    async with open_provider(api) as provider:
        page = await provider.list_batches(2, "btcal_5")

    [request] = api.requests
    assert dict(request.url.params) == {"limit": "2", "last_doc": "btcal_5"}
    assert [(b.batch_id, b.name, b.status) for b in page.batches] == [
        ("btcal_1", "Friday pizza check", "in_progress"),
        ("btcal_0", "Thursday check", "completed"),
    ]
    assert page.batches[0].total_calls_scheduled == 3 and page.batches[0].total_calls_dispatched == 2
    assert page.cursor == "btcal_0"  # has_more: the next page starts after next_doc


async def test_list_batches_first_page_sends_no_last_doc_and_last_page_has_no_cursor():
    api = FakeApi(lambda request: httpx.Response(200, json={"batch_calls": [BATCH], "next_doc": None, "has_more": False}))
    async with open_provider(api) as provider:
        page = await provider.list_batches(100)
    [request] = api.requests
    assert dict(request.url.params) == {"limit": "100"}
    assert [b.batch_id for b in page.batches] == ["btcal_1"]
    assert page.cursor is None


async def test_list_batches_page_without_has_more_has_no_cursor_even_when_next_doc_is_set():
    api = FakeApi(lambda request: httpx.Response(200, json={"batch_calls": [BATCH], "next_doc": "btcal_1", "has_more": False}))
    async with open_provider(api) as provider:
        page = await provider.list_batches(1)
    assert [b.batch_id for b in page.batches] == ["btcal_1"]
    assert page.cursor is None


# -- retry_batch ------------------------------------------------------------------------------------


async def test_retry_batch_posts_to_the_retry_endpoint_and_reads_the_batch():
    api = FakeApi(lambda request: httpx.Response(200, json={**BATCH, "status": "in_progress"}))
    async with open_provider(api) as provider:
        batch = await provider.retry_batch("btcal_1")
    [request] = api.requests
    assert request.method == "POST"
    assert request.url.raw_path == b"/v1/convai/batch-calling/btcal_1/retry"
    assert_authenticated(request)
    assert batch.batch_id == "btcal_1" and batch.status == "in_progress"


@pytest.mark.parametrize(
    "respond",
    [
        lambda request: error_answer(500, "internal_error", "Internal server error"),
        lambda request: error_answer(503, "unavailable", "Try later."),
        raises(httpx.ReadTimeout, "timed out"),
        raises(httpx.RemoteProtocolError, "Server disconnected without sending a response."),
    ],
    ids=["500", "503", "read-timeout", "dropped-connection"],
)
async def test_retry_batch_that_may_have_arrived_is_outcome_unknown_after_exactly_one_post(respond):
    api = FakeApi(respond)
    sleep = FakeSleep()
    async with open_provider(api, sleep=sleep) as provider:
        with pytest.raises(OutcomeUnknown) as info:
            await provider.retry_batch("btcal_1")
    assert [(r.method, r.url.path) for r in api.requests] == [("POST", "/v1/convai/batch-calling/btcal_1/retry")]
    assert sleep.waits == []
    assert "may or may not have been placed" in str(info.value)
    assert KEY not in str(info.value)


async def test_retry_batch_that_never_left_is_retried_and_then_answers():
    answers = iter([httpx.ConnectError("refused"), httpx.Response(200, json=BATCH)])

    def respond(request):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    api = FakeApi(respond)
    async with open_provider(api) as provider:
        batch = await provider.retry_batch("btcal_1")
    assert batch.batch_id == "btcal_1"
    assert [r.method for r in api.requests] == ["POST", "POST"]
