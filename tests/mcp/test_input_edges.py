"""Input edges and secrets through the tool layer: silent or echoing answers become clear errors."""

from __future__ import annotations

import pytest
from mcp import Client

from caller_mcp.mcp.server import build_server
from caller_mcp.providers.http import masked
from caller_mcp.settings import Settings

from tests.fakes import PIZZA

pytestmark = pytest.mark.anyio


def text(result) -> str:
    return result.content[0].text


@pytest.mark.parametrize("since", ["NaN", "inf", "-Infinity"])
async def test_list_calls_refuses_a_since_that_is_not_a_finite_time(connect, since):
    async with connect() as client:
        result = await client.call_tool("list_calls", {"since": since})
    assert result.is_error and "since must be a finite time" in text(result)


async def test_list_calls_refuses_an_unknown_status_naming_the_known_ones(connect):
    async with connect() as client:
        result = await client.call_tool("list_calls", {"status": "bogus"})
        known = await client.call_tool("list_calls", {"status": "outcome_unknown"})
    assert result.is_error and "status must be one of" in text(result) and "outcome_unknown" in text(result)
    assert not known.is_error


async def test_submit_batch_refuses_a_start_time_in_the_past(connect, sandbox_app):
    async with connect() as client:
        result = await client.call_tool(
            "submit_batch", {"recipients": ["+15551230000"], "business_description": PIZZA, "scheduled_time_unix": 1}
        )
    assert result.is_error and "is in the past" in text(result) and "Nothing was sent" in text(result)
    assert sandbox_app.state.sandbox.batches == {}


@pytest.mark.parametrize("key", ["sk_live_abc\r\ndef0123456789", "sk_live_abc def0123456789", "sk_live_\x00abcdef0123456789"])
async def test_a_key_with_whitespace_or_control_characters_is_a_config_error_that_does_not_echo_it(db_path, key):
    settings = Settings(
        _env_file=None, caller_mcp_db=db_path, elevenlabs_api_key=key, elevenlabs_agent_id="agent_1",
        elevenlabs_agent_phone_number_id="phnum_1",
    )
    async with Client(build_server(settings), raise_exceptions=True) as client:
        result = await client.call_tool("place_call", {"to_number": "+14155550123", "business_description": PIZZA})
    assert result.is_error and "ELEVENLABS_API_KEY contains whitespace or a control character" in text(result)
    assert "def0123456789" not in text(result) and "sk_live_abc" not in text(result)


def test_masking_hides_the_key_in_any_case_and_any_echoed_run_of_eight_characters():
    key = "sk_live_ABCDEFGHijklmnop1234"
    shown = masked(f"{key.upper()} | {key[:12]} | {key[-9:]} | {key[5:17].lower()} | sk_live | ok", key)
    assert shown == "*** | *** | *** | *** | sk_live | ok"
