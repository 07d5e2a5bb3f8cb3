"""``caller_mcp.providers.http``: reading a provider's error body, whatever shape it has."""

from __future__ import annotations

import httpx
import pytest

from caller_mcp.providers.http import MAX_DETAIL_CHARS, detail_of, status_error

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
