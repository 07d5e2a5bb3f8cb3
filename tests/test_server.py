"""Tool tests: the SDK's in-memory Client against a server built on the sandbox."""

from __future__ import annotations

import json

import pytest

from caller_mcp.config import Settings
from caller_mcp.script import DEFAULT_SCENARIO
from caller_mcp.store import Store

pytestmark = pytest.mark.anyio

PIZZA = "We are Pizza Palace, a pizza restaurant that takes orders and handles delivery inquiries."
TOOLS = {"set_business_context", "place_call", "submit_batch", "get_batch_status", "cancel_batch", "list_calls"}


def text(result) -> str:
    return result.content[0].text


async def test_tools_list_has_every_tool_with_annotations_and_output_schemas(connect):
    async with connect() as client:
        tools = (await client.list_tools()).tools
    assert {t.name for t in tools} == TOOLS
    for tool in tools:
        assert tool.annotations is not None and tool.annotations.open_world_hint is not None
        assert tool.output_schema is not None
        assert tool.description and len(tool.description) > 80
    by_name = {t.name: t for t in tools}
    assert by_name["get_batch_status"].annotations.read_only_hint is True
    assert by_name["place_call"].annotations.destructive_hint is True
    assert "REAL phone call" in by_name["place_call"].description
    assert set(by_name["place_call"].input_schema["properties"]) == {
        "to_number", "business_description", "scenario", "allow_redial", "dry_run"
    }
    assert set(by_name["submit_batch"].input_schema["properties"]) == {
        "recipients", "call_name", "business_description", "scenario", "scheduled_time_unix", "dry_run"
    }


async def test_tools_list_fits_in_12000_characters(connect):
    async with connect() as client:
        tools = (await client.list_tools()).tools
    size = len(json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]))
    assert size <= 12_000


async def test_place_call_without_context_asks_for_description(connect, sandbox_app):
    async with connect() as client:
        result = await client.call_tool("place_call", {"to_number": "+15551234567"})
    assert result.is_error
    assert "Provide a business description first." in text(result)
    assert sandbox_app.state.sandbox.calls == {}


async def test_place_call_with_bad_number_gives_seed_error_and_sends_nothing(connect, sandbox_app):
    async with connect() as client:
        result = await client.call_tool("place_call", {"to_number": "5551234567", "business_description": PIZZA})
    assert result.is_error
    assert "Phone number must be in E.164 format, for example +15551234567." in text(result)
    assert sandbox_app.state.sandbox.calls == {}


async def test_place_call_uses_stored_context_and_answers_like_the_seed(connect, sandbox_app, db_path):
    async with connect() as client:
        ctx = await client.call_tool(
            "set_business_context", {"description": PIZZA, "scenario": "  order a large\npepperoni pizza. "}
        )
        assert not ctx.is_error
        assert ctx.structured_content["scenario"] == "order a large pepperoni pizza"
        result = await client.call_tool("place_call", {"to_number": "+15551234567"})
    assert not result.is_error, text(result)
    answer = result.structured_content
    assert answer["ok"] is True
    assert answer["status"] == "initiated"
    assert answer["message"] == "Call initiated."
    assert answer["to_number"] == "+15551234567"
    assert answer["scenario"] == "order a large pepperoni pizza"
    assert answer["provider"] == "sandbox" and "no real phone" in answer["note"]
    assert answer["call_sid"].startswith("CA")
    assert answer["raw"]["callSid"] == answer["call_sid"]
    # The sandbox received seed 002's prompt and first message.
    call = sandbox_app.state.sandbox.calls[answer["conversation_id"]]
    assert call.first_message == "Hi, I'm calling because I'd like to order a large pepperoni pizza."
    assert f"Business description: {PIZZA}" in call.prompt
    # The text the model reads is compact and carries the ids, not the raw answer.
    assert '"raw"' not in text(result) and answer["call_id"] in text(result)
    # The store recorded the outcome.
    record = Store(db_path).get_call(answer["call_id"])
    assert record.status == "initiated" and record.conversation_id == answer["conversation_id"]


async def test_place_call_arguments_override_context_and_default_scenario_applies(connect):
    async with connect() as client:
        await client.call_tool("set_business_context", {"description": PIZZA})
        default = await client.call_tool("place_call", {"to_number": "+15551234567"})
        own = await client.call_tool(
            "place_call",
            {"to_number": "+15551234568", "business_description": "We are a helpdesk.", "scenario": "report a login issue!"},
        )
    assert default.structured_content["scenario"] == DEFAULT_SCENARIO
    assert own.structured_content["scenario"] == "report a login issue"


async def test_place_call_over_sip_trunk_reads_sip_call_id(connect, db_path):
    settings = Settings(_env_file=None, caller_mcp_db=db_path, elevenlabs_phone_provider="sip_trunk")
    async with connect(settings) as client:
        result = await client.call_tool("place_call", {"to_number": "+15551234567", "business_description": PIZZA})
    assert not result.is_error, text(result)
    assert result.structured_content["phone_provider"] == "sip_trunk"
    assert result.structured_content["call_sid"].startswith("sip_")


async def test_place_call_refused_by_provider_is_a_tool_error_and_recorded_failed(connect, db_path):
    async with connect() as client:
        result = await client.call_tool("place_call", {"to_number": "+15550000004", "business_description": PIZZA})
    assert result.is_error
    assert "could not place the call" in text(result)
    [record] = Store(db_path).list_calls()
    assert record.status == "failed" and "carrier rejected" in record.error


async def test_missing_variables_surface_as_seed_error_but_context_still_works(connect, db_path):
    settings = Settings(_env_file=None, caller_mcp_db=db_path, elevenlabs_api_key="k")
    async with connect(settings) as client:
        assert len((await client.list_tools()).tools) == len(TOOLS)
        ctx = await client.call_tool("set_business_context", {"description": PIZZA})
        assert not ctx.is_error
        result = await client.call_tool("place_call", {"to_number": "+15551234567"})
        batch = await client.call_tool("get_batch_status", {"batch_id": "btcal_1"})
    for failed in (result, batch):
        assert failed.is_error
        assert (
            "Missing required environment variables: ELEVENLABS_AGENT_ID, ELEVENLABS_AGENT_PHONE_NUMBER_ID"
            in text(failed)
        )


async def test_business_context_survives_a_restart(connect):
    async with connect() as client:
        await client.call_tool("set_business_context", {"description": PIZZA, "scenario": "ask the hours"})
    async with connect() as client:
        result = await client.call_tool("place_call", {"to_number": "+15551234567"})
    assert result.structured_content["scenario"] == "ask the hours"


async def test_blank_description_is_refused(connect):
    async with connect() as client:
        result = await client.call_tool("set_business_context", {"description": "   "})
    assert result.is_error and "description must not be empty" in text(result)


async def test_submit_batch_sends_each_recipient_its_own_prompt(connect, sandbox_app, clock):
    async with connect() as client:
        await client.call_tool("set_business_context", {"description": PIZZA, "scenario": "order a pizza"})
        result = await client.call_tool(
            "submit_batch",
            {
                "recipients": [
                    "+15551230000",
                    {"phone_number": "+15551230010", "scenario": "ask the opening hours."},
                    {"phone_number": "+15551230020", "business_description": "We are a dentist."},
                ],
                "call_name": "smoke test",
            },
        )
    assert not result.is_error, text(result)
    answer = result.structured_content
    assert answer["name"] == "smoke test"
    assert answer["total_calls_scheduled"] == 3
    assert answer["provider"] == "sandbox"
    batch = sandbox_app.state.sandbox.batches[answer["batch_id"]]
    firsts = [r.call.first_message for r in batch.recipients]
    assert firsts == [
        "Hi, I'm calling because I'd like to order a pizza.",
        "Hi, I'm calling because I'd like to ask the opening hours.",
        "Hi, I'm calling because I'd like to order a pizza.",
    ]
    assert "Business description: We are a dentist." in batch.recipients[2].call.prompt


async def test_submit_batch_with_bad_entries_names_each_and_sends_nothing(connect, sandbox_app):
    async with connect() as client:
        result = await client.call_tool(
            "submit_batch",
            {
                "recipients": ["+15551230000", "12345", {"phone_number": "+0123456789"}, "+15551230003"],
                "business_description": PIZZA,
            },
        )
    assert result.is_error
    message = text(result)
    assert "2 of 4 recipients are invalid; nothing was sent" in message
    assert "recipients[1] '12345'" in message and "recipients[2] '+0123456789'" in message
    assert "recipients[0]" not in message and "recipients[3]" not in message
    assert sandbox_app.state.sandbox.batches == {}


async def test_submit_batch_without_any_description_asks_for_one(connect, sandbox_app):
    async with connect() as client:
        result = await client.call_tool("submit_batch", {"recipients": ["+15551230000"]})
    assert result.is_error and "Provide a business description first." in text(result)
    assert sandbox_app.state.sandbox.batches == {}


async def test_submit_batch_rejects_an_empty_list(connect):
    async with connect() as client:
        result = await client.call_tool("submit_batch", {"recipients": [], "business_description": PIZZA})
    assert result.is_error and "non-empty list" in text(result)


async def test_batch_progresses_and_status_reports_counts_and_problem_recipients(connect, clock):
    numbers = ["+15551230000", "+15551230001", "+15551230002", "+15551230003"]
    async with connect() as client:
        submitted = await client.call_tool("submit_batch", {"recipients": numbers, "business_description": PIZZA})
        batch_id = submitted.structured_content["batch_id"]
        first = (await client.call_tool("get_batch_status", {"batch_id": batch_id})).structured_content
        clock.advance(60)
        last = await client.call_tool("get_batch_status", {"batch_id": batch_id})
    assert first["status"] in ("pending", "in_progress")
    assert sum(first["counts"].values()) == 4
    assert first["counts"]["completed"] == 0
    answer = last.structured_content
    assert answer["status"] == "completed"
    assert answer["total_calls_scheduled"] == 4 and answer["total_calls_dispatched"] == 4
    assert answer["counts"] == {
        "pending": 0, "dispatched": 0, "initiated": 0, "in_progress": 0,
        "completed": 1, "failed": 2, "cancelled": 0, "voicemail": 1,
    }
    problems = {p["phone_number"]: p for p in answer["problem_recipients"]}
    assert set(problems) == {"+15551230001", "+15551230002", "+15551230003"}
    assert problems["+15551230001"]["status"] == "voicemail"
    assert all(p["conversation_id"] for p in problems.values())
    assert answer["problem_recipients_omitted"] == 0


async def test_cancel_batch_stops_undialled_recipients(connect, clock):
    numbers = [f"+155512300{i:02d}" for i in range(10, 20)]
    async with connect() as client:
        submitted = await client.call_tool("submit_batch", {"recipients": numbers, "business_description": PIZZA})
        batch_id = submitted.structured_content["batch_id"]
        clock.advance(1)
        cancelled = await client.call_tool("cancel_batch", {"batch_id": batch_id})
        clock.advance(120)
        status = (await client.call_tool("get_batch_status", {"batch_id": batch_id})).structured_content
    assert not cancelled.is_error, text(cancelled)
    assert cancelled.structured_content["status"] == "cancelled"
    assert status["status"] == "cancelled"
    assert status["counts"]["cancelled"] == 8  # two were dispatched before the cancel
    assert status["counts"]["completed"] == 2


async def test_unknown_batch_is_a_clear_error_and_the_server_keeps_serving(connect):
    async with connect() as client:
        missing = await client.call_tool("get_batch_status", {"batch_id": "btcal_doesnotexist"})
        cancel = await client.call_tool("cancel_batch", {"batch_id": "btcal_doesnotexist"})
        bad = await client.call_tool("get_batch_status", {"batch_id": "../phone-numbers/x"})
        ok = await client.call_tool("set_business_context", {"description": PIZZA})
    assert missing.is_error and "No batch btcal_doesnotexist exists" in text(missing)
    assert cancel.is_error and "No batch btcal_doesnotexist exists" in text(cancel)
    assert bad.is_error and "batch_id must be the id submit_batch returned" in text(bad)
    assert not ok.is_error


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("place_call", {}),
        ("place_call", {"to_number": 15551234567}),
        ("place_call", {"to_number": ["+15551234567"]}),
        ("submit_batch", {"recipients": "+15551234567"}),
        ("submit_batch", {"recipients": [42]}),
        ("submit_batch", {"recipients": ["+15551234567"], "scheduled_time_unix": "tomorrow"}),
        ("get_batch_status", {"batch_id": None}),
        ("set_business_context", {"description": {"name": "x"}}),
        ("no_such_tool", {}),
    ],
)
async def test_wrong_arguments_are_tool_errors_not_crashes(connect, sandbox_app, tool, arguments):
    async with connect() as client:
        result = await client.call_tool(tool, arguments)
        follow_up = await client.call_tool("set_business_context", {"description": PIZZA})
    assert result.is_error
    assert "Traceback" not in text(result)
    assert not follow_up.is_error
    assert sandbox_app.state.sandbox.calls == {} and sandbox_app.state.sandbox.batches == {}
