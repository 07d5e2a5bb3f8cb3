"""Webhooks over HTTP for both providers: good, bad, stale and replayed deliveries, and a
get_call waiting on a call that a webhook wakes, answering at once without polling."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import anyio
import httpx
import pytest

from caller_mcp.providers.elevenlabs.webhooks import sign as eleven_sign
from caller_mcp.providers.talkifai.webhooks import sign as talk_sign
from caller_mcp.sandbox.talkifai import create_app as talkifai_app
from caller_mcp.settings import Settings
from caller_mcp.store import SqliteStore
from caller_mcp.web.app import create_app
from tests.fakes import PIZZA

from .conftest import mcp_client, serving

pytestmark = pytest.mark.anyio
SECRET = "whsec_team_secret"


@pytest.fixture
def hook_settings(db_path) -> Settings:
    return Settings(
        _env_file=None, caller_mcp_db=db_path, elevenlabs_webhook_secret=SECRET, talkifai_webhook_secret=SECRET
    )


def eleven_delivery(data: dict, kind: str = "post_call_transcription", t: int | None = None, secret: str = SECRET):
    body = json.dumps({"type": kind, "event_timestamp": int(time.time()), "data": data}).encode()
    return body, {"ElevenLabs-Signature": eleven_sign(body, secret, t or int(time.time())), "content-type": "application/json"}


def talk_delivery(kind: str, event_id: str, data: dict, created: float | None = None, secret: str = SECRET):
    stamp = datetime.fromtimestamp(created or time.time(), timezone.utc).isoformat().replace("+00:00", "Z")
    body = json.dumps({"id": event_id, "type": kind, "created": stamp, "data": data}).encode()
    return body, {"X-TalkifAI-Signature": talk_sign(body, secret), "content-type": "application/json"}


def stored(db_path, call_id):
    store = SqliteStore(db_path)
    try:
        return store.get_call(call_id)
    finally:
        store.close()


async def test_an_elevenlabs_webhook_wakes_a_waiting_get_call_which_answers_without_polling(
    hook_settings, build_web, sandbox_app, clock, db_path
):
    sandbox = sandbox_app.state.sandbox
    with serving(build_web(hook_settings)) as url:
        async with mcp_client(url) as client, httpx.AsyncClient() as http:
            placed = await client.call_tool("place_call", {"to_number": "+15551230000", "business_description": PIZZA})
            call_id, conversation_id = placed.structured_content["call_id"], placed.structured_content["conversation_id"]
            done = sandbox.calls[conversation_id].conversation(clock() + 3600)  # what the call will have said
            answers = []

            async def wait_for_it():
                answers.append(await client.call_tool("get_call", {"call_id": call_id, "wait_seconds": 50}))

            with anyio.fail_after(20):  # the sandbox's clock stands still: only the push can end the wait
                async with anyio.create_task_group() as tg:
                    tg.start_soon(wait_for_it)
                    await anyio.wait_all_tasks_blocked()
                    body, headers = eleven_delivery(done)
                    delivered = await http.post(url + "/webhooks/elevenlabs", content=body, headers=headers)
                    replayed = await http.post(url + "/webhooks/elevenlabs", content=body, headers=headers)
            listed = await client.call_tool("list_calls", {})
    assert delivered.status_code == 200 and delivered.json() == {
        "ok": True, "result": "applied", "event": "post_call_transcription", "call_id": call_id,
    }
    assert replayed.status_code == 200 and replayed.json()["result"] == "replay"
    assert not answers[0].is_error, answers[0].content
    answer = answers[0].structured_content
    assert answer["status"] == "done" and answer["waited_secs"] < 20
    assert answer["transcript"] and answer["summary"] and answer["cost"] == done["metadata"]["cost"]
    assert listed.structured_content["calls"][0]["status"] == "done"
    assert stored(db_path, call_id).duration_secs == done["metadata"]["call_duration_secs"]


async def test_a_bad_or_stale_elevenlabs_signature_is_401_and_stores_nothing(hook_settings, build_web, sandbox_app, clock, db_path):
    sandbox = sandbox_app.state.sandbox
    with serving(build_web(hook_settings)) as url:
        async with mcp_client(url) as client, httpx.AsyncClient() as http:
            placed = await client.call_tool("place_call", {"to_number": "+15551230000", "business_description": PIZZA})
            call_id, conversation_id = placed.structured_content["call_id"], placed.structured_content["conversation_id"]
            done = sandbox.calls[conversation_id].conversation(clock() + 3600)
            wrong = await http.post(url + "/webhooks/elevenlabs", content=eleven_delivery(done, secret="nope")[0],
                                    headers=eleven_delivery(done, secret="nope")[1])
            stale_body, stale_headers = eleven_delivery(done, t=int(time.time()) - 31 * 60)
            stale = await http.post(url + "/webhooks/elevenlabs", content=stale_body, headers=stale_headers)
            unsigned = await http.post(url + "/webhooks/elevenlabs", content=stale_body)
            big = await http.post(url + "/webhooks/elevenlabs", content=b"x" * (3 * 1024 * 1024), headers=stale_headers)
            garbled_body = b"not json"
            garbled = await http.post(
                url + "/webhooks/elevenlabs", content=garbled_body,
                headers={"ElevenLabs-Signature": eleven_sign(garbled_body, SECRET, int(time.time()))},
            )
    assert [wrong.status_code, stale.status_code, unsigned.status_code] == [401, 401, 401]
    assert big.status_code == 413 and garbled.status_code == 400
    record = stored(db_path, call_id)
    assert record.report_json is None and record.status == "initiated"


async def test_talkifai_events_bind_to_the_call_placed_here_and_wake_get_call(db_path, clock):
    async def no_ring(secs: float) -> None:
        clock.advance(secs)

    emulator = talkifai_app(clock=clock, sleep=no_ring)
    settings = Settings(
        _env_file=None, caller_mcp_db=db_path, caller_mcp_provider="talkifai", talkifai_webhook_secret=SECRET
    )
    make = lambda port: create_app(settings, port=port, transport=httpx.ASGITransport(app=emulator))  # noqa: E731
    number = "+15551230000"
    with serving(make) as url:
        async with mcp_client(url) as client, httpx.AsyncClient() as http:
            placed = await client.call_tool("place_call", {"to_number": number, "business_description": PIZZA})
            call_id = placed.structured_content["call_id"]
            first = await client.call_tool("get_call", {"call_id": call_id, "wait_seconds": 5})  # the dial lands
            answers = []

            async def wait_for_it():
                answers.append(await client.call_tool("get_call", {"call_id": call_id, "wait_seconds": 50}))

            async def post(kind, event_id, data, **kw):
                body, headers = talk_delivery(kind, event_id, data, **kw)
                return await http.post(url + "/webhooks/talkifai", content=body, headers=headers)

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(wait_for_it)
                    await anyio.wait_all_tasks_blocked()
                    started = await post("call.started", "evt_1", {"callId": "call_tk1", "to": number, "direction": "outbound"})
                    stale = await post("call.ended", "evt_old", {"callId": "call_tk1", "duration": 1}, created=time.time() - 7200)
                    forged = await http.post(
                        url + "/webhooks/talkifai", content=talk_delivery("call.ended", "evt_x", {"callId": "call_tk1"})[0],
                        headers={"X-TalkifAI-Signature": "sha256=" + "0" * 64},
                    )
                    ended = await post("call.ended", "evt_2", {"callId": "call_tk1", "duration": 42, "status": "completed",
                                                               "endReason": "user_hangup"})
                    replay = await post("call.ended", "evt_2", {"callId": "call_tk1", "duration": 42, "status": "completed"})
            analysis = await post("analysis.completed", "evt_3", {"callId": "call_tk1", "analysisData": {"call_summary": "Ordered a pizza."}})
            later = await client.call_tool("get_call", {"call_id": call_id})
            unknown = await post("call.ended", "evt_4", {"callId": "call_other", "duration": 3})
    assert first.structured_content["status"] == "in_progress"
    assert started.json()["result"] == "applied" and started.json()["call_id"] == call_id
    assert stale.status_code == 401 and forged.status_code == 401
    assert ended.json()["result"] == "applied" and replay.json()["result"] == "replay"
    assert not answers[0].is_error, answers[0].content
    answer = answers[0].structured_content
    assert answer["status"] == "done" and answer["duration_secs"] == 42 and answer["termination_reason"] == "user_hangup"
    assert analysis.json()["result"] == "applied"
    assert later.structured_content["summary"] == "Ordered a pizza." and later.structured_content["duration_secs"] == 42
    assert unknown.json()["result"] == "unknown"
    assert stored(db_path, call_id).provider_call_id == "call_tk1"


async def test_a_provider_without_a_secret_answers_404(settings, build_web):
    with serving(build_web(settings)) as url:
        async with httpx.AsyncClient() as http:
            answer = await http.post(url + "/webhooks/talkifai", content=b"{}")
    assert answer.status_code == 404 and "TALKIFAI_WEBHOOK_SECRET" in answer.json()["error"]
