"""Fault injection through the MCP tool layer in real-provider mode.

Every fault a call-placing POST can meet, seen from the three places that matter: what the
model reads (the tool error), how many POSTs reached the provider (a call-placing POST may be
repeated only when it provably never arrived, or after a 429), and what the store recorded
(``failed`` = nothing was dialled, ``outcome_unknown`` = it may have been, ``initiated``).

The matrices use ``httpx.MockTransport``; the key cases run again against a real HTTP server on
127.0.0.1, so that timeouts, dropped connections and refused connections come from sockets, not
from exceptions the handler raises.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anyio
import httpx
import pytest

from mcp import Client

from caller_mcp.mcp.server import build_server
from caller_mcp.settings import Settings
from caller_mcp.store import SqliteStore

from tests.fakes import StubHTTP, real_settings

pytestmark = pytest.mark.anyio

KEY = "sk_live_FAULTS_0042"
PIZZA = "We are Pizza Palace, a pizzeria in Springfield."
TO_NUMBER = "+14155550123"
SCENARIO = "order a large pepperoni pizza for delivery"
CALL_PATH = "/v1/convai/twilio/outbound-call"
SUBMIT_PATH = "/v1/convai/batch-calling/submit"
CALL_OK = {"success": True, "message": "Outbound call initiated successfully.", "conversation_id": "conv_1", "callSid": "CA1"}
BATCH_OK = {
    "id": "btcal_1", "name": "faults", "agent_id": "agent_1", "status": "pending", "phone_provider": "twilio",
    "created_at_unix": 1767225600, "scheduled_time_unix": 1767225600, "total_calls_scheduled": 1,
    "total_calls_dispatched": 0, "last_updated_at_unix": 1767225600,
}
UNKNOWN = "may or may not have been placed"




def calls_in(db_path) -> list:
    store = SqliteStore(db_path)
    try:
        return store.list_calls()
    finally:
        store.close()


def batch_statuses(db_path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT status, error FROM batches ORDER BY created_at").fetchall()
    db.close()
    return rows


def call_statuses(db_path) -> list[str]:
    """The calls' statuses by plain SQL (opening a ``SqliteStore`` would run interrupted-request
    recovery, which must not touch rows of the server still running in this process)."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT status FROM calls ORDER BY created_at").fetchall()
    db.close()
    return [row[0] for row in rows]


# -- faults -------------------------------------------------------------------------------------


def error(status: int, code: str, message: str, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    """An ElevenLabs error answer: ``{"detail": {"status": code, "message": message}}``."""
    return lambda request: httpx.Response(
        status, json={"detail": {"status": code, "message": message}}, headers=headers
    )


def answer(status: int, **kwargs) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, **kwargs)


def raises(kind: type[httpx.TransportError], text: str) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise kind(text, request=request)

    return handler


@dataclass(frozen=True)
class Fault:
    """One injected fault and what must follow from it."""

    id: str
    respond: Callable[[httpx.Request], httpx.Response]
    fragment: str  # in the tool error text
    posts: int  # POSTs the provider sees
    status: str  # the store record's status


VALIDATION_422 = answer(
    422, json={"detail": [{"loc": ["body", "to_number"], "msg": "value is not a valid phone number", "type": "value_error"}]}
)
CALL_FAULTS = [
    Fault("401-invalid-api-key", error(401, "invalid_api_key", "Invalid API key"), "Check ELEVENLABS_API_KEY", 1, "failed"),
    Fault("403", error(403, "forbidden", "Not allowed for this agent"), "lacks permission", 1, "failed"),
    Fault("404", error(404, "not_found", "Agent agent_1 not found"), "Check ELEVENLABS_AGENT_ID", 1, "failed"),
    Fault("422", VALIDATION_422, "to_number: value is not a valid phone number", 1, "failed"),
    Fault(
        "429-rate-limit-retry-after-60",
        error(429, "rate_limit_exceeded", "Rate limit exceeded", **{"retry-after": "60"}),
        "The provider asks to wait 60 s",
        1,
        "failed",
    ),
    Fault(
        "429-concurrent-retry-after-1",
        error(429, "concurrent_limit_exceeded", "Too many concurrent calls", **{"retry-after": "1"}),
        "Too many calls are running at once",
        3,
        "failed",
    ),
    Fault("500", error(500, "internal_error", "Internal server error"), f"answered 500 (Internal server error) to a request that places calls: the call {UNKNOWN}", 1, "outcome_unknown"),
    Fault("502", answer(502, text="<html>502 Bad Gateway</html>"), "answered 502 (<html>502 Bad Gateway</html>)", 1, "outcome_unknown"),
    Fault("503-retry-after-1", answer(503, text="Service Unavailable", headers={"retry-after": "1"}), "answered 503", 1, "outcome_unknown"),
    Fault("connect-refused", raises(httpx.ConnectError, "[Errno 111] Connection refused"), "Could not reach ElevenLabs: ConnectError", 3, "failed"),
    Fault("read-timeout", raises(httpx.ReadTimeout, "timed out"), f"did not answer (ReadTimeout: timed out) after the request was sent: the call {UNKNOWN}", 1, "outcome_unknown"),
    Fault(
        "dropped-connection",
        raises(httpx.RemoteProtocolError, "Server disconnected without sending a response."),
        "did not answer (RemoteProtocolError",
        1,
        "outcome_unknown",
    ),
    Fault(
        "200-success-false",
        answer(200, json={"success": False, "message": "Phone number is not verified", "conversation_id": None, "callSid": None}),
        "could not place the call: Phone number is not verified",
        1,
        "failed",
    ),
    Fault("200-not-json", answer(200, text="<html>OK</html>"), f"answered 200 without a JSON body: the call {UNKNOWN}", 1, "outcome_unknown"),
]


class Provider:
    """A MockTransport handler that counts the call-placing POSTs and answers each with ``respond``."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response], path: str) -> None:
        self.respond = respond
        self.path = path
        self.posts: list[dict] = []
        self.others: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == self.path:
            assert request.headers["xi-api-key"] == KEY
            self.posts.append(json.loads(request.content))
            return self.respond(request)
        self.others.append(f"{request.method} {request.url.path}")
        return httpx.Response(500, text="unexpected request")


@pytest.mark.parametrize("fault", CALL_FAULTS, ids=lambda f: f.id)
async def test_place_call_fault_is_reported_counted_and_recorded(connect, db_path, fault):
    provider = Provider(fault.respond, CALL_PATH)
    async with connect(real_settings(db_path, KEY), transport=httpx.MockTransport(provider)) as client:
        result = await client.call_tool(
            "place_call", {"to_number": TO_NUMBER, "business_description": PIZZA, "scenario": SCENARIO}
        )
        listed = await client.call_tool("list_calls", {})
    text = result.content[0].text
    assert result.is_error, text
    assert fault.fragment in text
    assert KEY not in text
    assert len(provider.posts) == fault.posts
    assert provider.others == []
    assert all(body["to_number"] == TO_NUMBER for body in provider.posts)
    [record] = calls_in(db_path)
    assert (record.status, record.to_number, record.scenario) == (fault.status, TO_NUMBER, SCENARIO)
    assert record.error and fault.fragment.split(":")[0] in record.error
    assert [c["status"] for c in listed.structured_content["calls"]] == [fault.status]
    if fault.status == "outcome_unknown":  # the model is told where the record is and what to check
        assert f"recorded as call {record.call_id} with status outcome_unknown" in text
        assert "Check the provider's call history" in text


# The faults that mean the same for a batch submit as for a call, plus the batch's own.
BATCH_FAULTS = [
    fault
    for fault in CALL_FAULTS
    if fault.id
    in {
        "401-invalid-api-key", "429-rate-limit-retry-after-60", "500", "503-retry-after-1", "connect-refused",
        "read-timeout", "dropped-connection", "200-not-json",
    }
] + [
    Fault("422", answer(422, json={"detail": [{"loc": ["body", "recipients"], "msg": "too many recipients"}]}), "recipients: too many recipients", 1, "failed"),
    # a 200 means the batch was accepted: it may exist even without an id to show
    Fault("200-json-without-batch-id", answer(200, json={"status": "pending"}), "answer has no batch id", 1, "outcome_unknown"),
]


@pytest.mark.parametrize("fault", BATCH_FAULTS, ids=lambda f: f.id)
async def test_submit_batch_fault_is_reported_counted_and_recorded(connect, db_path, fault):
    provider = Provider(fault.respond, SUBMIT_PATH)
    async with connect(real_settings(db_path, KEY), transport=httpx.MockTransport(provider)) as client:
        result = await client.call_tool(
            "submit_batch", {"recipients": [TO_NUMBER, "+14155550124"], "business_description": PIZZA, "call_name": "faults"}
        )
    text = result.content[0].text
    assert result.is_error, text
    assert fault.fragment in text
    assert KEY not in text
    assert len(provider.posts) == fault.posts
    assert provider.others == []
    assert all(len(body["recipients"]) == 2 for body in provider.posts)
    [(status, error_text)] = batch_statuses(db_path)
    assert status == fault.status
    assert error_text
    if fault.status == "outcome_unknown":
        assert "recorded locally as batch_" in text and "Check the provider's batch list" in text


async def test_place_call_success_is_recorded_initiated_after_one_post(connect, db_path):
    provider = Provider(answer(200, json=CALL_OK), CALL_PATH)
    async with connect(real_settings(db_path, KEY), transport=httpx.MockTransport(provider)) as client:
        result = await client.call_tool("place_call", {"to_number": TO_NUMBER, "business_description": PIZZA})
    assert not result.is_error and result.structured_content["status"] == "initiated"
    assert len(provider.posts) == 1
    [record] = calls_in(db_path)
    assert (record.status, record.conversation_id, record.call_sid) == ("initiated", "conv_1", "CA1")


# -- a repeated place_call --------------------------------------------------------------------


class HangingProvider:
    """An async MockTransport handler: counts outbound-call POSTs and holds each until released."""

    def __init__(self, then: Callable[[httpx.Request], httpx.Response]) -> None:
        self.then = then
        self.posts = 0
        self.received = anyio.Event()
        self.release = anyio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", CALL_PATH)
        self.posts += 1
        self.received.set()
        await self.release.wait()
        return self.then(request)


async def _poll(predicate: Callable[[], bool], timeout: float = 10) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


ARGS = {"to_number": TO_NUMBER, "business_description": PIZZA, "scenario": SCENARIO}


async def test_place_call_repeated_after_client_timeout_is_not_dialled_again(connect, db_path):
    """The client gives up on a place_call whose POST hangs and cancels it; the model repeats it."""
    provider = HangingProvider(answer(200, json=CALL_OK))
    async with connect(real_settings(db_path, KEY), transport=httpx.MockTransport(provider)) as client:
        with pytest.raises(Exception, match="Timed out"):
            await client.call_tool("place_call", ARGS, read_timeout_seconds=0.5)
        assert provider.received.is_set()
        # The client's cancel reaches the server: the request may have been received, so unknown.
        await _poll(lambda: call_statuses(db_path) == ["outcome_unknown"])
        again = await client.call_tool("place_call", ARGS)
        provider.release.set()
    first = calls_in(db_path)
    assert not again.is_error, again.content[0].text
    assert again.structured_content["duplicate_of"] == first[0].call_id
    assert again.structured_content["status"] == "outcome_unknown"
    assert "Not dialled again" in again.structured_content["message"]
    assert provider.posts == 1
    assert [r.status for r in first] == ["outcome_unknown"]


@pytest.mark.parametrize(
    ("respond", "first_status"),
    [(answer(200, json=CALL_OK), "initiated"), (raises(httpx.ReadTimeout, "timed out"), "outcome_unknown")],
    ids=["after-initiated", "after-outcome-unknown"],
)
async def test_place_call_repeated_after_an_answer_returns_duplicate_of(connect, db_path, respond, first_status):
    provider = Provider(respond, CALL_PATH)
    async with connect(real_settings(db_path, KEY), transport=httpx.MockTransport(provider)) as client:
        first = await client.call_tool("place_call", ARGS)
        again = await client.call_tool("place_call", ARGS)
        redial = await client.call_tool("place_call", {**ARGS, "allow_redial": True})
    [_, original] = calls_in(db_path)  # the explicit redial is the newest
    assert first.is_error == (first_status == "outcome_unknown")
    assert original.status == first_status
    assert not again.is_error
    assert again.structured_content["duplicate_of"] == original.call_id
    assert again.structured_content["status"] == first_status
    assert redial.structured_content is None or redial.structured_content.get("duplicate_of") is None
    assert len(provider.posts) == 2  # the first call and the explicit redial; never the repeat


async def test_place_call_repeated_while_the_first_is_in_flight_is_not_dialled_again(connect, db_path):
    provider = HangingProvider(answer(200, json=CALL_OK))
    results: dict[str, object] = {}
    async with connect(real_settings(db_path, KEY), transport=httpx.MockTransport(provider)) as client:

        async def first() -> None:
            results["first"] = await client.call_tool("place_call", ARGS)

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            with anyio.fail_after(10):
                await provider.received.wait()
            results["again"] = await client.call_tool("place_call", ARGS)
            provider.release.set()
    again, original = results["again"], results["first"]
    assert not again.is_error and not original.is_error
    assert again.structured_content["duplicate_of"] == original.structured_content["call_id"]
    assert again.structured_content["status"] == "dialling"
    assert provider.posts == 1
    assert [r.status for r in calls_in(db_path)] == ["initiated"]


# -- against a real HTTP server on loopback ---------------------------------------------------


@pytest.fixture
def stub(monkeypatch) -> Iterator[Callable[..., StubHTTP]]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    started: list[StubHTTP] = []

    def make(mode: str, status: int = 200, body: object = b"", **headers: str) -> StubHTTP:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        server = StubHTTP(mode, status, raw, headers).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def on_network(settings: Settings) -> Client:
    """An in-memory client on a server whose provider uses the network (``connect`` would mount
    the sandbox when given no transport)."""
    return Client(build_server(settings), raise_exceptions=True)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STUB_CASES = [
    pytest.param(("answer", 200, CALL_OK), None, 1, "initiated", id="200-ok"),
    pytest.param(("answer", 401, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}), "(401)", 1, "failed", id="401"),
    pytest.param(("answer", 503, b"Service Unavailable"), "answered 503", 1, "outcome_unknown", id="503"),
    pytest.param(("hang",), "did not answer (ReadTimeout", 1, "outcome_unknown", id="read-timeout"),
    pytest.param(("drop",), "did not answer (RemoteProtocolError", 1, "outcome_unknown", id="dropped-connection"),
]


@pytest.mark.parametrize(("behaviour", "fragment", "posts", "status"), STUB_CASES)
async def test_place_call_against_a_loopback_server(db_path, stub, behaviour, fragment, posts, status):
    server = stub(*behaviour)
    settings = real_settings(db_path, KEY, elevenlabs_api_base=server.url, caller_mcp_read_timeout_secs=1)
    async with on_network(settings) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("place_call", ARGS)
    text = result.content[0].text
    assert result.is_error == (fragment is not None), text
    if fragment:
        assert fragment in text
    assert server.posts(CALL_PATH) == posts
    assert len(server.requests) == posts  # nothing else was asked
    assert json.loads(server.requests[0][2])["to_number"] == TO_NUMBER
    [record] = calls_in(db_path)
    assert record.status == status


async def test_place_call_to_a_refused_port_is_failed_after_three_tries(db_path, stub):
    settings = real_settings(db_path, KEY, elevenlabs_api_base=f"http://127.0.0.1:{closed_port()}")
    async with on_network(settings) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("place_call", ARGS)
    text = result.content[0].text
    assert result.is_error and "Could not reach ElevenLabs: ConnectError" in text
    [record] = calls_in(db_path)
    assert record.status == "failed"


@pytest.mark.parametrize(("mode", "fragment"), [("hang", "ReadTimeout"), ("drop", "RemoteProtocolError")])
async def test_submit_batch_against_a_loopback_server_is_outcome_unknown(db_path, stub, mode, fragment):
    server = stub(mode)
    settings = real_settings(db_path, KEY, elevenlabs_api_base=server.url, caller_mcp_read_timeout_secs=1)
    async with on_network(settings) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("submit_batch", {"recipients": [TO_NUMBER], "business_description": PIZZA})
    assert result.is_error and fragment in result.content[0].text
    assert server.posts(SUBMIT_PATH) == 1 and len(server.requests) == 1
    assert [status for status, _ in batch_statuses(db_path)] == ["outcome_unknown"]
