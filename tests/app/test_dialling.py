"""Dialling use cases (plan → place / submit) on services built by ``bootstrap`` over an
``httpx.MockTransport`` that answers like ElevenLabs: the write-ahead record, lost answers, the
dial policy before any request, and the API key kept out of every answer and log."""

from __future__ import annotations

import json
import logging
import sqlite3

import httpx
import pytest

from caller_mcp.app import batches, context, dialling
from caller_mcp.bootstrap import bootstrap
from caller_mcp.errors import CallerError, InvalidInput, OutcomeUnknown, PolicyViolation
from caller_mcp.settings import Settings
from caller_mcp.store import SqliteStore

from tests.fakes import real_settings

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


def stored_calls(db_path):
    store = SqliteStore(db_path)
    try:
        return store.list_calls()
    finally:
        store.close()


async def test_call_is_recorded_before_the_request_leaves(db_path):
    seen_during_request = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"provider": "twilio"})
        with sqlite3.connect(db_path) as db:
            seen_during_request.extend(db.execute("SELECT status, to_number FROM calls").fetchall())
        db.close()
        return httpx.Response(200, json={"success": True, "message": "ok", "conversation_id": "c1", "callSid": "CA1"})

    services = bootstrap(Settings(_env_file=None, caller_mcp_db=db_path), transport=httpx.MockTransport(handler))
    try:
        await dialling.place_call(services, await dialling.plan_call(services, "+15551234567", PIZZA))
    finally:
        await services.aclose()
    assert seen_during_request == [("dialling", "+15551234567")]
    [record] = stored_calls(db_path)
    assert record.status == "initiated"


async def test_lost_answer_is_recorded_as_outcome_unknown_with_the_call_id(db_path):
    posts = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"provider": "twilio"})
        posts.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    services = bootstrap(Settings(_env_file=None, caller_mcp_db=db_path), transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(OutcomeUnknown) as info:
            await dialling.place_call(services, await dialling.plan_call(services, "+15551234567", PIZZA))
    finally:
        await services.aclose()
    [record] = stored_calls(db_path)
    assert record.status == "outcome_unknown"
    assert record.call_id in str(info.value)
    assert len(posts) == 1


async def test_real_provider_refuses_unassigned_numbers_before_any_request(db_path):
    seen = []
    transport = httpx.MockTransport(lambda r: seen.append(r) or api(r))
    services = bootstrap(real_settings(db_path, KEY, phone_provider="auto"), transport=transport)
    try:
        with pytest.raises(PolicyViolation, match="not a valid, assignable phone number"):
            await dialling.plan_call(services, "+15551234567", PIZZA)
    finally:
        await services.aclose()
    assert seen == []


async def test_lost_batch_answer_is_outcome_unknown_and_recorded(db_path):
    services = bootstrap(real_settings(db_path, KEY, phone_provider="auto"), transport=httpx.MockTransport(api))
    try:
        plan = await dialling.plan_batch(services, ["+14155550123"], business_description=PIZZA)
        with pytest.raises(OutcomeUnknown) as info:
            await dialling.submit_batch(services, plan)
    finally:
        await services.aclose()
    assert "may or may not have been placed" in str(info.value)
    assert "Check the provider's batch list" in str(info.value)
    store = SqliteStore(db_path)
    try:
        assert [b.status for b in store.list_batches()] == ["outcome_unknown"]
    finally:
        store.close()


async def test_the_api_key_never_appears_in_answers_or_logs(db_path, caplog):
    caplog.set_level(logging.DEBUG)
    texts, errors = [], []
    services = bootstrap(real_settings(db_path, KEY, phone_provider="auto"), transport=httpx.MockTransport(api))

    async def place(number):
        return await dialling.place_call(services, await dialling.plan_call(services, number))

    async def submit(recipients):
        return await dialling.submit_batch(services, await dialling.plan_batch(services, recipients))

    steps = [
        lambda: context.set_context(services, PIZZA),
        lambda: place("+14155550123"),
        lambda: place("+14155550199"),
        lambda: place("+15551234567"),
        lambda: submit(["+14155550123", "bad"]),
        lambda: submit(["+14155550123"]),
        lambda: batches.get_batch_status(services, "btcal_x"),
        lambda: batches.cancel_batch(services, "btcal_x"),
    ]
    try:
        for step in steps:
            try:
                result = await step()
            except CallerError as exc:
                texts.append(f"{type(exc).__name__}: {exc!s} {exc!r}")
                errors.append(True)
            else:
                texts.append(result.model_dump_json())
                errors.append(False)
    finally:
        await services.aclose()
    assert "bad key ***" in "".join(texts)  # the echoed key was masked, not dropped
    assert errors == [False, False, True, True, True, True, True, True]
    assert texts[4].startswith(InvalidInput.__name__)  # the bad recipient: refused before any request
    for text in texts + [caplog.text]:
        assert KEY not in text
