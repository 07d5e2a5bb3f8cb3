"""Tests that fail loudly when the MCP SDK changes under ``caller_mcp/mcp/sdk.py``.

What the SDK would otherwise do silently, or what reaches past its public surface:

- its argument model ignores unknown arguments (``StrictTool.run`` refuses them);
- the output schema it would derive (``StrictTool.output_schema`` publishes none), and the
  ``structured_content`` of real answers, which must still match each tool's answer model;
- the input schemas it generates (``make_tool`` compacts them): no ``anyOf`` with null, no type
  arrays, titles at the top level only;
- its stdio loop drops a line that is not JSON-RPC (``run_stdio``'s filter answers it). The
  whole filter, over a real process, is exercised by
  ``tests/mcp/test_robustness.py::test_malformed_and_hostile_input_is_answered_and_the_server_keeps_serving``
  (-32700, -32600, ids kept); here, the exceptions the SDK's own line reader raises are classified.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import httpx
import mcp_types
import pytest
from mcp import Client
from mcp.server.mcpserver.tools import Tool
from mcp_types import ElicitResult

from caller_mcp.mcp.sdk import StrictTool, _classify_bad_line
from caller_mcp.mcp.server import build_server
from caller_mcp.mcp.suite_tools import suite_tools
from caller_mcp.mcp.tools import all_tools
from caller_mcp.store import SqliteStore
from tests.fakes import PIZZA

pytestmark = pytest.mark.anyio

TOOLS = {
    "set_business_context", "place_call", "submit_batch", "get_call", "get_batch_status", "list_calls",
    "list_batches", "retry_batch", "cancel_batch", "run_test_suite", "get_test_run", "record_verdict", "get_test_report",
    "estimate_cost",
}
#: Fields every answer of each tool carries.
ALWAYS_PRESENT = {
    "set_business_context": {"description", "scenario", "scenario_is_default", "updated_at", "message"},
    "place_call": {"ok", "status", "message", "to_number", "scenario", "provider", "sandbox", "dry_run", "raw"},
    "submit_batch": {"name", "status", "total_calls_scheduled", "provider", "sandbox", "dry_run"},
    "get_call": {
        "status", "provider", "sandbox", "transcript", "transcript_turns", "transcript_truncated",
        "evaluation_results", "data_collected", "waited_secs",
    },
    "get_batch_status": {
        "batch_id", "name", "status", "progress", "total_calls_scheduled", "total_calls_dispatched", "counts",
        "recipients", "recipients_matching", "provider", "sandbox",
    },
    "list_calls": {"calls", "count"},
    "list_batches": {"batches", "count", "provider", "sandbox"},
    "retry_batch": {"batch_id", "name", "status", "recipients_retried", "message", "provider", "sandbox"},
    "cancel_batch": {"batch_id", "name", "status", "provider", "sandbox"},
    "run_test_suite": {"suite", "status", "message", "calls", "mode", "not_applied", "dry_run", "provider", "sandbox"},
    "get_test_run": {
        "run_id", "suite", "status", "progress", "counts", "units", "units_not_shown", "notes", "next", "waited_secs",
        "provider", "sandbox",
    },
    "record_verdict": {"run_id", "case_id", "repeat", "criterion", "passed", "said_by", "unit_verdict", "awaiting", "message"},
    "get_test_report": {"cases", "flaky", "regressions", "cost", "runs", "sandbox"},
    "estimate_cost": {"calls", "expected_minutes", "provider", "sandbox"},
}
#: A one-case suite for the test-suite tools (the business says the price; one criterion to judge).
SUITE = """\
name: schema-check
to_number: "+15551234569"
business_description: We are Pizza Palace. A large pepperoni pizza costs 18 dollars.
cases:
  - id: order
    scenario: order a large pepperoni pizza
    success_criteria: [the business gives the price]
    checks: {business_says: ["18 dollars"]}
"""
#: Largest tools/list answer, as sent (compact JSON).
MAX_TOOLS_LIST_CHARS = 12_000


def text(result) -> str:
    return result.content[0].text


def walk(schema: Any, path: str = "$"):
    """Every (path, sub-schema dict) in ``schema``."""
    if isinstance(schema, dict):
        yield path, schema
        for key, value in schema.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from walk(item, f"{path}[{index}]")


async def list_tools(connect) -> dict[str, mcp_types.Tool]:
    async with connect() as client:
        return {t.name: t for t in (await client.list_tools()).tools}


# -- (1) unknown arguments ------------------------------------------------------------------------


async def test_a_misspelt_argument_is_refused_naming_it_and_the_accepted_ones_and_dials_nothing(
    settings, sandbox_app, db_path
):
    asked: list[str] = []

    async def elicitation(context, params):  # a client that could confirm: it must not be asked either
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    server = build_server(settings, transport=httpx.ASGITransport(app=sandbox_app))
    async with Client(server, elicitation_callback=elicitation) as client:
        result = await client.call_tool(
            "place_call", {"to_number": "+15551234567", "business_description": PIZZA, "goal": "cancel my order"}
        )
    assert result.is_error
    message = text(result)
    assert "unknown argument goal;" in message
    assert "place_call accepts allow_redial, business_description, dry_run, dynamic_variables, language, provider, ring_timeout_secs, scenario, to_number, voice_id" in message
    assert "Nothing was done." in message
    assert sandbox_app.state.sandbox.calls == {}
    assert SqliteStore(db_path).list_calls() == []
    assert asked == []


@pytest.mark.parametrize(
    ("tool", "arguments", "named"),
    [
        ("submit_batch", {"recipients": ["+15551230000"], "business_description": PIZZA, "goals": "x", "name": "y"},
         "unknown arguments goals, name; submit_batch accepts allow_resubmit, business_description, call_name, dry_run, "
         "dynamic_variables, language, provider, recipients, ring_timeout_secs, scenario, scheduled_time_unix, "
         "target_concurrency_limit, voice_id"),
        ("get_call", {"call_id": "call_1", "wait": 5}, "unknown argument wait; get_call accepts call_id, wait_seconds"),
        ("list_batches", {"limit": 5, "cursor": "x"}, "unknown argument cursor; list_batches accepts limit"),
    ],
)
async def test_unknown_arguments_are_refused_by_every_tool(connect, sandbox_app, tool, arguments, named):
    async with connect() as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error and named in text(result)
    assert sandbox_app.state.sandbox.calls == {} and sandbox_app.state.sandbox.batches == {}


def test_strict_tool_run_overrides_the_sdk_tool_run_with_the_same_signature():
    assert issubclass(StrictTool, Tool)
    assert list(inspect.signature(StrictTool.run).parameters) == list(inspect.signature(Tool.run).parameters)
    assert "output_schema" in dir(Tool)  # StrictTool replaces the SDK's own


# -- (2) output schemas ---------------------------------------------------------------------------


async def test_no_tool_publishes_an_output_schema(connect):
    tools = await list_tools(connect)
    assert set(tools) == TOOLS
    assert {name: tool.output_schema for name, tool in tools.items()} == dict.fromkeys(TOOLS)


async def test_structured_content_of_real_answers_matches_the_answer_models_without_nulls(connect, clock):
    answers: dict[str, list[dict]] = {name: [] for name in TOOLS}
    models = {tool.name: tool.answer_model for tool in [*all_tools(), *suite_tools()]}

    async with connect() as client:

        async def call(name: str, arguments: dict) -> dict:
            result = await client.call_tool(name, arguments)
            assert not result.is_error, (name, text(result))
            answers[name].append(result.structured_content)
            return result.structured_content

        await call("set_business_context", {"description": PIZZA, "scenario": "order a pizza"})
        placed = await call("place_call", {"to_number": "+15551234567"})
        await call("place_call", {"to_number": "+15551234567"})  # duplicate_of
        await call("place_call", {"to_number": "+15551234568", "dry_run": True})
        await call("get_call", {"call_id": placed["call_id"]})  # still running
        clock.advance(300)
        done = await call("get_call", {"call_id": placed["call_id"]})
        numbers = ["+15551230000", "+15551230001", "+15551230002", "+15551230003"]
        await call("submit_batch", {"recipients": numbers[:2], "dry_run": True})
        batch = await call("submit_batch", {"recipients": numbers, "call_name": "schema check"})
        other = await call("submit_batch", {"recipients": [f"+155512301{i:02d}" for i in range(10)]})
        clock.advance(300)
        status = await call("get_batch_status", {"batch_id": batch["batch_id"], "limit": 2})
        await call("get_batch_status", {"batch_id": batch["batch_id"], "status": "failed"})
        await call("get_call", {"call_id": status["recipients"][0]["conversation_id"]})
        await call("list_calls", {})
        await call("list_batches", {})
        await call("estimate_cost", {"calls": 3})
        await call("retry_batch", {"batch_id": batch["batch_id"]})
        await call("cancel_batch", {"batch_id": other["batch_id"]})
        await call("run_test_suite", {"suite": SUITE, "dry_run": True})
        run = await call("run_test_suite", {"suite": SUITE})
        await call("get_test_run", {"run_id": run["run_id"]})  # still running
        clock.advance(300)
        await call("get_test_run", {"run_id": run["run_id"]})
        await call("get_test_report", {"run_id": run["run_id"]})  # awaiting a verdict
        await call(
            "record_verdict",
            {"run_id": run["run_id"], "case_id": "order", "repeat": 1, "criterion": "the business gives the price",
             "passed": True, "evidence": "costs 18 dollars"},
        )
        await call("get_test_report", {"run_id": run["run_id"]})
        await call("get_test_report", {})

    assert done["status"] == "done" and done["transcript"]  # the richest answer was seen
    assert status["next_offset"] == 2
    for name, structured in answers.items():
        assert structured, f"no answer of {name} was checked"
        for answer in structured:
            models[name].model_validate(answer)
            assert ALWAYS_PRESENT[name] <= set(answer), (name, ALWAYS_PRESENT[name] - set(answer))
            assert None not in answer.values(), name


# -- (3) the stdio filter -------------------------------------------------------------------------


def sdk_reading(line: str) -> Exception:
    """The exception the SDK's stdio reader raises for ``line`` (``mcp.server.stdio.stdio_server``)."""
    with pytest.raises(Exception) as info:
        mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    return info.value


@pytest.mark.parametrize(
    ("line", "code", "id_"),
    [
        ("not json", -32700, None),
        ("{", -32700, None),
        ('{"a":1}', -32600, None),
        ("null", -32600, None),
        ('{"jsonrpc":"2.0","id":7}', -32600, 7),
        ('{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"\\ud800"}}', -32600, "x"),
    ],
)
def test_lines_the_sdk_cannot_read_are_classified_with_their_code_and_id(line, code, id_):
    assert _classify_bad_line(sdk_reading(line))[0::2] == (code, id_)


def test_the_stdio_filter_reaches_the_sdk_lowlevel_server_it_needs(settings):
    from mcp.server import stdio

    server = build_server(settings)
    lowlevel = server._lowlevel_server
    assert callable(lowlevel.run) and callable(lowlevel.create_initialization_options)
    assert callable(stdio.stdio_server)


# -- (4) input schemas, titles, resource links, size ----------------------------------------------


async def test_input_schemas_are_portable_no_null_alternatives_no_type_arrays_no_property_titles(connect):
    tools = await list_tools(connect)
    for name, tool in tools.items():
        schema = tool.input_schema
        assert schema["type"] == "object", name
        for path, sub in walk(schema):
            assert "anyOf" not in sub or {"type": "null"} not in sub["anyOf"], (name, path)
            assert not isinstance(sub.get("type"), list), (name, path)
            assert sub.get("type") != "null", (name, path)
            assert sub.get("default", "unset") is not None, (name, path)
        for prop, sub in schema["properties"].items():
            assert "title" not in sub, (name, prop)
    # optional parameters are a plain type
    place = tools["place_call"].input_schema
    assert place["properties"]["scenario"]["type"] == "string"
    assert place["properties"]["business_description"]["type"] == "string"
    assert set(place["required"]) == {"to_number"}
    assert tools["submit_batch"].input_schema["properties"]["scheduled_time_unix"]["type"] == "integer"


async def test_bounds_are_in_the_input_schemas(connect):
    tools = await list_tools(connect)
    assert tools["place_call"].input_schema["properties"]["to_number"]["pattern"] == r"^\+[1-9]\d{7,14}$"
    wait = tools["get_call"].input_schema["properties"]["wait_seconds"]
    assert wait["minimum"] == 0 and wait["maximum"] > 0
    assert tools["list_calls"].input_schema["properties"]["limit"]["minimum"] == 1
    assert tools["submit_batch"].input_schema["properties"]["recipients"]["minItems"] == 1


async def test_every_tool_has_a_top_level_title_and_none_in_its_annotations(connect):
    tools = await list_tools(connect)
    for name, tool in tools.items():
        assert tool.title and tool.title.strip() == tool.title and tool.title != name, name
        assert tool.annotations is not None and tool.annotations.title is None, name
    assert tools["place_call"].title == "Place an AI test call"


async def test_get_call_answers_link_the_whole_transcript_as_a_resource(connect, clock):
    async with connect() as client:
        placed = (
            await client.call_tool("place_call", {"to_number": "+15551234567", "business_description": PIZZA})
        ).structured_content
        running = await client.call_tool("get_call", {"call_id": placed["call_id"]})
        clock.advance(300)
        done = await client.call_tool("get_call", {"call_id": placed["call_id"]})
        link = done.content[1]
        whole = await client.read_resource(link.uri)
    uri = f"caller://calls/{placed['call_id']}/transcript"
    assert "transcript_uri" not in running.structured_content and len(running.content) == 1
    assert done.structured_content["transcript_uri"] == uri
    assert [block.type for block in done.content] == ["text", "resource_link"]
    assert str(link.uri) == uri and link.mime_type == "text/plain"
    assert "caller: Hi, I'm calling because" in whole.contents[0].text


async def test_tools_list_as_sent_fits_in_12000_characters(connect):
    tools = list((await list_tools(connect)).values())
    size = len(
        json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools], separators=(",", ":"))
    )
    assert size <= MAX_TOOLS_LIST_CHARS
