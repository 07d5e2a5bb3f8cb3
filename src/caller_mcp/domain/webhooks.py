"""Provider webhooks as the app sees them: a verified event about one call, and how reports
pushed piece by piece add up. Pure; no I/O.

The providers' ``webhooks.py`` (``providers/<name>/webhooks.py``) verify a request's signature and
turn its body into a :class:`WebhookEvent`; ``app/webhooks.py`` applies it to the store.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .calls import CallReport, Cost, Turn

#: Largest webhook body read (bytes): an ElevenLabs post-call transcription of a long call with
#: analysis is well under this; anything bigger is refused with 413 before it is parsed.
MAX_WEBHOOK_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class WebhookEvent:
    """One verified provider event.

    Attributes:
        provider: ``elevenlabs`` or ``talkifai``.
        event_key: what makes it unique, for replay protection: the provider's event id
            (TalkifAI ``id``) or the SHA-256 of the signed body (ElevenLabs sends no id).
        type: the provider's event type (``post_call_transcription``, ``call.ended`` …).
        sent_at: when the provider says it sent it (Unix seconds).
        report: what it says about the call, or ``None`` for an event about no call
            (``credit.low``), which is acknowledged and otherwise ignored.
        refs: the provider references that may name the call in the store (conversation id,
            TalkifAI ``callId`` and ``roomName``), most specific first.
    """

    provider: str
    event_key: str
    type: str
    sent_at: float
    report: CallReport | None
    refs: tuple[str, ...] = ()


def merge_reports(old: CallReport | None, new: CallReport) -> CallReport:
    """``new`` on top of ``old``: TalkifAI pushes a call in pieces (started, ended, transcript,
    analysis), so a field ``new`` leaves empty keeps ``old``'s value. A final status is never
    undone by a late ``call.started``."""
    if old is None:
        return new
    merged = {}
    for item in fields(CallReport):
        value = getattr(new, item.name)
        merged[item.name] = value if value not in (None, "", (), {}) else getattr(old, item.name)
    if old.final and not new.final:
        merged["status"], merged["provider_status"] = old.status, old.provider_status
    return replace(new, **merged)


def report_to_json(report: CallReport) -> str:
    """A report as the JSON the store keeps (``calls.report_json``)."""
    return json.dumps(asdict(report), ensure_ascii=False, separators=(",", ":"))


def report_from_json(text: str | None) -> CallReport | None:
    """The report :func:`report_to_json` wrote, or ``None`` (no text, or text that does not parse)."""
    if not text:
        return None
    try:
        data: dict[str, Any] = json.loads(text)
        cost = data.get("cost")
        data["cost"] = Cost(**cost) if isinstance(cost, dict) else None
        data["transcript"] = tuple(Turn(**turn) for turn in data.get("transcript") or ())
        return CallReport(**data)
    except (ValueError, TypeError):
        return None
