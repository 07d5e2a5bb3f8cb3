"""``caller_mcp.providers.http``: reading a provider's error body, whatever shape it has."""

from __future__ import annotations

import json
import threading

import httpx
import orjson
import pytest

from caller_mcp.providers.http import (
    MAX_DETAIL_CHARS,
    OFF_LOOP_BYTES,
    HttpApi,
    JsonPieces,
    decode_json,
    detail_of,
    status_error,
)

SECRET = "sk_test_SECRET_123"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        pytest.param(
            401,
            {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}},
            ("Invalid API key", "invalid_api_key"),
            id="elevenlabs-detail-object",
        ),
        pytest.param(
            422,
            {"detail": [{"loc": ["body", "to_number"], "msg": "value is not a valid phone number"}]},
            ("to_number: value is not a valid phone number", None),
            id="validation-list",
        ),
        pytest.param(404, {"detail": "Agent not found"}, ("Agent not found", None), id="talkifai-detail-string"),
        pytest.param(
            400,
            {"success": False, "error": "Insufficient balance", "code": "INSUFFICIENT_BALANCE"},
            ("Insufficient balance", "INSUFFICIENT_BALANCE"),
            id="talkifai-success-false-error-code",
        ),
        pytest.param(
            400, {"success": False, "error": "Bad request"}, ("Bad request", None), id="talkifai-error-without-code"
        ),
    ],
)
def test_detail_of_reads_every_documented_error_body(status, body, expected):
    assert detail_of(httpx.Response(status, json=body)) == expected


def test_detail_of_quotes_a_body_that_is_not_json():
    assert detail_of(httpx.Response(502, text="  Bad Gateway  ")) == ("Bad Gateway", None)
    assert detail_of(httpx.Response(503, text="")) == ("Service Unavailable", None)


@pytest.mark.parametrize(
    "body",
    [
        {"detail": {"status": "invalid_api_key", "message": f"Key {SECRET} is not valid"}},
        {"detail": f"Key {SECRET} is not valid"},
        {"success": False, "error": f"Key {SECRET} is not valid", "code": "UNAUTHORIZED"},
    ],
    ids=["elevenlabs", "talkifai-detail", "talkifai-error"],
)
def test_detail_of_masks_an_echoed_secret_in_every_body_shape(body):
    message, _ = detail_of(httpx.Response(401, json=body), SECRET)
    assert message == "Key *** is not valid"


def test_detail_of_masks_before_cutting_to_max_detail_chars():
    # The key straddles the cut: masking after cutting would leave a prefix of it in the message.
    text = "x" * (MAX_DETAIL_CHARS - 5) + SECRET + "y" * 50
    message, _ = detail_of(httpx.Response(400, json={"detail": text}), SECRET)
    assert len(message) == MAX_DETAIL_CHARS
    assert SECRET[:5] not in message
    assert message == ("x" * (MAX_DETAIL_CHARS - 5) + "***" + "y" * 50)[:MAX_DETAIL_CHARS]


@pytest.mark.parametrize(
    "body",
    [{"detail": "Agent not found"}, {"success": False, "error": "Agent not found", "code": "AGENT_NOT_FOUND"}],
    ids=["talkifai-detail", "talkifai-error"],
)
def test_status_error_quotes_a_talkifai_body(body):
    exc = status_error(httpx.Response(404, json=body, headers={"x-request-id": "req_7"}), "TalkifAI", {404: "Check the agent id."})
    assert str(exc) == "TalkifAI API error (404): Agent not found. Check the agent id."
    assert (exc.status, exc.detail, exc.request_id) == (404, "Agent not found", "req_7")
    assert exc.code == body.get("code")


@pytest.mark.anyio
async def test_a_large_answer_is_decoded_and_parsed_off_the_event_loop():
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def parse(answer):
        seen.append(threading.get_ident())
        return len(answer["recipients"])

    large = orjson.dumps({"recipients": [{"phone_number": "+15551234567"}] * (OFF_LOOP_BYTES // 20)})
    assert len(large) > OFF_LOOP_BYTES
    assert await decode_json(large, parse) == OFF_LOOP_BYTES // 20
    assert await decode_json(b'{"recipients": []}', parse) == 0
    assert seen[0] != loop_thread and seen[1] == loop_thread  # a small answer is not worth a thread


@pytest.mark.anyio
async def test_send_posts_a_body_as_compact_json_or_as_already_encoded_bytes():
    seen: list[httpx.Request] = []

    def answer(request):
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    api = HttpApi(
        client=httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://api"),
        display="Test", auth_headers={"xi-api-key": SECRET}, secret=SECRET, read_timeout_secs=1,
    )
    body = {"to_number": "+15551234567", "prompt": "Café — ünïcode"}
    assert await api.send("POST", "/a", body=body) == {"ok": True}
    assert await api.send("POST", "/b", body=orjson.dumps(body), parse=lambda a: a["ok"]) is True
    await api.aclose()
    for request in seen:
        assert request.headers["content-type"] == "application/json"
        assert request.content == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.anyio
async def test_a_body_in_pieces_is_sent_whole_with_its_length_and_again_on_a_retry():
    seen: list[httpx.Request] = []

    def answer(request):
        seen.append(request)
        return httpx.Response(429 if len(seen) == 1 else 200, json={"ok": True}, headers={"retry-after": "0"})

    async def no_sleep(_):
        return None

    api = HttpApi(
        client=httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://api"),
        display="Test", auth_headers={}, secret=None, read_timeout_secs=1, sleep=no_sleep,
    )
    made: list[int] = []

    def pieces():
        made.append(1)
        yield b'{"recipients":['
        yield b'{"phone_number":"+15551234567"},'
        yield b'{"phone_number":"+15557654321"}]}'

    body = await JsonPieces.of(pieces)
    assert await api.send("POST", "/submit", body=body, places_call=True) == {"ok": True}
    await api.aclose()
    assert len(seen) == 2 and len(made) == 3  # measured once, encoded again for each try
    for request in seen:
        assert request.headers["content-length"] == str(body.length) and "transfer-encoding" not in request.headers
        assert json.loads(request.content) == {"recipients": [{"phone_number": "+15551234567"}, {"phone_number": "+15557654321"}]}
