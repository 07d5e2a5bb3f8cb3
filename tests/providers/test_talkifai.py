"""TalkifAI's outbound call (seed 004) against ``httpx.MockTransport``: the exact request, each
documented answer, and both documented error body shapes."""

from __future__ import annotations

from contextlib import asynccontextmanager
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from caller_mcp.domain.calls import CallRequest
from caller_mcp.domain.script import build_script
from caller_mcp.errors import NotSupported, OutcomeUnknown, ProviderStatusError, ProviderUnreachable
from caller_mcp.providers.talkifai import TalkifaiConfig, TalkifaiProvider
from tests.fakes import PIZZA, FakeApi, FakeSleep, raises

pytestmark = pytest.mark.anyio

KEY = "tk_live_SECRET_456"
BASE = "https://api.talkifai.dev"
FROM = "+12025550100"
TO = "+12025550123"
SEED_ANSWER = {
    "success": True,
    "message": "Call initiated successfully",
    "room_name": "outbound_agent_abc123_12025550123_1705320000",
    "agent": {"id": "agent_abc123", "name": "Sales Agent"},
    "from_number": FROM,
    "to_number": TO,
}
CALL = CallRequest(to_number=TO, script=build_script(PIZZA, "order a large pepperoni pizza"))


def config(**overrides) -> TalkifaiConfig:
    return TalkifaiConfig(api_base=BASE, api_key=SecretStr(KEY), from_number=FROM, **overrides)


@asynccontextmanager
async def open_talkifai(api: FakeApi):
    client = httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(api))
    provider = TalkifaiProvider(config(), client, sleep=FakeSleep(), random=lambda: 0.5)
    try:
        yield provider
    finally:
        await provider.aclose()


def detail_body(status: int, message: str) -> httpx.Response:
    """``openapi.json``'s error examples: ``{"detail": "…"}``."""
    return httpx.Response(status, json={"detail": message})


def envelope_body(status: int, message: str) -> httpx.Response:
    """The API introduction's error envelope: ``{"success": false, "error", "code"}``."""
    return httpx.Response(status, json={"success": False, "error": message, "code": f"E{status}"})


SHAPES = pytest.mark.parametrize("shape", [detail_body, envelope_body], ids=["detail", "envelope"])


async def test_outbound_call_is_one_bodyless_post_with_numbers_in_the_query_and_a_bearer_key():
    api = FakeApi(lambda request: httpx.Response(200, json=SEED_ANSWER))
    async with open_talkifai(api) as provider:
        await provider.place_call(CALL)
    [request] = api.requests
    assert request.method == "POST"
    assert request.url.scheme == "https" and request.url.host == "api.talkifai.dev"
    assert request.url.path == "/telephony/outbound-call"
    assert parse_qs(request.url.query.decode(), strict_parsing=True) == {"to_number": [TO], "from_number": [FROM]}
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "application/json"
    assert "xi-api-key" not in request.headers
    assert request.content == b""
    assert "content-type" not in request.headers
    assert KEY not in str(request.url)
    # No part of the caller script travels: TalkifAI's call carries no prompt.
    assert "pepperoni" not in str(request.url)


async def test_answer_keeps_every_seed_field_and_uses_room_name_as_the_reference():
    api = FakeApi(lambda request: httpx.Response(200, json=SEED_ANSWER))
    async with open_talkifai(api) as provider:
        placed = await provider.place_call(CALL)
    assert placed.provider_ref == SEED_ANSWER["room_name"]
    assert placed.status == "answered"
    assert placed.raw == SEED_ANSWER
    assert "agent 'Sales Agent' (agent_abc123)" in placed.message
    assert FROM in placed.message and TO in placed.message
    assert "Call initiated successfully" in placed.message
    assert placed.telephony_ref is None and placed.line is None


async def test_success_false_on_a_200_is_a_refusal_with_the_providers_words():
    api = FakeApi(lambda request: httpx.Response(200, json={"success": False, "error": "Line busy", "code": "BUSY"}))
    async with open_talkifai(api) as provider:
        with pytest.raises(ProviderStatusError) as caught:
            await provider.place_call(CALL)
    assert caught.value.status == 200 and caught.value.code == "BUSY"
    assert "TalkifAI could not place the call: Line busy" == str(caught.value)


@SHAPES
@pytest.mark.parametrize(
    ("status", "said", "hint"),
    [
        (400, "Invalid phone number format", "E.164"),
        (400, "Agent 'Chat Bot' is a text-only agent and cannot make voice calls", "Pipeline or Realtime"),
        (401, "Invalid API key", "TALKIFAI_API_KEY"),
        (402, "Insufficient balance to make call", "insufficient balance"),
        (404, f"Phone number {FROM} not found or has no outbound agent assigned", "TALKIFAI_FROM_NUMBER"),
    ],
)
async def test_error_answer_says_talkifais_message_and_what_to_fix(shape, status, said, hint):
    api = FakeApi(lambda request: shape(status, said))
    async with open_talkifai(api) as provider:
        with pytest.raises(ProviderStatusError) as caught:
            await provider.place_call(CALL)
    message = str(caught.value)
    assert message.startswith(f"TalkifAI API error ({status}): {said}")
    assert hint in message
    assert caught.value.status == status and caught.value.detail == said
    assert api.count("POST") == 1


async def test_text_only_agent_hint_names_studio():
    api = FakeApi(lambda request: detail_body(400, "Agent 'Chat Bot' is a text-only agent and cannot make voice calls"))
    async with open_talkifai(api) as provider:
        with pytest.raises(ProviderStatusError) as caught:
            await provider.place_call(CALL)
    assert "TalkifAI Studio" in str(caught.value)


@SHAPES
async def test_408_is_a_placed_call_that_rang_unanswered_not_an_error(shape):
    api = FakeApi(lambda request: shape(408, "Call timed out (no answer)"))
    async with open_talkifai(api) as provider:
        placed = await provider.place_call(CALL)
    assert placed.status == "no_answer"
    assert placed.provider_ref is None
    assert "rang for 60 s without an answer (no_answer)" in placed.message
    assert "Call timed out (no answer)" in placed.message
    assert api.count("POST") == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_outcome_unknown_and_never_resent(status):
    api = FakeApi(lambda request: detail_body(status, "SIP trunk failure"))
    async with open_talkifai(api) as provider:
        with pytest.raises(OutcomeUnknown) as caught:
            await provider.place_call(CALL)
    assert api.count("POST") == 1
    assert f"TalkifAI answered {status} (SIP trunk failure)" in str(caught.value)
    assert "may or may not have been placed" in str(caught.value)


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError])
async def test_lost_answer_is_outcome_unknown_and_never_resent(error):
    api = FakeApi(raises(error, "no answer from upstream"))
    async with open_talkifai(api) as provider:
        with pytest.raises(OutcomeUnknown):
            await provider.place_call(CALL)
    assert api.count("POST") == 1


async def test_connect_error_says_talkifai_was_not_reached():
    api = FakeApi(raises(httpx.ConnectError, "connection refused"))
    async with open_talkifai(api) as provider:
        with pytest.raises(ProviderUnreachable) as caught:
            await provider.place_call(CALL)
    assert str(caught.value).startswith("Could not reach TalkifAI")


async def test_unreadable_200_is_outcome_unknown():
    api = FakeApi(lambda request: httpx.Response(200, text="<html>ok</html>"))
    async with open_talkifai(api) as provider:
        with pytest.raises(OutcomeUnknown):
            await provider.place_call(CALL)
    assert api.count("POST") == 1


async def test_key_echoed_by_an_error_is_masked():
    api = FakeApi(lambda request: envelope_body(401, f"Invalid API key {KEY}"))
    async with open_talkifai(api) as provider:
        with pytest.raises(ProviderStatusError) as caught:
            await provider.place_call(CALL)
    assert KEY not in str(caught.value) and "***" in str(caught.value)


async def test_preview_is_the_exact_request_without_the_key():
    api = FakeApi(lambda request: httpx.Response(200, json=SEED_ANSWER))
    async with open_talkifai(api) as provider:
        preview = await provider.preview_call(CALL)
    assert preview == {
        "method": "POST",
        "url": f"{BASE}/telephony/outbound-call?to_number=%2B12025550123&from_number=%2B12025550100",
        "headers": {"authorization": "Bearer ***"},
        "body": None,
    }
    assert api.requests == []


async def test_capabilities_say_the_script_is_not_sent_its_dials_cannot_be_read_and_retry_is_not_supported():
    api = FakeApi(lambda request: httpx.Response(200, json=SEED_ANSWER))
    async with open_talkifai(api) as provider:
        capabilities = provider.capabilities
        assert capabilities.per_call_script is False and capabilities.dial_blocks is True
        assert capabilities.batches is True and capabilities.read_call is True
        assert capabilities.read_dialled_call is False and capabilities.batch_retry is False
        with pytest.raises(NotSupported, match="no endpoint that calls a batch's failed contacts again"):
            await provider.retry_batch("batch_1")
        with pytest.raises(NotSupported, match="room name, not a callId"):
            await provider.get_call(SEED_ANSWER["room_name"])
    assert api.requests == []
