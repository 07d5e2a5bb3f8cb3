"""TalkifAI's signed webhooks (``shared/reference/talkifai/api-reference_webhooks.mdx``):
verification and reading, beside the client they belong to.

``X-TalkifAI-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` with the webhook's signing
secret; envelope ``{id, type, created, data}``. The events about a call: ``call.started``
(``callId``, ``to``, ``from``), ``call.ended`` (``duration`` s, ``status``, ``endReason``),
``call.failed``, ``transcript.ready`` (``transcriptUrl``; a ``transcript`` list when inline) and
``analysis.completed`` (``roomName``/``callId`` and ``analysisData``, as the post-call analysis
results show). ``credit.low`` / ``credit.depleted`` name no call and are acknowledged only.

The signature carries no timestamp, so freshness is the envelope's ``created``: TalkifAI retries a
failed delivery after 30 s, 5 min and 30 min, so an event up to :data:`MAX_AGE_SECS` old is
accepted; replays within it are refused by the event ``id`` (the store keeps them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ...domain.calls import CallReport, Turn
from ...domain.webhooks import WebhookEvent
from ...errors import InvalidInput, WebhookRejected

NAME = "talkifai"
SIGNATURE_HEADER = "x-talkifai-signature"
#: Oldest ``created`` accepted, seconds: the last retry comes 35.5 min after the first attempt.
MAX_AGE_SECS = 60 * 60
MAX_FUTURE_SECS = 5 * 60
#: Event type → (normalised status, TalkifAI's status) when its data says none.
EVENT_STATUS = {
    "call.started": ("in_progress", "in_progress"),
    "call.ended": ("done", "completed"),
    "call.failed": ("failed", "failed"),
    "transcript.ready": ("done", "completed"),
    "analysis.completed": ("done", "completed"),
}
#: ``data.status`` of call.ended / call.failed → normalised status.
CALL_STATUS = {"completed": "done", "failed": "failed", "no_answer": "failed", "busy": "failed", "in_progress": "in_progress"}
SPEAKER_ROLE = {"agent": "caller", "assistant": "caller", "user": "business"}


def sign(body: bytes, secret: str) -> str:
    """The ``X-TalkifAI-Signature`` header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _unix(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def event_report(kind: str, data: dict[str, Any]) -> CallReport:
    """What one call event's ``data`` says about the call (fields it lacks left empty, to be
    merged with what earlier events said)."""
    ref = _str(data.get("callId")) or _str(data.get("roomName"))
    if ref is None:
        raise InvalidInput(f"{kind} names no callId or roomName.")
    status, provider_status = EVENT_STATUS[kind]
    given = _str(data.get("status"))
    if given and kind in ("call.ended", "call.failed"):
        provider_status, status = given, CALL_STATUS.get(given, status)
    turns = tuple(
        Turn(role=SPEAKER_ROLE.get(str(t.get("speaker") or t.get("role") or ""), "unknown"), message=str(t.get("text") or t.get("message")))
        for t in data.get("transcript") or []
        if isinstance(t, dict) and (t.get("text") or t.get("message"))
    )
    analysis = data.get("analysisData") if isinstance(data.get("analysisData"), dict) else {}
    duration = data.get("duration")
    return CallReport(
        provider_ref=ref,
        status=status,
        provider_status=provider_status,
        to_number=_str(data.get("to")),
        duration_secs=float(duration) if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None,
        termination_reason=_str(data.get("endReason")) or _str(data.get("reason")),
        summary=_str(analysis.get("call_summary")),
        data_collected={k: {"value": v} for k, v in analysis.items() if k != "call_summary"},
        transcript=turns,
    )


class TalkifaiWebhooks:
    """A :class:`~caller_mcp.ports.WebhookParser` for TalkifAI.

    Args:
        secret: ``TALKIFAI_WEBHOOK_SECRET``, the webhook's signing secret from Studio.
    """

    provider = NAME

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def parse(self, body: bytes, headers: Mapping[str, str], now: float) -> WebhookEvent:
        """Verify and read one request (see :class:`~caller_mcp.ports.WebhookParser`)."""
        header = headers.get(SIGNATURE_HEADER)
        if not header:
            raise WebhookRejected("Missing X-TalkifAI-Signature header.")
        expected = "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), header.strip().lower().encode()):
            raise WebhookRejected("The X-TalkifAI-Signature does not match the body.")
        try:
            envelope = json.loads(body)
        except ValueError as exc:
            raise InvalidInput("The webhook body is not JSON.") from exc
        if not isinstance(envelope, dict) or not _str(envelope.get("type")) or not _str(envelope.get("id")):
            raise InvalidInput("The webhook body is not a TalkifAI event ({id, type, created, data}).")
        created = _unix(envelope.get("created"))
        if created is None or now - created > MAX_AGE_SECS or created - now > MAX_FUTURE_SECS:
            raise WebhookRejected("The TalkifAI event's created time is missing, too old or too far ahead.")
        kind = envelope["type"]
        data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
        report = event_report(kind, data) if kind in EVENT_STATUS else None
        refs = tuple(ref for ref in (_str(data.get("callId")), _str(data.get("roomName"))) if ref)
        return WebhookEvent(provider=NAME, event_key=envelope["id"], type=kind, sent_at=created, report=report, refs=refs)


def parser(secret: str) -> TalkifaiWebhooks:
    """The provider registry's entry point (``providers.build_webhook_parser``)."""
    return TalkifaiWebhooks(secret)
