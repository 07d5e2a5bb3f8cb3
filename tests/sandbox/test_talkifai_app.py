"""The TalkifAI emulator (seed 004's flow) on a manual clock: the ring is waited in sandbox
seconds, and the magic last four digits choose the outcome."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from caller_mcp.domain.calls import CallRequest
from caller_mcp.domain.script import build_script
from caller_mcp.errors import ProviderStatusError
from caller_mcp.providers.talkifai import TalkifaiProvider
from caller_mcp.providers.talkifai.config import (
    SANDBOX_AGENT_ID,
    SANDBOX_API_BASE,
    SANDBOX_API_KEY,
    SANDBOX_FROM_NUMBER,
    resolve,
)
from caller_mcp.sandbox import ManualClock
from caller_mcp.sandbox.talkifai import create_app
from caller_mcp.settings import SANDBOX_NOTE, Settings

pytestmark = pytest.mark.anyio

PATH = "/telephony/outbound-call"
AUTH = {"authorization": f"Bearer {SANDBOX_API_KEY}"}


class Ringing:
    """A manual sandbox clock whose ``sleep`` advances it: the ring costs no real time."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.waits: list[float] = []

    async def sleep(self, secs: float) -> None:
        self.waits.append(secs)
        self.clock.advance(secs)


@pytest.fixture
def ringing() -> Ringing:
    return Ringing()


@pytest.fixture
async def api(ringing):
    app = create_app(clock=ringing.clock, sleep=ringing.sleep)
    async with httpx.AsyncClient(base_url=SANDBOX_API_BASE, transport=httpx.ASGITransport(app=app)) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


def query(to_number: str, from_number: str = SANDBOX_FROM_NUMBER) -> dict[str, str]:
    return {"to_number": to_number, "from_number": from_number}


async def test_answered_call_has_every_seed_field_after_ringing(api, ringing):
    start = ringing.clock()
    answer = await api.post(PATH, params=query("+15551230000"), headers=AUTH)
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is True and body["message"] == "Call initiated successfully"
    assert body["agent"]["id"] == SANDBOX_AGENT_ID and body["agent"]["name"]
    assert body["from_number"] == SANDBOX_FROM_NUMBER and body["to_number"] == "+15551230000"
    assert body["room_name"] == f"outbound_{SANDBOX_AGENT_ID}_15551230000_{int(start)}"
    assert body["sandbox"]["note"] == SANDBOX_NOTE
    assert ringing.waits == [2.0]


async def test_room_names_stay_unique_within_one_second(api):
    first = (await api.post(PATH, params=query("+15551230000"), headers=AUTH)).json()["room_name"]
    api.app.state.sandbox.clock.now -= 2  # same start second again
    second = (await api.post(PATH, params=query("+15551230000"), headers=AUTH)).json()["room_name"]
    assert first != second


async def test_voicemail_picks_up_after_a_longer_ring(api, ringing):
    answer = await api.post(PATH, params=query("+15551230001"), headers=AUTH)
    assert answer.status_code == 200 and answer.json()["success"] is True
    assert ringing.waits == [4.0]


async def test_no_answer_is_408_after_60_sandbox_seconds(api, ringing):
    answer = await api.post(PATH, params=query("+15551230002"), headers=AUTH)
    assert answer.status_code == 408
    assert answer.json()["detail"] == "Call timed out (no answer)"
    assert ringing.waits == [60.0]


async def test_busy_line_is_a_failed_call(api, ringing):
    answer = await api.post(PATH, params=query("+15551230003"), headers=AUTH)
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is False and "busy" in body["message"]
    assert ringing.waits == [1.0]


async def test_refusal_is_the_text_only_agent_400_without_ringing(api, ringing):
    answer = await api.post(PATH, params=query("+15551230004"), headers=AUTH)
    assert answer.status_code == 400
    assert "is a text-only agent and cannot make voice calls" in answer.json()["detail"]
    assert ringing.waits == []


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": SANDBOX_API_KEY}])
async def test_missing_or_wrong_bearer_is_401_in_the_introductions_envelope(api, headers):
    answer = await api.post(PATH, params=query("+15551230000"), headers=headers)
    assert answer.status_code == 401
    body = answer.json()
    assert body["success"] is False and body["error"] and body["code"] == "UNAUTHORIZED"


async def test_unknown_from_number_is_404(api):
    answer = await api.post(PATH, params=query("+15551230000", "+15559999999"), headers=AUTH)
    assert answer.status_code == 404
    assert answer.json()["detail"] == "Phone number +15559999999 not found or has no outbound agent assigned"


@pytest.mark.parametrize("numbers", [("2025550123", SANDBOX_FROM_NUMBER), ("+15551230000", "1-202-555-0123")])
async def test_non_e164_number_is_400(api, numbers):
    answer = await api.post(PATH, params=query(*numbers), headers=AUTH)
    assert answer.status_code == 400 and answer.json()["detail"] == "Invalid phone number format"


async def test_missing_query_parameter_is_422(api):
    answer = await api.post(PATH, params={"to_number": "+15551230000"}, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "from_number"]


async def test_default_ring_is_real_time_divided_by_the_speed():
    app = create_app(speed=200)
    async with httpx.AsyncClient(base_url=SANDBOX_API_BASE, transport=httpx.ASGITransport(app=app)) as client:
        started = time.monotonic()
        with anyio.fail_after(5):
            answer = await client.post(PATH, params=query("+15551230002"), headers=AUTH)
        elapsed = time.monotonic() - started
    assert answer.status_code == 408
    assert 0.25 <= elapsed < 3  # 60 sandbox seconds at 200x is 0.3 s


async def test_the_provider_reads_every_sandbox_outcome(ringing):
    app = create_app(clock=ringing.clock, sleep=ringing.sleep)
    config = resolve(Settings(_env_file=None))
    client = httpx.AsyncClient(base_url=config.api_base, transport=httpx.ASGITransport(app=app))
    provider = TalkifaiProvider(config, client)
    script = build_script("A pizza place.", "order a pizza")
    try:
        answered = await provider.place_call(CallRequest("+15551230000", script))
        assert answered.status == "answered" and app.state.sandbox.by_room(answered.provider_ref) is not None
        unanswered = await provider.place_call(CallRequest("+15551230002", script))
        assert unanswered.status == "no_answer"
        with pytest.raises(ProviderStatusError, match="busy"):
            await provider.place_call(CallRequest("+15551230003", script))
        with pytest.raises(ProviderStatusError, match="Pipeline or Realtime"):
            await provider.place_call(CallRequest("+15551230004", script))
    finally:
        await provider.aclose()
    assert app.state.sandbox.requests == 4


def test_cli_serves_the_talkifai_emulator(monkeypatch):
    import uvicorn

    from caller_mcp import cli

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, **options))
    assert cli.main(["sandbox-api", "--provider", "talkifai", "--port", "9999", "--speed", "10"]) == 0
    routes = [route.path for route in served["app"].routes]
    assert routes == [
        PATH, "/calls/{call_id}", "/calls/{call_id}/transcript", "/batch/create", "/batch/jobs",
        "/batch/jobs/{job_id}", "/batch/jobs/{job_id}/cancel",
    ]
    assert served["port"] == 9999 and served["host"] == "127.0.0.1"
    assert served["app"].state.sandbox.api_key == SANDBOX_API_KEY


async def test_the_emulators_webhooks_name_the_call_id_its_calls_endpoint_reads(api, ringing):
    import json

    from caller_mcp.sandbox.webhooks import talkifai_sender

    placed = await api.post(PATH, params=query("+15551230000"), headers=AUTH)
    failed = await api.post(PATH, params=query("+15551230002"), headers=AUTH)
    assert (placed.status_code, failed.status_code) == (200, 408)
    ringing.clock.advance(60)
    sender = talkifai_sender(api.app, "http://127.0.0.1:9", "whsec")  # type: ignore[attr-defined]
    events = [json.loads(body) for _, body, _ in sender._due(ringing.clock())]
    kinds = {(e["type"], e["data"]["callId"]) for e in events}
    [answered] = [c for c in api.app.state.sandbox.calls.values() if c.to_number == "+15551230000"]  # type: ignore[attr-defined]
    [unanswered] = [c for c in api.app.state.sandbox.calls.values() if c.to_number == "+15551230002"]  # type: ignore[attr-defined]
    assert {("call.started", answered.call_id), ("call.ended", answered.call_id), ("call.failed", unanswered.call_id)} <= kinds
    session = (await api.get(f"/calls/{answered.call_id}", headers=AUTH)).json()["data"]
    ended = next(e for e in events if e["type"] == "call.ended")
    assert session["duration"] == ended["data"]["duration"] == 8 and session["status"] == "completed"
