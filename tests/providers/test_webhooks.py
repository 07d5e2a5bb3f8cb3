"""Webhook verification and reading for both providers: good, wrong, missing, stale and future
signatures, and bodies that are signed but not events."""

from __future__ import annotations

import json

import pytest

from caller_mcp.errors import InvalidInput, WebhookRejected
from caller_mcp.providers import build_webhook_parser
from caller_mcp.providers.elevenlabs import webhooks as eleven
from caller_mcp.providers.talkifai import webhooks as talk

SECRET = "whsec_test_secret"
NOW = 1_767_225_600.0


def eleven_body(kind="post_call_transcription", **data):
    base = {
        "conversation_id": "conv_1",
        "status": "done",
        "transcript": [{"role": "agent", "message": "Hi, I'd like to order a pizza.", "time_in_call_secs": 0}],
        "metadata": {"call_duration_secs": 42, "cost": 420, "termination_reason": "end_call tool"},
        "analysis": {"call_successful": "success", "transcript_summary": "Ordered."},
    }
    return json.dumps({"type": kind, "event_timestamp": int(NOW), "data": {**base, **data}}).encode()


def eleven_headers(body, t=int(NOW), secret=SECRET):
    return {"elevenlabs-signature": eleven.sign(body, secret, t)}


def test_elevenlabs_a_good_post_call_transcription_reads_as_the_conversation():
    body = eleven_body()
    event = build_webhook_parser("elevenlabs", SECRET).parse(body, eleven_headers(body), NOW + 60)
    report = event.report
    assert event.type == "post_call_transcription" and event.refs == ("conv_1",)
    assert report.status == "done" and report.duration_secs == 42 and report.summary == "Ordered."
    assert report.cost.amount == 420 and report.cost.unit == "credits"
    assert report.transcript[0].role == "caller"
    assert len(event.event_key) == 64


def test_elevenlabs_call_initiation_failure_is_a_failed_call():
    body = json.dumps({"type": "call_initiation_failure", "event_timestamp": int(NOW),
                       "data": {"conversation_id": "conv_2", "agent_id": "a", "failure_reason": "busy"}}).encode()
    event = eleven.ElevenLabsWebhooks(SECRET).parse(body, eleven_headers(body), NOW)
    assert event.report.status == "failed" and event.report.termination_reason == "busy"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"elevenlabs-signature": "garbage"},
        {"elevenlabs-signature": f"t={int(NOW)},v0={'0' * 64}"},
    ],
    ids=["missing", "malformed", "wrong"],
)
def test_elevenlabs_a_missing_or_wrong_signature_is_rejected(headers):
    with pytest.raises(WebhookRejected):
        eleven.ElevenLabsWebhooks(SECRET).parse(eleven_body(), headers, NOW)


def test_elevenlabs_a_signature_by_another_secret_or_over_another_body_is_rejected():
    body = eleven_body()
    parser = eleven.ElevenLabsWebhooks(SECRET)
    with pytest.raises(WebhookRejected):
        parser.parse(body, eleven_headers(body, secret="other"), NOW)
    with pytest.raises(WebhookRejected):
        parser.parse(body + b" ", eleven_headers(body), NOW)


@pytest.mark.parametrize("offset", [eleven.MAX_AGE_SECS + 1, -(eleven.MAX_FUTURE_SECS + 1)], ids=["stale", "future"])
def test_elevenlabs_a_stale_or_future_signature_is_rejected(offset):
    body = eleven_body()
    with pytest.raises(WebhookRejected, match="too old or too far ahead"):
        eleven.ElevenLabsWebhooks(SECRET).parse(body, eleven_headers(body, t=int(NOW - offset)), NOW)


def test_elevenlabs_a_signed_body_that_is_not_an_event_is_invalid_input():
    for body in (b"not json", b"[]", json.dumps({"type": "post_call_transcription", "data": {}}).encode()):
        with pytest.raises(InvalidInput):
            eleven.ElevenLabsWebhooks(SECRET).parse(body, eleven_headers(body), NOW)


def test_elevenlabs_other_event_types_are_acknowledged_without_a_report():
    body = json.dumps({"type": "post_call_audio", "event_timestamp": int(NOW), "data": {"conversation_id": "c"}}).encode()
    assert eleven.ElevenLabsWebhooks(SECRET).parse(body, eleven_headers(body), NOW).report is None


def talk_body(kind="call.ended", event_id="evt_1", created="2026-01-01T00:00:00Z", **data):
    return json.dumps({"id": event_id, "type": kind, "created": created, "data": {"callId": "call_xyz", **data}}).encode()


def test_talkifai_a_good_call_ended_reads_its_status_duration_and_reason():
    body = talk_body(duration=245, status="completed", endReason="user_hangup")
    event = build_webhook_parser("talkifai", SECRET).parse(body, {"x-talkifai-signature": talk.sign(body, SECRET)}, NOW)
    assert event.event_key == "evt_1" and event.refs == ("call_xyz",)
    assert event.report.status == "done" and event.report.duration_secs == 245
    assert event.report.termination_reason == "user_hangup"


def test_talkifai_events_read_each_piece():
    parser = talk.TalkifaiWebhooks(SECRET)

    def parse(body):
        return parser.parse(body, {"x-talkifai-signature": talk.sign(body, SECRET)}, NOW).report

    assert parse(talk_body("call.started", to="+15551230000")).status == "in_progress"
    assert parse(talk_body("call.failed", status="no_answer")).status == "failed"
    analysis = parse(talk_body("analysis.completed", analysisData={"call_summary": "Ordered.", "call_outcome": "Resolved"}))
    assert analysis.summary == "Ordered." and analysis.data_collected == {"call_outcome": {"value": "Resolved"}}
    turns = parse(talk_body("transcript.ready", transcript=[{"speaker": "agent", "text": "Hello"}])).transcript
    assert [(t.role, t.message) for t in turns] == [("caller", "Hello")]
    credit = parser.parse(b'{"id":"evt_9","type":"credit.low","created":"2026-01-01T00:00:00Z","data":{}}',
                          {"x-talkifai-signature": talk.sign(b'{"id":"evt_9","type":"credit.low","created":"2026-01-01T00:00:00Z","data":{}}', SECRET)}, NOW)
    assert credit.report is None


@pytest.mark.parametrize(
    "headers", [{}, {"x-talkifai-signature": "sha256=" + "0" * 64}, {"x-talkifai-signature": "nonsense"}],
    ids=["missing", "wrong", "malformed"],
)
def test_talkifai_a_missing_or_wrong_signature_is_rejected(headers):
    with pytest.raises(WebhookRejected):
        talk.TalkifaiWebhooks(SECRET).parse(talk_body(), headers, NOW)


def test_talkifai_a_stale_event_is_rejected_even_when_correctly_signed():
    body = talk_body(created="2025-12-31T22:00:00Z")  # two hours before NOW
    with pytest.raises(WebhookRejected, match="too old"):
        talk.TalkifaiWebhooks(SECRET).parse(body, {"x-talkifai-signature": talk.sign(body, SECRET)}, NOW)
