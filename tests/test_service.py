"""The service against a mocked ElevenLabs API (real-provider mode), through the MCP layer."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from caller_mcp.store import Store

from tests.support import real_settings

pytestmark = pytest.mark.anyio
KEY = "sk_live_VERYSECRET_0042"
PIZZA = "We are Pizza Palace."




def api(request: httpx.Request) -> httpx.Response:
    """A small ElevenLabs: one Twilio number, calls succeed except to +14155550199 (401 echoing the key)."""
    path = request.url.path
    if path == "/v1/convai/phone-numbers/phnum_1":
        return httpx.Response(200, json={"phone_number_id": "phnum_1", "provider": "twilio"})
    if path == "/v1/convai/twilio/outbound-call":
        if json.loads(request.content)["to_number"] == "+14155550199":
            return httpx.Response(401, json={"detail": {"status": "invalid_api_key", "message": f"bad key {KEY}"}})
        return httpx.Response(200, json={"success": True, "message": "ok", "conversation_id": "conv_9", "callSid": "CA9"})
    if path == "/v1/convai/batch-calling/submit":
        raise httpx.ReadTimeout("timed out", request=request)
    if path.startswith("/v1/convai/batch-calling/"):
        return httpx.Response(404, json={"detail": {"status": "not_found", "message": "Batch not found"}})
    return httpx.Response(500, text="unexpected")


async def test_real_provider_refuses_unassigned_numbers_before_any_request(connect, db_path):
    seen = []
    transport = httpx.MockTransport(lambda r: seen.append(r) or api(r))
    async with connect(real_settings(db_path, KEY, phone_provider="auto"), transport=transport) as client:
        result = await client.call_tool("place_call", {"to_number": "+15551234567", "business_description": PIZZA})
    assert result.is_error and "not a valid, assignable phone number" in result.content[0].text
    assert seen == []


async def test_lost_batch_answer_is_outcome_unknown_and_recorded(connect, db_path):
    async with connect(real_settings(db_path, KEY, phone_provider="auto"), transport=httpx.MockTransport(api)) as client:
        result = await client.call_tool("submit_batch", {"recipients": ["+14155550123"], "business_description": PIZZA})
    assert result.is_error
    assert "may or may not have been placed" in result.content[0].text
    assert "Check the provider's batch list" in result.content[0].text
    with Store(db_path)._db as db:
        assert db.execute("SELECT status FROM batches").fetchall()[0][0] == "outcome_unknown"


async def test_the_api_key_never_appears_in_answers_or_logs(connect, db_path, caplog):
    caplog.set_level(logging.DEBUG)
    texts, errors = [], []
    async with connect(real_settings(db_path, KEY, phone_provider="auto"), transport=httpx.MockTransport(api)) as client:
        calls = [
            ("set_business_context", {"description": PIZZA}),
            ("place_call", {"to_number": "+14155550123"}),
            ("place_call", {"to_number": "+14155550199"}),
            ("place_call", {"to_number": "+15551234567"}),
            ("submit_batch", {"recipients": ["+14155550123", "bad"]}),
            ("submit_batch", {"recipients": ["+14155550123"]}),
            ("get_batch_status", {"batch_id": "btcal_x"}),
            ("cancel_batch", {"batch_id": "btcal_x"}),
        ]
        for name, arguments in calls:
            result = await client.call_tool(name, arguments)
            texts.append(json.dumps(result.model_dump(mode="json")))
            errors.append(result.is_error)
    assert "bad key ***" in "".join(texts)  # the echoed key was masked, not dropped
    assert errors == [False, False, True, True, True, True, True, True]
    for text in texts + [caplog.text]:
        assert KEY not in text
