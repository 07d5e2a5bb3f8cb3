"""Tool tests: the SDK's in-memory Client against a server built on the sandbox."""

from __future__ import annotations

import json

import pytest

from caller_mcp.domain.script import DEFAULT_SCENARIO
from caller_mcp.settings import Settings
from caller_mcp.store import SqliteStore as Store
from tests.fakes import PIZZA

pytestmark = pytest.mark.anyio

TOOLS = {
    "set_business_context", "place_call", "submit_batch", "get_call", "get_batch_status", "list_calls",
    "list_batches", "retry_batch", "cancel_batch", "run_test_suite", "get_test_run", "record_verdict", "get_test_report",
    "estimate_cost",
}


def text(result) -> str:
    return result.content[0].text


async def test_tools_list_has_every_tool_with_annotations_and_descriptions(connect):
    async with connect() as client:
        tools = (await client.list_tools()).tools
    assert {t.name for t in tools} == TOOLS
    for tool in tools:
        assert tool.annotations is not None and tool.annotations.open_world_hint is not None
        assert tool.description and len(tool.description) > 80
    by_name = {t.name: t for t in tools}
    assert by_name["get_batch_status"].annotations.read_only_hint is True
    assert by_name["place_call"].annotations.destructive_hint is True
    assert "REAL, paid phone call" in by_name["place_call"].description
    assert set(by_name["place_call"].input_schema["properties"]) == {
        "to_number", "business_description", "scenario", "language", "voice_id", "dynamic_variables",
        "ring_timeout_secs", "provider", "allow_redial", "dry_run"
    }
    assert set(by_name["submit_batch"].input_schema["properties"]) == {
        "recipients", "call_name", "business_description", "scenario", "scheduled_time_unix", "language", "voice_id",
        "dynamic_variables", "ring_timeout_secs", "target_concurrency_limit", "provider", "dry_run", "allow_resubmit",
    }
    for name in ("place_call", "submit_batch"):  # tiny: tools/list is paid in every conversation
        assert by_name[name].input_schema["properties"]["provider"]["enum"] == ["elevenlabs", "talkifai"]


async def test_tools_list_fits_in_12000_characters(connect):
    async with connect() as client:
        tools = (await client.list_tools()).tools
    size = len(json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools], separators=(",", ":")))
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
    assert answer["provider"] == "elevenlabs" and answer["sandbox"] is True and "no real phone" in answer["note"]
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
    assert answer["provider"] == "elevenlabs" and answer["sandbox"] is True
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
    assert "completed" not in first["counts"] and first["progress"] == 0
    answer = last.structured_content
    assert answer["status"] == "completed" and answer["progress"] == 1
    assert answer["total_calls_scheduled"] == 4 and answer["total_calls_dispatched"] == 4
    assert answer["counts"] == {"completed": 1, "failed": 2, "voicemail": 1}
    assert [r["phone_number"] for r in answer["recipients"]] == numbers
    assert answer["recipients_matching"] == 4 and "next_offset" not in answer
    assert all(r["conversation_id"] for r in answer["recipients"])


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
    assert bad.is_error and "batch_id must be the id submit_batch or list_batches returned" in text(bad)
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


# -- dial safety: duplicate guard, caps, dry run, confirmation, history ----------------------------

from mcp_types import ElicitResult  # noqa: E402


async def test_repeating_a_call_returns_the_earlier_one_instead_of_ringing_again(connect, sandbox_app):
    async with connect() as client:
        await client.call_tool("set_business_context", {"description": PIZZA, "scenario": "order a pizza"})
        first = await client.call_tool("place_call", {"to_number": "+15551234567"})
        again = await client.call_tool("place_call", {"to_number": "+15551234567", "scenario": "order a pizza."})
        other_goal = await client.call_tool("place_call", {"to_number": "+15551234567", "scenario": "ask the hours"})
        forced = await client.call_tool("place_call", {"to_number": "+15551234567", "allow_redial": True})
    assert not first.is_error and not again.is_error
    assert again.structured_content["duplicate_of"] == first.structured_content["call_id"]
    assert again.structured_content["conversation_id"] == first.structured_content["conversation_id"]
    assert "Not dialled again" in again.structured_content["message"]
    assert other_goal.structured_content.get("duplicate_of") is None
    assert forced.structured_content.get("duplicate_of") is None
    assert len(sandbox_app.state.sandbox.calls) == 3  # first, other goal, forced


async def test_redial_guard_expires(connect, db_path, sandbox_app):
    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_redial_guard_secs=0)
    async with connect(settings) as client:
        for _ in range(2):
            result = await client.call_tool("place_call", {"to_number": "+15551234567", "business_description": PIZZA})
            assert result.structured_content.get("duplicate_of") is None
    assert len(sandbox_app.state.sandbox.calls) == 2


async def test_concurrent_identical_calls_ring_once(connect, sandbox_app):
    import anyio

    results = []
    async with connect() as client:

        async def call():
            results.append(await client.call_tool("place_call", {"to_number": "+15551234567", "business_description": PIZZA}))

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(call)
    assert len(sandbox_app.state.sandbox.calls) == 1
    assert sum(r.structured_content.get("duplicate_of") is None for r in results) == 1


async def test_hourly_cap_counts_batch_recipients_survives_restart_and_says_when(connect, db_path, sandbox_app):
    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_max_calls_per_hour=3)
    async with connect(settings) as client:
        batch = await client.call_tool(
            "submit_batch", {"recipients": ["+15551230000", "+15551230010"], "business_description": PIZZA}
        )
        assert not batch.is_error
        third = await client.call_tool("place_call", {"to_number": "+15551234567", "business_description": PIZZA})
        assert not third.is_error
    async with connect(settings) as client:  # a restart does not reset the count
        fourth = await client.call_tool("place_call", {"to_number": "+15551234568", "business_description": PIZZA})
        big = await client.call_tool("submit_batch", {"recipients": ["+15551230020"] * 4, "business_description": PIZZA})
    assert fourth.is_error
    assert "Hourly call cap reached: 3 calls in the last hour" in text(fourth)
    assert "CALLER_MCP_MAX_CALLS_PER_HOUR=3" in text(fourth) and "is allowed at" in text(fourth)
    assert big.is_error and "exceed CALLER_MCP_MAX_CALLS_PER_HOUR=3 on their own" in text(big)
    assert len(sandbox_app.state.sandbox.calls) == 3  # 2 batch recipients + 1 call, nothing after


async def test_batch_size_cap(connect, db_path, sandbox_app):
    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_max_batch_size=2)
    async with connect(settings) as client:
        result = await client.call_tool("submit_batch", {"recipients": ["+15551230000"] * 3, "business_description": PIZZA})
    assert result.is_error and "3 recipients exceed CALLER_MCP_MAX_BATCH_SIZE=2" in text(result)
    assert sandbox_app.state.sandbox.batches == {}


async def test_sandbox_has_no_caps_unless_set(connect, sandbox_app):
    async with connect() as client:
        result = await client.call_tool(
            "submit_batch", {"recipients": [f"+1555123{i:04d}" for i in range(1500)], "business_description": PIZZA}
        )
    assert not result.is_error, text(result)
    assert result.structured_content["total_calls_scheduled"] == 1500


async def test_dry_run_call_returns_the_exact_request_and_dials_nothing(connect, sandbox_app, db_path):
    async with connect() as client:
        result = await client.call_tool(
            "place_call",
            {"to_number": "+15551234567", "business_description": PIZZA, "scenario": "order a pizza", "dry_run": True},
        )
    answer = result.structured_content
    assert not result.is_error and answer["dry_run"] is True and answer["status"] == "dry_run"
    request = answer["request"]
    assert request["method"] == "POST" and request["url"].endswith("/v1/convai/twilio/outbound-call")
    assert request["headers"] == {"xi-api-key": "***"}
    agent = request["body"]["conversation_initiation_client_data"]["conversation_config_override"]["agent"]
    assert agent["first_message"] == "Hi, I'm calling because I'd like to order a pizza."
    assert f"Business description: {PIZZA}" in agent["prompt"]["prompt"]
    assert request["body"]["to_number"] == "+15551234567"
    assert sandbox_app.state.sandbox.calls == {}
    assert Store(db_path).list_calls() == []


async def test_dry_run_still_applies_the_policy(connect):
    async with connect() as client:
        result = await client.call_tool(
            "place_call", {"to_number": "+19005551234", "business_description": PIZZA, "dry_run": True}
        )
    assert result.is_error and "premium-rate" in text(result)


async def test_dry_run_batch_shows_the_first_recipients_and_submits_nothing(connect, sandbox_app):
    numbers = [f"+1555123{i:04d}" for i in range(10, 20)]
    async with connect() as client:
        result = await client.call_tool(
            "submit_batch", {"recipients": numbers, "business_description": PIZZA, "dry_run": True}
        )
    answer = result.structured_content
    assert answer["dry_run"] is True and answer.get("batch_id") is None and answer["total_calls_scheduled"] == 10
    assert [r["phone_number"] for r in answer["request"]["body"]["recipients"]] == numbers[:3]
    assert answer["request"]["recipients_not_shown"] == 7
    assert sandbox_app.state.sandbox.batches == {}


def elicitation(action: str, confirm: bool = True, seen: list | None = None):
    async def callback(context, params):
        if seen is not None:
            seen.append(params.message)
        return ElicitResult(action=action, content={"confirm": confirm} if action == "accept" else None)

    return callback


@pytest.mark.parametrize(("action", "confirm"), [("decline", True), ("cancel", True), ("accept", False)])
async def test_a_batch_the_person_does_not_confirm_is_not_submitted(settings, sandbox_app, action, confirm):
    from mcp import Client

    from caller_mcp.mcp.server import build_server
    import httpx

    seen: list[str] = []
    server = build_server(settings, transport=httpx.ASGITransport(app=sandbox_app))
    async with Client(server, elicitation_callback=elicitation(action, confirm, seen)) as client:
        result = await client.call_tool(
            "submit_batch", {"recipients": ["+15551230000", "+15551230010"], "business_description": PIZZA}
        )
    assert result.is_error and "did not confirm" in text(result)
    assert sandbox_app.state.sandbox.batches == {}
    assert "Submit 2 sandbox phone calls" in seen[0] and "+15551230000" in seen[0]


async def test_confirmed_batch_is_submitted_and_single_calls_are_not_asked_by_default(settings, sandbox_app):
    from mcp import Client

    from caller_mcp.mcp.server import build_server
    import httpx

    seen: list[str] = []
    server = build_server(settings, transport=httpx.ASGITransport(app=sandbox_app))
    async with Client(server, elicitation_callback=elicitation("accept", True, seen)) as client:
        batch = await client.call_tool("submit_batch", {"recipients": ["+15551230000"], "business_description": PIZZA})
        call = await client.call_tool("place_call", {"to_number": "+15551234567", "business_description": PIZZA})
    assert not batch.is_error and not call.is_error
    assert len(seen) == 1  # CALLER_MCP_CONFIRM=batch: only the batch was confirmed


async def test_confirm_always_asks_for_single_calls(db_path, sandbox_app):
    from mcp import Client

    from caller_mcp.mcp.server import build_server
    import httpx

    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_confirm="always")
    server = build_server(settings, transport=httpx.ASGITransport(app=sandbox_app))
    async with Client(server, elicitation_callback=elicitation("decline")) as client:
        result = await client.call_tool("place_call", {"to_number": "+15551234567", "business_description": PIZZA})
    assert result.is_error and "did not confirm" in text(result)
    assert sandbox_app.state.sandbox.calls == {}
    assert Store(db_path).list_calls() == []


async def test_confirm_never_and_clients_without_elicitation_are_not_asked(connect, db_path, sandbox_app):
    never = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_confirm="never")
    async with connect(never) as client:  # this client declares no elicitation either
        result = await client.call_tool("submit_batch", {"recipients": ["+15551230000"], "business_description": PIZZA})
    assert not result.is_error


async def test_list_calls_shows_history_newest_first_with_filters(connect):
    async with connect() as client:
        await client.call_tool("set_business_context", {"description": PIZZA})
        await client.call_tool("place_call", {"to_number": "+15551234567"})
        await client.call_tool("place_call", {"to_number": "+15550000004"})  # refused by the provider
        await client.call_tool("place_call", {"to_number": "+15551234568"})
        everything = (await client.call_tool("list_calls", {})).structured_content
        failed = (await client.call_tool("list_calls", {"status": "failed"})).structured_content
        one = (await client.call_tool("list_calls", {"to_number": "+15551234567"})).structured_content
        future = (await client.call_tool("list_calls", {"since": "2999-01-01T00:00:00Z"})).structured_content
        bad = await client.call_tool("list_calls", {"since": "yesterday"})
        too_many = await client.call_tool("list_calls", {"limit": 1000})
    assert [c["to_number"] for c in everything["calls"]] == ["+15551234568", "+15550000004", "+15551234567"]
    assert [c["status"] for c in everything["calls"]] == ["initiated", "failed", "initiated"]
    assert failed["count"] == 1 and "carrier rejected" in failed["calls"][0]["error"]
    assert one["count"] == 1 and one["calls"][0]["conversation_id"]
    assert future["count"] == 0
    assert bad.is_error and "since must be Unix seconds or ISO 8601" in text(bad)
    assert too_many.is_error and "limit must be between 1 and 200" in text(too_many)


async def test_invalid_numeric_configuration_is_reported_by_tools(monkeypatch, connect, db_path):
    monkeypatch.setenv("CALLER_MCP_MAX_CALLS_PER_HOUR", "lots")
    monkeypatch.setenv("CALLER_MCP_DB", str(db_path))
    settings = Settings.load()
    async with connect(settings) as client:
        assert len((await client.list_tools()).tools) == len(TOOLS)
        result = await client.call_tool("place_call", {"to_number": "+15551234567", "business_description": PIZZA})
    assert result.is_error
    assert "Invalid configuration: CALLER_MCP_MAX_CALLS_PER_HOUR" in text(result)
