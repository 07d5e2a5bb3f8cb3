"""Batch controls through the in-memory MCP client on the sandbox: per-recipient and default
controls, recipient ids of the caller's own, a concurrency limit that protects the line under
test, and the batch's scheduled time and last update in get_batch_status."""

from __future__ import annotations

import anyio
import httpx
import pytest
from mcp import Client
from mcp_types import ElicitResult

from caller_mcp.mcp.server import build_server
from tests.fakes import PIZZA

pytestmark = pytest.mark.anyio

RECIPIENTS = [
    {"phone_number": "+15551230010", "id": "case-es", "language": "es", "scenario": "order a pizza"},
    {"phone_number": "+15551230010", "id": "case-en", "scenario": "cancel an order", "dynamic_variables": {"order": 7}},
    {"phone_number": "+15551230020", "id": "case-de", "language": "de", "voice_id": "v_de"},
]


def text(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def call(client, name: str, **arguments):
    with anyio.fail_after(10):
        return await client.call_tool(name, arguments)


async def test_a_batch_with_ids_controls_and_a_concurrency_limit_reaches_the_sandbox(connect, sandbox_app, clock):
    async with connect() as client:
        submitted = await call(
            client, "submit_batch", recipients=RECIPIENTS, business_description=PIZZA, voice_id="v_default",
            dynamic_variables={"suite": "smoke"}, ring_timeout_secs=20, target_concurrency_limit=1,
        )
        assert not submitted.is_error, text(submitted)
        batch_id = submitted.structured_content["batch_id"]
        clock.advance(1)
        early = (await call(client, "get_batch_status", batch_id=batch_id)).structured_content
        clock.advance(60)
        late = (await call(client, "get_batch_status", batch_id=batch_id)).structured_content
        calls = (await call(client, "list_calls")).structured_content["calls"]
    sim = sandbox_app.state.sandbox.batches[batch_id]
    assert sim.concurrency == 1 and sim.ring_timeout_secs == 20
    # One call at a time: the line under test is never rung by two recipients at once.
    assert early["counts"].get("pending") == 2
    starts = sorted(r.start_at for r in sim.recipients)
    assert starts[1] - starts[0] >= 3 and starts[2] - starts[1] >= 3
    by_id = {r.recipient_id: r for r in sim.recipients}
    assert set(by_id) == {"case-es", "case-en", "case-de"}
    es = by_id["case-es"].client_data
    assert es["conversation_config_override"]["agent"]["language"] == "es"
    assert es["conversation_config_override"]["tts"] == {"voice_id": "v_default"}
    assert es["dynamic_variables"] == {"suite": "smoke"}
    assert by_id["case-en"].client_data["dynamic_variables"] == {"order": 7, "suite": "smoke"}
    assert by_id["case-de"].client_data["conversation_config_override"]["tts"] == {"voice_id": "v_de"}
    # get_batch_status: the caller's ids, the schedule and the last update.
    assert [r["id"] for r in late["recipients"]] == ["case-es", "case-en", "case-de"]
    assert late["scheduled_time_unix"] == int(sim.scheduled_time)
    expected = sandbox_app.state.sandbox.batch_json(sim, with_recipients=False)["last_updated_at_unix"]
    assert late["last_updated_at_unix"] == expected and int(sim.created_at) < expected <= int(clock())
    # list_calls: each recipient's call with its id and its own scenario (two share a number).
    scenarios = {c["recipient_id"]: c["scenario"] for c in calls}
    assert scenarios["case-es"] == "order a pizza" and scenarios["case-en"] == "cancel an order"


async def test_a_recipients_call_reports_its_controls_and_id(connect, sandbox_app, clock):
    async with connect() as client:
        submitted = await call(client, "submit_batch", recipients=RECIPIENTS[:1], business_description=PIZZA, ring_timeout_secs=15)
        batch_id = submitted.structured_content["batch_id"]
        clock.advance(30)
        status = (await call(client, "get_batch_status", batch_id=batch_id)).structured_content
        read = (await call(client, "get_call", call_id=status["recipients"][0]["conversation_id"])).structured_content
    assert read["recipient_id"] == "case-es"
    assert read["controls"] == {"language": "es", "ring_timeout_secs": 15}


async def test_the_dry_run_shows_ids_controls_and_batch_options(connect, sandbox_app):
    async with connect() as client:
        dry = await call(
            client, "submit_batch", recipients=RECIPIENTS, business_description=PIZZA, target_concurrency_limit=2,
            ring_timeout_secs=30, dry_run=True,
        )
    body = dry.structured_content["request"]["body"]
    assert body["target_concurrency_limit"] == 2 and body["telephony_call_config"] == {"ringing_timeout_secs": 30}
    assert [r.get("id") for r in body["recipients"]] == ["case-es", "case-en", "case-de"]
    assert sandbox_app.state.sandbox.batches == {}


async def test_the_confirmation_question_shows_the_controls_and_the_limit(settings, sandbox_app):
    seen: list[str] = []

    async def answer(context, params):
        seen.append(params.message)
        return ElicitResult(action="decline")

    server = build_server(settings, transport=httpx.ASGITransport(app=sandbox_app))
    async with Client(server, elicitation_callback=answer) as client:
        result = await call(client, "submit_batch", recipients=RECIPIENTS, business_description=PIZZA, target_concurrency_limit=1, ring_timeout_secs=20)
    assert result.is_error and sandbox_app.state.sandbox.batches == {}
    question = seen[0]
    assert "Controls: " in question and "language es" in question and "voice v_de" in question and "rings 20 s" in question
    assert "At most 1 calls at once." in question


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"recipients": [{"phone_number": "+15551230010", "id": "a"}, {"phone_number": "+15551230020", "id": "a"}]},
         "recipients[1] '+15551230020': id 'a' is already used by recipients[0]"),
        ({"recipients": [{"phone_number": "+15551230010", "id": "a b"}]}, "recipients[0] '+15551230010': id must be"),
        ({"recipients": ["+15551230010", {"phone_number": "+15551230020", "language": "xx"}]},
         "recipients[1] '+15551230020': language must be an ISO 639-1"),
        ({"recipients": [{"phone_number": "+15551230010", "langauge": "es"}]}, "unknown field langauge; a recipient takes"),
        ({"recipients": ["+15551230010"], "target_concurrency_limit": 0}, "target_concurrency_limit must be a whole number"),
        ({"recipients": ["+15551230010"], "dynamic_variables": {"system__x": 1}}, "dynamic_variables.system__x is reserved"),
        ({"recipients": [{"phone_number": "+15551230010", "ring_timeout_secs": 10}, "+15551230020"]},
         "ring_timeout_secs differs between recipients (none, 10 s)"),
    ],
)
async def test_bad_batch_controls_are_refused_by_entry_before_any_request(connect, sandbox_app, arguments, message):
    async with connect() as client:
        result = await call(client, "submit_batch", business_description=PIZZA, **arguments)
        batches = await call(client, "list_batches")
    assert result.is_error and message in text(result), text(result)
    assert sandbox_app.state.sandbox.batches == {}
    assert batches.structured_content["batches"] == []


async def test_talkifai_sends_the_concurrency_limit_as_its_concurrent_call_limit_and_refuses_other_controls(tmp_path):
    from caller_mcp.settings import Settings

    settings = Settings(
        _env_file=None, caller_mcp_db=tmp_path / "db", caller_mcp_provider="talkifai", talkifai_from_phone_number_id="pn_1"
    )
    async with Client(build_server(settings), raise_exceptions=True) as client:
        dry = await call(client, "submit_batch", recipients=["+15551230000"], business_description=PIZZA, target_concurrency_limit=2, dry_run=True)
        too_many = await call(client, "submit_batch", recipients=["+15551230000"], business_description=PIZZA, target_concurrency_limit=51, dry_run=True)
        spanish = await call(client, "submit_batch", recipients=["+15551230000"], business_description=PIZZA, language="es")
    assert not dry.is_error, text(dry)
    assert dry.structured_content["request"]["body"]["concurrentCallLimit"] == 2
    assert too_many.is_error and "TalkifAI runs at most 50 calls of a batch at once" in text(too_many)
    assert spanish.is_error and "does not support a per-call language (language)" in text(spanish)
