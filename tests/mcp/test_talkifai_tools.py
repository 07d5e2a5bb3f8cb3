"""The tools on the TalkifAI sandbox, through the in-memory MCP client: the provider is named,
the scenario is said not to reach TalkifAI's agent, 408 is an unanswered call, the background dial
answers within 2 s and is never sent twice (batches and reading calls: test_talkifai_batches.py)."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest
from mcp import Client

from caller_mcp.mcp.server import build_server
from caller_mcp.sandbox.talkifai import create_app
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


async def place_and_follow(client, number: str, **arguments):
    placed = await call(client, "place_call", to_number=number, business_description=PIZZA, **arguments)
    assert not placed.is_error, text(placed)
    read = await call(client, "get_call", call_id=placed.structured_content["call_id"], wait_seconds=5)
    assert not read.is_error, text(read)
    return placed.structured_content, read.structured_content


async def test_place_call_on_the_talkifai_sandbox_names_the_provider_and_says_the_scenario_was_not_sent(talkifai_settings):
    async with Client(build_server(talkifai_settings), raise_exceptions=True) as client:
        placed, read = await place_and_follow(client, "+15551230000", scenario="order a large pizza")
    assert placed["provider"] == "talkifai" and placed["sandbox"] is True
    assert placed["note"] == SANDBOX_NOTE
    assert placed["status"] == "dialling" and placed["call_id"].startswith("call_")
    assert NOT_SENT in placed["message"] and "get_call" in placed["message"]
    assert read["status"] == "in_progress" and read["provider"] == "talkifai" and read["sandbox"] is True
    assert read["conversation_id"].startswith("outbound_agent_sandbox_voice_15551230000_")
    assert "local record" in read["error"] and "transcript" in read["error"]


async def test_unanswered_call_is_no_answer_not_a_tool_error_and_get_call_reports_it_failed(talkifai_settings):
    async with Client(build_server(talkifai_settings), raise_exceptions=True) as client:
        placed, read = await place_and_follow(client, "+15551230002")
        listed = await call(client, "list_calls")
    assert read["status"] == "failed" and "conversation_id" not in read
    [row] = listed.structured_content["calls"]
    assert row["call_id"] == placed["call_id"] and row["status"] == "no_answer" and row["provider"] == "talkifai"


async def test_place_call_answers_within_2_s_while_the_phone_rings_and_a_retry_sends_no_second_post(tmp_path):
    app = create_app(speed=1)  # real time: the callee picks up after 2 s
    settings = Settings(_env_file=None, caller_mcp_db=tmp_path / "db", caller_mcp_provider="talkifai")
    async with Client(build_server(settings, transport=httpx.ASGITransport(app=app)), raise_exceptions=True) as client:
        started = time.monotonic()
        placed = await call(client, "place_call", to_number="+15551230000", business_description=PIZZA)
        answered_in = time.monotonic() - started
        again = await call(client, "place_call", to_number="+15551230000", business_description=PIZZA)
        read = await call(client, "get_call", call_id=placed.structured_content["call_id"], wait_seconds=10)
    assert placed.structured_content["status"] == "dialling" and answered_in < 2
    assert again.structured_content["duplicate_of"] == placed.structured_content["call_id"]
    assert read.structured_content["status"] == "in_progress"
    assert app.state.sandbox.requests == 1


async def test_a_graceful_stop_waits_for_the_dial_and_its_outcome_survives_the_session(tmp_path):
    app = create_app(speed=20)  # the 60 s ring of an unanswered call takes 3 s
    settings = Settings(_env_file=None, caller_mcp_db=tmp_path / "db", caller_mcp_provider="talkifai")
    async with Client(build_server(settings, transport=httpx.ASGITransport(app=app)), raise_exceptions=True) as client:
        placed = await call(client, "place_call", to_number="+15551230002", business_description=PIZZA)
    call_id = placed.structured_content["call_id"]
    async with Client(build_server(settings), raise_exceptions=True) as client:
        read = await call(client, "get_call", call_id=call_id)
        listed = await call(client, "list_calls")
    assert read.structured_content["status"] == "failed"
    assert listed.structured_content["calls"][0]["status"] == "no_answer"


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
async def test_refused_and_busy_calls_are_recorded_failed_with_talkifais_words(talkifai_settings, number, said):
    async with Client(build_server(talkifai_settings), raise_exceptions=True) as client:
        _, read = await place_and_follow(client, number)
        listed = await call(client, "list_calls")
    assert read["status"] == "failed" and said in read["error"]
    [row] = listed.structured_content["calls"]
    assert row["status"] == "failed" and row["provider"] == "talkifai"


async def test_elevenlabs_answer_is_unchanged_by_the_talkifai_wording(tmp_path):
    settings = Settings(_env_file=None, caller_mcp_db=tmp_path / "db", caller_mcp_sandbox_speed=1000)
    async with Client(build_server(settings), raise_exceptions=True) as client:
        result = await call(client, "place_call", to_number="+15551230000", business_description=PIZZA)
    answer = result.structured_content
    assert answer["provider"] == "elevenlabs" and answer["status"] == "initiated"
    assert answer["message"] == "Call initiated."
