"""The tools on the TalkifAI sandbox, through the in-memory MCP client: the provider is named,
the scenario is said not to reach TalkifAI's agent, 408 is an unanswered call, batches are
NotSupported."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from caller_mcp.mcp.server import build_server
from caller_mcp.settings import SANDBOX_NOTE, Settings
from tests.fakes import PIZZA

pytestmark = pytest.mark.anyio

NOT_SENT = "not sent to talkifai's agent"


def text(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


@pytest.fixture
def talkifai_settings(tmp_path) -> Settings:
    # 1000x: the 60 s ring of an unanswered call takes 0.06 s.
    return Settings(_env_file=None, caller_mcp_db=tmp_path / "db", caller_mcp_provider="talkifai", caller_mcp_sandbox_speed=1000)


async def call(client, name: str, **arguments):
    with anyio.fail_after(10):
        return await client.call_tool(name, arguments)


async def test_place_call_on_the_talkifai_sandbox_names_the_provider_and_says_the_scenario_was_not_sent(talkifai_settings):
    async with Client(build_server(talkifai_settings), raise_exceptions=True) as client:
        result = await call(
            client, "place_call", to_number="+15551230000", business_description=PIZZA, scenario="order a large pizza"
        )
    assert not result.is_error, text(result)
    answer = result.structured_content
    assert answer["provider"] == "talkifai" and answer["sandbox"] is True
    assert answer["note"] == SANDBOX_NOTE
    assert answer["status"] == "answered"
    assert answer["conversation_id"].startswith("outbound_agent_sandbox_voice_15551230000_")
    assert answer["call_id"].startswith("call_")
    assert "Sandbox voice agent" in answer["message"]
    assert NOT_SENT in answer["message"]
    assert answer["raw"]["room_name"] == answer["conversation_id"]


async def test_unanswered_call_is_no_answer_not_a_tool_error_and_get_call_reports_it_failed(talkifai_settings):
    async with Client(build_server(talkifai_settings), raise_exceptions=True) as client:
        placed = await call(client, "place_call", to_number="+15551230002", business_description=PIZZA)
        assert not placed.is_error, text(placed)
        call_id = placed.structured_content["call_id"]
        read = await call(client, "get_call", call_id=call_id)
        listed = await call(client, "list_calls")
    assert placed.structured_content["status"] == "no_answer"
    assert "rang for 60 s without an answer" in placed.structured_content["message"]
    assert "conversation_id" not in placed.structured_content
    assert not read.is_error, text(read)
    assert read.structured_content["status"] == "failed"
    [row] = listed.structured_content["calls"]
    assert row["call_id"] == call_id and row["status"] == "no_answer" and row["provider"] == "talkifai"


async def test_get_call_on_an_answered_call_answers_from_the_local_record_and_says_so(talkifai_settings):
    async with Client(build_server(talkifai_settings), raise_exceptions=True) as client:
        placed = await call(client, "place_call", to_number="+15551230000", business_description=PIZZA)
        read = await call(client, "get_call", call_id=placed.structured_content["call_id"])
    assert not read.is_error, text(read)
    answer = read.structured_content
    assert answer["status"] == "in_progress" and answer["provider"] == "talkifai"
    assert "local record" in answer["error"] and "transcript" in answer["error"]


async def test_dry_run_shows_the_bodyless_request_and_says_the_scenario_would_not_be_sent(talkifai_settings):
    async with Client(build_server(talkifai_settings), raise_exceptions=True) as client:
        result = await call(client, "place_call", to_number="+15551230000", business_description=PIZZA, dry_run=True)
        listed = await call(client, "list_calls")
    answer = result.structured_content
    assert answer["status"] == "dry_run" and answer["provider"] == "talkifai"
    assert answer["request"]["url"].endswith("/telephony/outbound-call?to_number=%2B15551230000&from_number=%2B15550000100")
    assert answer["request"]["headers"] == {"authorization": "Bearer ***"}
    assert "body" not in answer["request"] or answer["request"]["body"] is None
    assert NOT_SENT in answer["message"]
    assert listed.structured_content["calls"] == []


@pytest.mark.parametrize(
    ("number", "said"),
    [("+15551230004", "Pipeline or Realtime"), ("+15551230003", "busy")],
)
async def test_refused_and_busy_calls_are_tool_errors_recorded_failed(talkifai_settings, number, said):
    async with Client(build_server(talkifai_settings), raise_exceptions=True) as client:
        result = await call(client, "place_call", to_number=number, business_description=PIZZA)
        listed = await call(client, "list_calls")
    assert result.is_error and said in text(result)
    [row] = listed.structured_content["calls"]
    assert row["status"] == "failed" and row["provider"] == "talkifai"


async def test_submit_batch_on_talkifai_is_not_supported(talkifai_settings):
    async with Client(build_server(talkifai_settings), raise_exceptions=True) as client:
        result = await call(client, "submit_batch", recipients=["+15551230000"], business_description=PIZZA)
    assert result.is_error
    assert "talkifai provider does not support batch calls" in text(result)


async def test_elevenlabs_answer_is_unchanged_by_the_talkifai_wording(tmp_path):
    settings = Settings(_env_file=None, caller_mcp_db=tmp_path / "db", caller_mcp_sandbox_speed=1000)
    async with Client(build_server(settings), raise_exceptions=True) as client:
        result = await call(client, "place_call", to_number="+15551230000", business_description=PIZZA)
    answer = result.structured_content
    assert answer["provider"] == "elevenlabs" and answer["status"] == "initiated"
    assert answer["message"] == "Call initiated."
