"""Receiving a provider's signed webhook: verify, apply to the store, wake the waiting get_call.

The HTTP edge (``web/webhooks.py``) hands the raw body and headers here; the provider's parser
(``providers/<name>/webhooks.py``) verifies the signature; the store applies the event in one
transaction (replay check, the call found, the report merged and written), so any number of
replicas receiving the same delivery apply it once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..domain.calls import CallReport
from ..domain.webhooks import merge_reports, report_from_json, report_to_json
from ..ports import WebhookParser
from .services import Services

logger = logging.getLogger(__name__)

#: How far back a TalkifAI event naming only a callId and a number may bind to a call placed
#: here (its outbound answer names a room, not the callId): seconds.
BIND_WINDOW_SECS = {"talkifai": 2 * 3600.0}


@dataclass(frozen=True)
class WebhookOutcome:
    """What became of one verified event.

    Attributes:
        result: ``applied`` (a call's record was updated), ``replay`` (already applied: nothing
            changed), ``unknown`` (no call of this server matches), or ``ignored`` (an event
            about no call, e.g. ``credit.low``).
        event: the provider's event type. call_id: the local call updated, if any.
    """

    result: str
    event: str
    call_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The webhook's 200 answer body."""
        body: dict[str, Any] = {"ok": True, "result": self.result, "event": self.event}
        if self.call_id:
            body["call_id"] = self.call_id
        return body


def report_columns(report: CallReport) -> dict[str, Any]:
    """The ``calls`` columns a report sets (what ``list_calls`` shows without reading the provider)."""
    return {
        "status": report.status,
        "provider_status": report.provider_status,
        "outcome": report.outcome,
        "termination_reason": report.termination_reason,
        "duration_secs": report.duration_secs,
        "started_at": report.started_at,
        "cost": report.cost.amount if report.cost else None,
        "cost_unit": report.cost.unit if report.cost else None,
        "cost_usd": report.cost_usd,
    }


async def receive(services: Services, parser: WebhookParser, body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
    """Verify one webhook request and apply it.

    Args:
        parser: the provider's :class:`~caller_mcp.ports.WebhookParser`.
        body: the raw request body, as signed. headers: the request headers (lower-case names).
    Returns:
        The :class:`WebhookOutcome`; an applied event has woken every ``get_call`` waiting on the call.
    Raises:
        WebhookRejected: a missing, wrong or stale signature (nothing stored).
        InvalidInput: a signed body that is not a readable event (nothing stored).
    """
    now = services.now()
    event = parser.parse(body, headers, now)
    if event.report is None:
        return WebhookOutcome("ignored", event.type)
    pushed = event.report

    def merge(stored: str | None) -> tuple[str, dict[str, Any]]:
        merged = merge_reports(report_from_json(stored), pushed)
        return report_to_json(merged), report_columns(merged)

    result, record = await services.store.apply_webhook(
        provider=event.provider,
        event_key=event.event_key,
        received_at=now,
        refs=event.refs,
        to_number=pushed.to_number,
        merge=merge,
        bind_window_secs=BIND_WINDOW_SECS.get(event.provider, 0.0),
    )
    if record is not None:
        services.call_changed(record.call_id)
    logger.info("webhook %s %s: %s", event.provider, event.type, result)
    return WebhookOutcome(result, event.type, record.call_id if record is not None else None)
