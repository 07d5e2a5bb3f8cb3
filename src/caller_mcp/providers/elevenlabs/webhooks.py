"""ElevenLabs' signed post-call webhooks: verification and reading, beside the client they belong
to (after anthropic-sdk-python's ``webhooks.unwrap``).

The facts (``shared/reference/README.md``): header ``ElevenLabs-Signature: t=<unix>,v0=<hex>``,
hex = HMAC-SHA256(secret, ``"{t}.{raw body}"``), timestamps older than 30 minutes rejected; the
envelope is ``{type, event_timestamp, data}``; ``post_call_transcription``'s ``data`` is shaped
like the conversation GET, ``call_initiation_failure``'s names the conversation and a
``failure_reason``. ``post_call_audio`` and any other type are acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from ...domain.calls import CallReport
from ...domain.webhooks import WebhookEvent
from ...errors import InvalidInput, ProviderError, WebhookRejected
from .mapping import call_report

NAME = "elevenlabs"
SIGNATURE_HEADER = "elevenlabs-signature"
#: Oldest signature accepted, seconds (the reference's 30 minutes).
MAX_AGE_SECS = 30 * 60
#: A signature dated this far in the future is refused too (a clock that far off is not skew).
MAX_FUTURE_SECS = 5 * 60
#: The event types that say something about a call.
CALL_EVENTS = ("post_call_transcription", "call_initiation_failure")


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The ``ElevenLabs-Signature`` header value for ``body`` sent at ``timestamp`` (Unix s)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v0={digest}"


def _signature_parts(header: str) -> tuple[int, list[str]]:
    timestamp, digests = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v0" and value:
            digests.append(value.lower())
    if timestamp is None or not digests:
        raise WebhookRejected("The ElevenLabs-Signature header is not 't=<unix>,v0=<hex>'.")
    return timestamp, digests


def failure_report(data: dict[str, Any]) -> CallReport:
    """``call_initiation_failure``'s data as a failed call's report (untrusted reason text)."""
    conversation_id = data.get("conversation_id")
    if not isinstance(conversation_id, str) or not conversation_id:
        raise InvalidInput("call_initiation_failure names no conversation_id.")
    reason = data.get("failure_reason")
    return CallReport(
        provider_ref=conversation_id,
        status="failed",
        provider_status="initiation_failed",
        termination_reason=reason if isinstance(reason, str) and reason else "call initiation failed",
        outcome="failure",
    )


class ElevenLabsWebhooks:
    """A :class:`~caller_mcp.ports.WebhookParser` for ElevenLabs.

    Args:
        secret: ``ELEVENLABS_WEBHOOK_SECRET``, the HMAC secret shown in the dashboard.
    """

    provider = NAME

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def parse(self, body: bytes, headers: Mapping[str, str], now: float) -> WebhookEvent:
        """Verify and read one request (see :class:`~caller_mcp.ports.WebhookParser`).

        Every ``v0`` digest in the header is compared in constant time with the HMAC of
        ``"{t}.{raw body}"``; ``t`` must be at most 30 minutes old and not 5 minutes ahead.
        """
        header = headers.get(SIGNATURE_HEADER)
        if not header:
            raise WebhookRejected("Missing ElevenLabs-Signature header.")
        timestamp, digests = _signature_parts(header)
        expected = hmac.new(self._secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        matched = False
        for digest in digests:
            matched |= hmac.compare_digest(expected, digest)
        if not matched:
            raise WebhookRejected("The ElevenLabs-Signature does not match the body.")
        if now - timestamp > MAX_AGE_SECS or timestamp - now > MAX_FUTURE_SECS:
            raise WebhookRejected(f"The ElevenLabs-Signature is dated {int(now - timestamp)} s from now: too old or too far ahead.")
        try:
            envelope = json.loads(body)
        except ValueError as exc:
            raise InvalidInput("The webhook body is not JSON.") from exc
        if not isinstance(envelope, dict) or not isinstance(envelope.get("type"), str):
            raise InvalidInput("The webhook body is not an ElevenLabs event ({type, event_timestamp, data}).")
        kind = envelope["type"]
        data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
        report = None
        if kind == "post_call_transcription":
            conversation_id = data.get("conversation_id")
            if not isinstance(conversation_id, str) or not conversation_id:
                raise InvalidInput("post_call_transcription names no conversation_id.")
            try:
                report = call_report(data, conversation_id)
            except ProviderError as exc:
                raise InvalidInput(f"post_call_transcription could not be read: {exc}") from exc
        elif kind == "call_initiation_failure":
            report = failure_report(data)
        sent = envelope.get("event_timestamp")
        return WebhookEvent(
            provider=NAME,
            event_key=hashlib.sha256(body).hexdigest(),
            type=kind,
            sent_at=float(sent) if isinstance(sent, (int, float)) and not isinstance(sent, bool) else float(timestamp),
            report=report,
            refs=(report.provider_ref,) if report is not None else (),
        )


def parser(secret: str) -> ElevenLabsWebhooks:
    """The provider registry's entry point (``providers.build_webhook_parser``)."""
    return ElevenLabsWebhooks(secret)
