"""The emulators' signed webhooks: the whole push path with no account, for both providers."""

from __future__ import annotations

import httpx
import pytest

from caller_mcp.sandbox import create_app as elevenlabs_app
from caller_mcp.sandbox.talkifai import create_app as talkifai_app
from caller_mcp.sandbox.webhooks import elevenlabs_sender, talkifai_sender
from caller_mcp.settings import Settings
from caller_mcp.web.app import _sandbox_senders, create_app
from tests.fakes import PIZZA
from tests.web.conftest import mcp_client, serving
from tests.web.test_webhooks import SECRET, stored

pytestmark = pytest.mark.anyio


async def test_the_elevenlabs_sandbox_pushes_each_ended_call_once(db_path, clock):
    emulator = elevenlabs_app(clock=clock)
    settings = Settings(_env_file=None, caller_mcp_db=db_path, elevenlabs_webhook_secret=SECRET)
    senders = {}

    def make(port):
        senders["eleven"] = elevenlabs_sender(emulator, f"http://127.0.0.1:{port}", SECRET)
        return create_app(settings, port=port, transport=httpx.ASGITransport(app=emulator))

    with serving(make) as url:
        async with mcp_client(url) as client:
            done = await client.call_tool("place_call", {"to_number": "+15551230000", "business_description": PIZZA})
            busy = await client.call_tool("place_call", {"to_number": "+15551230003", "business_description": PIZZA})
            sender = senders["eleven"]
            assert await sender.send_due() == 0  # nothing has ended yet
            clock.advance(3600)
            assert await sender.send_due() == 2
            assert await sender.send_due() == 0  # each event once
            listed = {c["call_id"]: c["status"] for c in (await client.call_tool("list_calls", {})).structured_content["calls"]}
    assert listed[done.structured_content["call_id"]] == "done"
    assert listed[busy.structured_content["call_id"]] == "failed"
    assert stored(db_path, done.structured_content["call_id"]).report_json is not None  # set only by the push


async def test_the_talkifai_sandbox_pushes_started_ended_and_analysis(db_path, clock):
    async def no_ring(secs: float) -> None:
        clock.advance(secs)

    emulator = talkifai_app(clock=clock, sleep=no_ring)
    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_provider="talkifai", talkifai_webhook_secret=SECRET)
    senders = {}

    def make(port):
        senders["talk"] = talkifai_sender(emulator, f"http://127.0.0.1:{port}", SECRET)
        return create_app(settings, port=port, transport=httpx.ASGITransport(app=emulator))

    with serving(make) as url:
        async with mcp_client(url) as client:
            placed = await client.call_tool("place_call", {"to_number": "+15551230000", "business_description": PIZZA})
            call_id = placed.structured_content["call_id"]
            await client.call_tool("get_call", {"call_id": call_id, "wait_seconds": 5})  # the dial lands
            sender = senders["talk"]
            assert await sender.send_due() == 1  # call.started: it names the callId
            during = (await client.call_tool("get_call", {"call_id": call_id})).structured_content
            clock.advance(60)
            assert await sender.send_due() == 2  # call.ended, analysis.completed
            read = (await client.call_tool("get_call", {"call_id": call_id})).structured_content
    # Once the callId is known the call is read from GET /calls/{callId} (the transcript so far).
    [emulated] = emulator.state.sandbox.calls.values()
    assert during["conversation_id"] == emulated.call_id and during["status"] == "in_progress"
    assert "error" not in during  # read, not the local record with its "cannot be asked" note
    assert read["status"] == "done" and read["duration_secs"] == 8  # the emulator's own talk time
    assert read["summary"].startswith("Sandbox call to +15551230000")


def test_serve_runs_the_in_process_sandboxes_senders_once_a_secret_is_set(db_path):
    settings = Settings(_env_file=None, caller_mcp_db=db_path, elevenlabs_webhook_secret=SECRET)
    web = create_app(settings, port=8123)
    [sender] = _sandbox_senders(web.services)
    assert sender.target == "http://127.0.0.1:8123/webhooks/elevenlabs"
    assert _sandbox_senders(create_app(Settings(_env_file=None, caller_mcp_db=db_path), port=8124).services) == []
