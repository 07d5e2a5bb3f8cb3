"""TalkifAI's batches, call reading and both providers in one server, through the in-memory MCP
client on the TalkifAI sandbox (a manual clock drives the batch; no sleeps)."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest
from mcp import Client

from caller_mcp.mcp.server import build_server
from caller_mcp.sandbox import ManualClock
from caller_mcp.sandbox import create_app as create_elevenlabs_app
from caller_mcp.sandbox.talkifai import create_app
from caller_mcp.settings import Settings
from tests.fakes import PIZZA

pytestmark = pytest.mark.anyio

NUMBERS = ["+15551230000", "+15551230001", "+15551230002", "+15551230003", "+15551230004"]


def text(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def call(client, name: str, **arguments):
    with anyio.fail_after(10):
        return await client.call_tool(name, arguments)


async def ok(client, name: str, **arguments) -> dict:
    result = await call(client, name, **arguments)
    assert not result.is_error, text(result)
    return result.structured_content


@pytest.fixture
def clock() -> ManualClock:
    """Starts at the real time: a scheduled start must be in the future of the server's clock too."""
    return ManualClock(start=float(int(time.time())))


@pytest.fixture
def sandbox(clock):
    async def ring(secs: float) -> None:  # the blocking outbound call rings in sandbox time
        clock.advance(secs)

    return create_app(clock=clock, sleep=ring)


@pytest.fixture
def talkifai(tmp_path, sandbox):
    settings = Settings(_env_file=None, caller_mcp_db=tmp_path / "db", caller_mcp_provider="talkifai")

    def connect():
        return Client(build_server(settings, transport=httpx.ASGITransport(app=sandbox)), raise_exceptions=True)

    return connect


async def test_a_talkifai_batch_is_submitted_with_its_estimate_followed_to_the_end_and_its_calls_recorded(talkifai, sandbox, clock):
    async with talkifai() as client:
        submitted = await ok(client, "submit_batch", recipients=NUMBERS, business_description=PIZZA, call_name="Checks")
        assert submitted["provider"] == "talkifai" and submitted["sandbox"] is True
        assert submitted["status"] == "in_progress" and submitted["total_calls_scheduled"] == 5
        assert submitted["estimate"] == "The provider estimates cost $1.09 and duration 3 minutes."
        assert "not sent to talkifai's agent" in submitted["message"]
        [job] = sandbox.state.sandbox.jobs.values()
        assert job.max_attempts == 1 and job.concurrency == 5  # TalkifAI never redials unless told to

        clock.advance(100)
        status = await ok(client, "get_batch_status", batch_id=submitted["batch_id"])
        assert status["status"] == "completed" and status["progress"] == 1
        assert status["counts"] == {"completed": 2, "failed": 3}
        assert status["provider_counts"] == {"completed": 2, "no_answer": 1, "busy": 1, "failed": 1}
        by_number = {r["phone_number"]: r for r in status["recipients"]}
        assert by_number["+15551230002"]["provider_status"] == "no_answer" and by_number["+15551230002"]["status"] == "failed"
        assert by_number["+15551230003"]["error"] == "Line busy"
        assert by_number["+15551230000"]["duration_secs"] == 8 and "duration_secs" not in by_number["+15551230002"]
        assert "provider_status" not in by_number["+15551230000"]  # the same word as ours

        history = (await ok(client, "list_calls", limit=50))["calls"]
        assert {c["to_number"] for c in history} == set(NUMBERS)
        assert {c["provider"] for c in history} == {"talkifai"}

        room = by_number["+15551230000"]["conversation_id"]
        detail = await ok(client, "get_call", call_id=room)
        assert detail["batch_id"] == submitted["batch_id"] and detail["status"] == "done"
        assert "reads calls only by a callId" in detail["error"] and "Not known" in detail["error"]

        listed = (await ok(client, "list_batches"))["batches"]
        assert [(b["batch_id"], b["submitted_here"], b["provider"]) for b in listed] == [
            (submitted["batch_id"], True, "talkifai")
        ]


async def test_a_batch_dry_run_shows_talkifais_json_request_and_sends_nothing(talkifai, sandbox):
    async with talkifai() as client:
        answer = await ok(client, "submit_batch", recipients=NUMBERS, business_description=PIZZA, dry_run=True)
    request = answer["request"]
    assert request["url"].endswith("/batch/create") and request["headers"] == {"authorization": "Bearer ***"}
    assert request["body"]["fromPhoneNumberId"] == "phone_sandbox_0100"
    assert request["body"]["contacts"] == [{"phone": n} for n in NUMBERS[:3]] and request["recipients_not_shown"] == 2
    assert sandbox.state.sandbox.jobs == {}


async def test_a_scheduled_talkifai_batch_can_be_cancelled_and_then_not_again(talkifai, clock):
    async with talkifai() as client:
        submitted = await ok(
            client, "submit_batch", recipients=NUMBERS[:2], business_description=PIZZA, scheduled_time_unix=int(clock.now) + 3600
        )
        assert submitted["status"] == "pending" and submitted["scheduled_time_unix"] == int(clock.now) + 3600
        cancelled = await ok(client, "cancel_batch", batch_id=submitted["batch_id"])
        again = await call(client, "cancel_batch", batch_id=submitted["batch_id"])
        status = await ok(client, "get_batch_status", batch_id=submitted["batch_id"])
    assert cancelled["status"] == "cancelled" and cancelled["provider"] == "talkifai"
    assert again.is_error and "Cannot cancel job in 'cancelled' status" in text(again)
    assert status["counts"] == {"cancelled": 2}


async def test_retry_batch_on_talkifai_is_not_supported_and_says_what_to_do_instead(talkifai, clock):
    async with talkifai() as client:
        submitted = await ok(client, "submit_batch", recipients=NUMBERS[2:4], business_description=PIZZA)
        clock.advance(100)
        result = await call(client, "retry_batch", batch_id=submitted["batch_id"])
    assert result.is_error
    assert "talkifai provider does not support retrying a batch's failed recipients" in text(result)
    assert "TALKIFAI_BATCH_MAX_ATTEMPTS" in text(result) and "status=failed" in text(result)


async def test_get_call_reads_a_talkifai_call_by_the_call_id_a_webhook_would_give(talkifai, sandbox, clock):
    async with talkifai() as client:
        placed = await ok(client, "place_call", to_number="+15551230000", business_description=PIZZA)
        followed = await ok(client, "get_call", call_id=placed["call_id"], wait_seconds=5)
        assert followed["status"] == "in_progress" and "room name" in followed["error"]
        [session] = sandbox.state.sandbox.calls.values()  # the callId TalkifAI sends in call.ended
        clock.advance(60)
        read = await ok(client, "get_call", call_id=session.call_id)
        unknown = await call(client, "get_call", call_id="call_unknown123")
    assert read["conversation_id"] == session.call_id and read["provider"] == "talkifai"
    assert read["status"] == "done" and read["provider_status"] == "completed" and read["duration_secs"] == 8
    assert read["recording_url"].endswith(f"{session.call_id}.mp3")
    assert [t["role"] for t in read["transcript"]] == ["business", "caller", "business", "caller"]
    assert read["untrusted"]
    assert unknown.is_error and "No conversation call_unknown123 exists for this talkifai account" in text(unknown)


async def test_both_providers_serve_one_server_each_answer_naming_its_own(tmp_path):
    settings = Settings(_env_file=None, caller_mcp_db=tmp_path / "db", caller_mcp_sandbox_speed=1000)
    async with Client(build_server(settings), raise_exceptions=True) as client:
        eleven = await ok(client, "place_call", to_number="+15551230000", business_description=PIZZA)
        talk = await ok(client, "place_call", to_number="+15551230000", business_description=PIZZA, provider="talkifai")
        followed = await ok(client, "get_call", call_id=talk["call_id"], wait_seconds=5)
        batch = await ok(client, "submit_batch", recipients=NUMBERS[:2], business_description=PIZZA, provider="talkifai")
        status = await ok(client, "get_batch_status", batch_id=batch["batch_id"])  # no provider: the store knows
        history = (await ok(client, "list_calls"))["calls"]
        bad = await call(client, "place_call", to_number="+15551230000", business_description=PIZZA, provider="twilio")
    assert eleven["provider"] == "elevenlabs" and eleven["status"] == "initiated"
    # The redial guard is the same store for both: a second provider is not a second chance.
    assert talk["provider"] == "elevenlabs" and talk["duplicate_of"] == eleven["call_id"]
    assert followed["provider"] == "elevenlabs"
    assert batch["provider"] == "talkifai" and status["provider"] == "talkifai"
    assert {(c["provider"], c["to_number"]) for c in history} >= {("elevenlabs", "+15551230000")}
    assert bad.is_error


async def test_a_named_provider_places_its_own_call_when_the_guard_allows(tmp_path):
    settings = Settings(_env_file=None, caller_mcp_db=tmp_path / "db", caller_mcp_sandbox_speed=1000)
    async with Client(build_server(settings), raise_exceptions=True) as client:
        eleven = await ok(client, "place_call", to_number="+15551230000", business_description=PIZZA)
        talk = await ok(
            client, "place_call", to_number="+15551230000", business_description=PIZZA, provider="talkifai", allow_redial=True
        )
        followed = await ok(client, "get_call", call_id=talk["call_id"], wait_seconds=5)
        history = (await ok(client, "list_calls"))["calls"]
    assert talk["provider"] == "talkifai" and talk["status"] == "dialling"
    assert followed["provider"] == "talkifai" and followed["status"] == "in_progress"
    assert {(c["call_id"], c["provider"]) for c in history} == {(eleven["call_id"], "elevenlabs"), (talk["call_id"], "talkifai")}


async def test_an_unconfigured_second_provider_is_refused_when_the_default_places_real_calls(tmp_path):
    settings = Settings(
        _env_file=None, caller_mcp_db=tmp_path / "db", elevenlabs_api_key="sandbox", elevenlabs_agent_id="agent_sandbox",
        elevenlabs_agent_phone_number_id="phnum_sandbox_twilio", elevenlabs_phone_provider="twilio",
    )
    app = create_elevenlabs_app()
    async with Client(build_server(settings, transport=httpx.ASGITransport(app=app)), raise_exceptions=True) as client:
        result = await call(client, "place_call", to_number="+15551230000", business_description=PIZZA, provider="talkifai")
    assert result.is_error and "talkifai provider is not configured" in text(result)
    assert "elevenlabs places real calls" in text(result)
