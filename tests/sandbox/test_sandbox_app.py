"""The sandbox emulator, spoken to over HTTP as the provider code does."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caller_mcp.providers.elevenlabs.config import (
    SANDBOX_AGENT_ID,
    SANDBOX_API_KEY,
    SANDBOX_PHONE_NUMBER_ID,
    SANDBOX_SIP_PHONE_NUMBER_ID,
)

pytestmark = pytest.mark.anyio
KEY = {"xi-api-key": SANDBOX_API_KEY}
CLIENT_DATA = {
    "conversation_config_override": {
        "agent": {
            "prompt": {"prompt": "…\n\nBusiness description: We are Pizza Palace. We bake.\n\nCaller goal: order a pizza\n\n…"},
            "first_message": "Hi, I'm calling because I'd like to order a pizza.",
        }
    }
}


@pytest.fixture
async def http(sandbox_app):
    """An HTTP client on the sandbox app of ``conftest.py``, whose time is the ``clock`` fixture."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="http://sandbox") as client:
        yield client


def call_body(number: str = "+15551234567", **extra) -> dict:
    return {
        "agent_id": SANDBOX_AGENT_ID,
        "agent_phone_number_id": SANDBOX_PHONE_NUMBER_ID,
        "to_number": number,
        "conversation_initiation_client_data": CLIENT_DATA,
        **extra,
    }


async def test_requests_without_the_key_get_401_invalid_api_key(http):
    response = await http.post("/v1/convai/twilio/outbound-call", json=call_body())
    assert response.status_code == 401
    assert response.json()["detail"] == {"status": "invalid_api_key", "message": "Invalid API key"}
    wrong = await http.get("/v1/convai/batch-calling/x", headers={"xi-api-key": "sk_wrong"})
    assert wrong.status_code == 401


async def test_missing_field_gets_422_with_its_location(http):
    body = call_body()
    del body["to_number"]
    response = await http.post("/v1/convai/twilio/outbound-call", json=body, headers=KEY)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "to_number"]


async def test_unknown_agent_and_phone_number_get_404(http):
    agent = await http.post("/v1/convai/twilio/outbound-call", json=call_body(agent_id="agent_x"), headers=KEY)
    number = await http.post(
        "/v1/convai/twilio/outbound-call", json=call_body(agent_phone_number_id="phnum_x"), headers=KEY
    )
    assert (agent.status_code, agent.json()["detail"]["status"]) == (404, "agent_not_found")
    assert (number.status_code, number.json()["detail"]["status"]) == (404, "phone_number_not_found")


async def test_sip_number_on_the_twilio_endpoint_is_refused(http):
    body = call_body(agent_phone_number_id=SANDBOX_SIP_PHONE_NUMBER_ID)
    response = await http.post("/v1/convai/twilio/outbound-call", json=body, headers=KEY)
    assert response.status_code == 400


async def test_phone_number_lookup_reports_its_provider(http):
    twilio = await http.get(f"/v1/convai/phone-numbers/{SANDBOX_PHONE_NUMBER_ID}", headers=KEY)
    sip = await http.get(f"/v1/convai/phone-numbers/{SANDBOX_SIP_PHONE_NUMBER_ID}", headers=KEY)
    assert twilio.json()["provider"] == "twilio" and sip.json()["provider"] == "sip_trunk"


async def test_every_answer_says_sandbox_and_no_real_phone(http):
    ok = await http.get(f"/v1/convai/phone-numbers/{SANDBOX_PHONE_NUMBER_ID}", headers=KEY)
    error = await http.get("/v1/convai/phone-numbers/nope", headers=KEY)
    for response in (ok, error):
        assert response.json()["sandbox"]["provider"] == "sandbox"
        assert "no real phone was dialled" in response.json()["sandbox"]["note"]
        assert response.headers["x-sandbox"] == "no real phone was dialled"


async def test_call_moves_initiated_in_progress_done_with_a_transcript(http, clock):
    placed = (await http.post("/v1/convai/twilio/outbound-call", json=call_body(), headers=KEY)).json()
    assert placed["success"] is True and placed["callSid"].startswith("CA")
    url = f"/v1/convai/conversations/{placed['conversation_id']}"
    statuses = []
    for _ in range(4):
        statuses.append((await http.get(url, headers=KEY)).json()["status"])
        clock.advance(4)
    assert statuses[0] == "initiated" and statuses[-1] == "done"
    assert "in-progress" in statuses
    done = (await http.get(url, headers=KEY)).json()
    turns = done["transcript"]
    assert turns[1] == {"role": "agent", "message": CLIENT_DATA["conversation_config_override"]["agent"]["first_message"], "time_in_call_secs": 1}
    assert "We are Pizza Palace." in turns[0]["message"]
    assert done["analysis"]["call_successful"] == "success"
    assert done["metadata"]["phone_call"]["call_sid"] == placed["callSid"]
    assert done["metadata"]["termination_reason"]


@pytest.mark.parametrize(
    ("suffix", "status", "successful"),
    [("0001", "done", "failure"), ("0002", "failed", "failure"), ("0003", "failed", "failure")],
)
async def test_magic_numbers_give_their_outcomes(http, clock, suffix, status, successful):
    placed = (await http.post("/v1/convai/twilio/outbound-call", json=call_body("+1555123" + suffix), headers=KEY)).json()
    clock.advance(60)
    conversation = (await http.get(f"/v1/convai/conversations/{placed['conversation_id']}", headers=KEY)).json()
    assert conversation["status"] == status
    assert conversation["analysis"]["call_successful"] == successful


async def test_magic_rejected_number_answers_success_false(http):
    answer = (await http.post("/v1/convai/twilio/outbound-call", json=call_body("+15551230004"), headers=KEY)).json()
    assert answer["success"] is False and answer["conversation_id"] is None


def batch_body(numbers: list[str], **extra) -> dict:
    return {
        "call_name": "b",
        "agent_id": SANDBOX_AGENT_ID,
        "agent_phone_number_id": SANDBOX_PHONE_NUMBER_ID,
        "scheduled_time_unix": None,
        "recipients": [{"phone_number": n, "conversation_initiation_client_data": CLIENT_DATA} for n in numbers],
        **extra,
    }


async def test_batch_recipients_progress_over_time_and_get_conversation_ids(http, clock):
    created = (await http.post("/v1/convai/batch-calling/submit", json=batch_body(["+15551230000"] * 4), headers=KEY)).json()
    assert created["total_calls_scheduled"] == 4 and created["status"] == "in_progress"
    url = f"/v1/convai/batch-calling/{created['id']}"
    early = (await http.get(url, headers=KEY)).json()
    assert [r["status"] for r in early["recipients"]] == ["dispatched", "dispatched", "pending", "pending"]
    assert early["recipients"][2]["conversation_id"] is None
    clock.advance(60)
    late = (await http.get(url, headers=KEY)).json()
    assert late["status"] == "completed"
    assert all(r["status"] == "completed" and r["conversation_id"] for r in late["recipients"])
    conversation = (await http.get(f"/v1/convai/conversations/{late['recipients'][3]['conversation_id']}", headers=KEY)).json()
    assert conversation["metadata"]["batch_call"]["batch_call_id"] == created["id"]


async def test_scheduled_batch_stays_pending_until_its_time(http, clock):
    start = int(clock() + 600)
    created = (await http.post("/v1/convai/batch-calling/submit", json=batch_body(["+15551230000"], scheduled_time_unix=start), headers=KEY)).json()
    assert created["status"] == "pending" and created["scheduled_time_unix"] == start
    clock.advance(601)
    now = (await http.get(f"/v1/convai/batch-calling/{created['id']}", headers=KEY)).json()
    assert now["status"] == "in_progress"


async def test_batch_submit_validates_recipients(http):
    response = await http.post("/v1/convai/batch-calling/submit", json=batch_body(["+15551230000", "555"]), headers=KEY)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "recipients", 1, "phone_number"]


async def test_retry_redials_failed_recipients_and_busy_lines_answer(http, clock):
    created = (await http.post("/v1/convai/batch-calling/submit", json=batch_body(["+15551230003", "+15551230000"]), headers=KEY)).json()
    clock.advance(60)
    url = f"/v1/convai/batch-calling/{created['id']}"
    assert [r["status"] for r in (await http.get(url, headers=KEY)).json()["recipients"]] == ["failed", "completed"]
    retried = await http.post(f"{url}/retry", headers=KEY)
    assert retried.status_code == 200
    clock.advance(60)
    assert [r["status"] for r in (await http.get(url, headers=KEY)).json()["recipients"]] == ["completed", "completed"]


async def test_workspace_list_pages_newest_first_with_last_doc(http, clock):
    ids = []
    for _ in range(3):
        ids.append((await http.post("/v1/convai/batch-calling/submit", json=batch_body(["+15551230000"]), headers=KEY)).json()["id"])
        clock.advance(1)
    first = (await http.get("/v1/convai/batch-calling/workspace", params={"limit": 2}, headers=KEY)).json()
    assert [b["id"] for b in first["batch_calls"]] == [ids[2], ids[1]] and first["has_more"] is True
    second = (await http.get("/v1/convai/batch-calling/workspace", params={"limit": 2, "last_doc": first["next_doc"]}, headers=KEY)).json()
    assert [b["id"] for b in second["batch_calls"]] == [ids[0]] and second["has_more"] is False


async def test_unknown_conversation_and_batch_get_404(http):
    assert (await http.get("/v1/convai/conversations/conv_x", headers=KEY)).status_code == 404
    assert (await http.post("/v1/convai/batch-calling/btcal_x/cancel", headers=KEY)).status_code == 404


async def test_batch_last_updated_moves_only_when_a_recipient_changes(http, clock):
    """``last_updated_at_unix`` is when a recipient last changed, not the time of the read: a
    client that sees the same value and counts knows nothing changed."""
    created = (await http.post("/v1/convai/batch-calling/submit", json=batch_body(["+15551230000"]), headers=KEY)).json()
    url = f"/v1/convai/batch-calling/{created['id']}"
    submitted_at = clock.now
    clock.advance(0.25)  # still dispatched: its call starts ringing 0.5 s after dispatch
    assert (await http.get(url, headers=KEY)).json()["last_updated_at_unix"] == int(submitted_at)
    clock.advance(1.0)  # ringing since 0.5 s
    ringing = (await http.get(url, headers=KEY)).json()
    assert ringing["recipients"][0]["status"] == "initiated"
    assert ringing["last_updated_at_unix"] == int(submitted_at + 0.5)
    clock.advance(100)  # long finished: the time it finished, not now
    done = (await http.get(url, headers=KEY)).json()
    assert done["recipients"][0]["status"] == "completed"
    assert int(submitted_at + 0.5) < done["last_updated_at_unix"] < int(clock.now)


async def test_batch_recipients_with_equal_client_data_share_one_copy(http, sandbox_app):
    created = (await http.post("/v1/convai/batch-calling/submit", json=batch_body(["+15551230000"] * 3), headers=KEY)).json()
    first, second, third = sandbox_app.state.sandbox.batches[created["id"]].recipients
    assert first.client_data == CLIENT_DATA and first.client_data is second.client_data is third.client_data


TRICKY_DATA = [
    {"dynamic_variables": {"note": 'a "}, {" b', "end": "}]", "key": '"recipients":[', "n": 1.5, "yes": True}},
    {"conversation_config_override": {"agent": {"first_message": "Hi \\\"}, {\\\" there", "language": "de"}}},
    {"dynamic_variables": {"x": "\u00e9\u4e2d\\", "nested": None}},
    None,
]


async def test_a_large_batch_body_is_parsed_piece_by_piece_into_the_same_recipients(http, sandbox_app, monkeypatch):
    """A body over the piece size is never parsed whole (no single parse holds the interpreter),
    and every recipient comes out as sent: braces, commas and quotes inside strings, ids, a field
    after the recipients, and whitespace between them."""
    from caller_mcp.sandbox import app as sandbox_module

    monkeypatch.setattr(sandbox_module, "PARSE_PIECE_BYTES", 300)
    parsed: list[int] = []
    real_loads = sandbox_module.orjson.loads

    class Spy:
        JSONDecodeError = sandbox_module.orjson.JSONDecodeError
        OPT_SORT_KEYS = sandbox_module.orjson.OPT_SORT_KEYS
        dumps = staticmethod(sandbox_module.orjson.dumps)

        @staticmethod
        def loads(raw):
            parsed.append(len(raw))
            return real_loads(raw)

    monkeypatch.setattr(sandbox_module, "orjson", Spy)
    recipients = [
        {"id": f"r{i}", "phone_number": f"+1555123{i:04d}", "conversation_initiation_client_data": TRICKY_DATA[i % 4]}
        for i in range(40)
    ]
    body = {"call_name": "pieces", "agent_id": SANDBOX_AGENT_ID, "recipients": recipients,
            "agent_phone_number_id": SANDBOX_PHONE_NUMBER_ID, "scheduled_time_unix": None}
    import json

    raw = json.dumps(body, indent=1).encode()  # whitespace between the recipients too
    created = await http.post("/v1/convai/batch-calling/submit", content=raw, headers={**KEY, "content-type": "application/json"})
    assert created.status_code == 200, created.text
    assert len(parsed) > 3 and max(parsed) < len(raw) / 2
    got = (await http.get(f"/v1/convai/batch-calling/{created.json()['id']}", headers=KEY)).json()["recipients"]
    assert [(r["id"], r["phone_number"], r["conversation_initiation_client_data"]) for r in got] == [
        (r["id"], r["phone_number"], r["conversation_initiation_client_data"]) for r in recipients
    ]
    assert type(got[0]["conversation_initiation_client_data"]["dynamic_variables"]["yes"]) is bool
    stored = sandbox_app.state.sandbox.batches[created.json()["id"]].recipients
    assert stored[0].client_data is stored[4].client_data  # equal client data: one copy


@pytest.mark.parametrize(
    "raw",
    [
        b'{"call_name": "x", "recipients": [{"phone_number": "+15551230000"},',  # cut off
        b'{"call_name": "x", "recipients": [{"phone_number": "+15551230000"}, {"phone_number": "+1555' + b"1" * 400 + b"}]}",
        b'[{"recipients": [' + b'{"a": 1},' * 80 + b'{"a": 1}]}]',  # not an object
    ],
)
async def test_a_large_malformed_batch_body_gets_the_same_422_as_a_small_one(http, monkeypatch, raw):
    from caller_mcp.sandbox import app as sandbox_module

    small = await http.post("/v1/convai/batch-calling/submit", content=raw, headers={**KEY, "content-type": "application/json"})
    monkeypatch.setattr(sandbox_module, "PARSE_PIECE_BYTES", 64)
    large = await http.post("/v1/convai/batch-calling/submit", content=raw, headers={**KEY, "content-type": "application/json"})
    assert small.status_code == large.status_code == 422
    assert small.json()["detail"] == large.json()["detail"]


_TEXT = st.text(alphabet=st.sampled_from(list('ab{}[],:" \\\n\u00e9')), max_size=12)
_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)


_COMMON = {"conversation_config_override": {"agent": {"first_message": 'Hi "}, {" you'}}, "dynamic_variables": {"n": 1}}
_RECIPIENT = st.one_of(
    st.dictionaries(_TEXT, _VALUE, max_size=3),
    st.just({"phone_number": "+15551230000", "conversation_initiation_client_data": _COMMON}),
    st.just({"phone_number": "+15551230000", "x": {"conversation_initiation_client_data": _COMMON}}),
    st.just({"conversation_initiation_client_data": _COMMON, "conversation_initiation_client_data ": 1}),
    st.just({"conversation_initiation_client_data": {**_COMMON, "dynamic_variables": {"n": True}}}),
    st.just({"id": '"conversation_initiation_client_data":' + orjson.dumps(_COMMON).decode()}),
)


@settings(max_examples=200, deadline=None)
@given(
    recipients=st.lists(_RECIPIENT, max_size=30),
    after=st.dictionaries(_TEXT, _VALUE, max_size=2),
    indent=st.sampled_from([None, 0, 2, "orjson"]),
)
def test_the_piecewise_parse_equals_a_whole_parse(recipients, after, indent):
    """Whatever the recipients hold (braces, quotes, a repeated client data where it is a
    recipient's own and where it is not), the piece-by-piece parse gives what one parse gives."""
    import json

    from caller_mcp.sandbox import app as sandbox_module

    body = {"call_name": "x", "recipients": recipients, **{k: v for k, v in after.items() if k != "recipients"}}
    if indent == "orjson":  # compact, as caller-mcp sends it: a repeated client data is found by its bytes
        raw = orjson.dumps(body)
    else:
        raw = json.dumps(body, indent=indent, ensure_ascii=False).encode()
    seen: list[Any] = []
    original = sandbox_module.PARSE_PIECE_BYTES
    sandbox_module.PARSE_PIECE_BYTES = 16
    try:
        assert sandbox_module._batch_body(raw, seen.extend) == orjson.loads(raw)
    finally:
        sandbox_module.PARSE_PIECE_BYTES = original
    assert seen == recipients  # every recipient handed over once, in order
