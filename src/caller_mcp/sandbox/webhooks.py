"""Signed webhooks from the emulators, so the whole push path runs with no account.

A :class:`WebhookSender` watches an emulator's calls on its clock and, as each reaches a point a
provider would report, POSTs the provider's event, signed as the provider signs it, to
``{url}/webhooks/{provider}``:

- ElevenLabs: ``post_call_transcription`` (the conversation GET's body at ``done``) or
  ``call_initiation_failure`` (a call that failed before it was answered);
- TalkifAI: ``call.started`` when answered, ``call.ended`` after the talk
  (:data:`~caller_mcp.sandbox.talkifai.TALK_SECS`), then ``analysis.completed``; ``call.failed``
  for a call that never connected.

``caller-mcp serve --transport http`` runs the senders of its in-process emulators when
``CALLER_MCP_SANDBOX_WEBHOOK_URL`` (default: the server itself, once a webhook secret is set) and
the provider's secret are set; ``caller-mcp sandbox-api --webhook-url … --webhook-secret …`` runs
the served emulator's. Tests call :meth:`WebhookSender.send_due` after moving a manual clock.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import anyio
import httpx

from ..providers.elevenlabs.webhooks import sign as sign_elevenlabs
from ..providers.talkifai.webhooks import sign as sign_talkifai
from .talkifai import TALK_SECS

logger = logging.getLogger(__name__)

#: Sandbox seconds from the end of a TalkifAI call to its analysis.
TALKIFAI_ANALYSIS_SECS = 3.0
#: Real seconds between two looks at the emulator's calls in :meth:`WebhookSender.run`.
POLL_SECS = 0.25

#: ``due(now)`` → ``[(key, body, headers)]``: the events an emulator owes at sandbox time ``now``.
DueEvents = Callable[[float], list[tuple[str, bytes, dict[str, str]]]]


class WebhookSender:
    """Posts an emulator's events to a webhook URL, each once.

    Args:
        provider: ``elevenlabs`` or ``talkifai`` (the path ``/webhooks/{provider}``).
        url: the receiving server's base URL, e.g. ``http://127.0.0.1:8000``.
        due: the emulator's owed events (see :data:`DueEvents`). clock: sandbox time.
        transport: an ``httpx`` transport (tests); default the network (loopback in practice).
    """

    def __init__(self, provider: str, url: str, due: DueEvents, clock: Callable[[], float], transport: Any = None) -> None:
        self.provider = provider
        self.target = url.rstrip("/") + f"/webhooks/{provider}"
        self._due = due
        self._clock = clock
        self._sent: set[str] = set()
        self._transport = transport
        self.delivered = 0

    async def send_due(self) -> int:
        """Post every event owed now and not yet delivered; returns how many were accepted (2xx).

        An event the receiver refuses or cannot be reached for is tried again on the next call.
        """
        events = [event for event in self._due(self._clock()) if event[0] not in self._sent]
        if not events:
            return 0
        accepted = 0
        async with httpx.AsyncClient(transport=self._transport, timeout=5) as client:
            for key, body, headers in events:
                try:
                    answer = await client.post(self.target, content=body, headers={**headers, "content-type": "application/json"})
                except httpx.HTTPError as exc:
                    logger.warning("sandbox webhook to %s failed: %s", self.target, exc)
                    continue
                if answer.is_success:
                    self._sent.add(key)
                    accepted += 1
                else:
                    logger.warning("sandbox webhook to %s answered %s", self.target, answer.status_code)
        self.delivered += accepted
        return accepted

    async def run(self) -> None:
        """Send owed events every :data:`POLL_SECS` real seconds until cancelled."""
        while True:
            await self.send_due()
            await anyio.sleep(POLL_SECS)


def elevenlabs_sender(app: Any, url: str, secret: str, transport: Any = None) -> WebhookSender:
    """The sender of an ElevenLabs emulator (``sandbox.create_app``), signing with ``secret``."""
    state = app.state.sandbox

    def due(now: float) -> list[tuple[str, bytes, dict[str, str]]]:
        events = []
        for call in list(state.calls.values()):
            if call.started_at > now:
                continue
            phase = call.phase(now)
            if phase not in ("done", "failed"):
                continue
            conversation = call.conversation(now)
            if phase == "failed" and not conversation["transcript"]:
                kind = "call_initiation_failure"
                data: dict[str, Any] = {
                    "agent_id": call.agent_id,
                    "conversation_id": call.conversation_id,
                    "failure_reason": conversation["metadata"].get("termination_reason") or "failed",
                    "metadata": {"type": call.phone_provider, "body": {"to_number": call.to_number}},
                }
            else:
                kind, data = "post_call_transcription", conversation
            body = json.dumps({"type": kind, "event_timestamp": int(time.time()), "data": data}).encode()
            events.append((call.conversation_id, body, {"ElevenLabs-Signature": sign_elevenlabs(body, secret, int(time.time()))}))
        return events

    return WebhookSender("elevenlabs", url, due, state.clock, transport)


def talkifai_sender(app: Any, url: str, secret: str, transport: Any = None) -> WebhookSender:
    """The sender of a TalkifAI emulator (``sandbox.talkifai.create_app``), signing with ``secret``.

    Events follow each emulated call's own timeline (:class:`~caller_mcp.sandbox.talkifai.TalkCall`)
    and name its ``callId``, the one ``GET /calls/{callId}`` of the same emulator reads.
    """
    state = app.state.sandbox

    def due(now: float) -> list[tuple[str, bytes, dict[str, str]]]:
        events = []
        for call in list(state.calls.values()):
            call_id = call.call_id
            answered = call.started_at + call.ring_secs
            ended = answered + TALK_SECS.get(call.outcome, 0.0)
            if call.answered:
                timeline = [
                    ("call.started", answered, {"callId": call_id, "agentId": call.agent_id, "direction": "outbound",
                                                "from": call.from_number, "to": call.to_number, "roomName": call.room_name}),
                    ("call.ended", ended, {"callId": call_id, "agentId": call.agent_id, "status": "completed",
                                           "duration": int(ended - answered), "endReason": "agent_hangup",
                                           "roomName": call.room_name}),
                    ("analysis.completed", ended + TALKIFAI_ANALYSIS_SECS, {
                        "callId": call_id, "roomName": call.room_name,
                        "analysisData": {"call_summary": f"Sandbox call to {call.to_number} ({call.outcome}).",
                                         "call_outcome": "Fully Resolved" if call.outcome == "completed" else "Voicemail"},
                    }),
                ]
            else:  # rang out, busy or refused: it never connected
                timeline = [("call.failed", answered, {"callId": call_id, "agentId": call.agent_id, "to": call.to_number,
                                                       "status": call.status(answered), "roomName": call.room_name})]
            for kind, at, data in timeline:
                if at > now:
                    break
                event_id = f"evt_{call_id}_{kind}"
                created = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
                body = json.dumps({"id": event_id, "type": kind, "created": created, "data": data}).encode()
                events.append((event_id, body, {"X-TalkifAI-Signature": sign_talkifai(body, secret)}))
        return events

    return WebhookSender("talkifai", url, due, state.clock, transport)


def sender_from_settings(provider: str, app: Any, settings: Any) -> WebhookSender | None:
    """The sender for an in-process emulator of ``provider`` when ``CALLER_MCP_SANDBOX_WEBHOOK_URL``
    and the provider's webhook secret are set, else ``None``."""
    url = (settings.caller_mcp_sandbox_webhook_url or "").strip()
    secret = getattr(settings, f"{provider}_webhook_secret", None)
    if not url or secret is None or not secret.get_secret_value():
        return None
    make = elevenlabs_sender if provider == "elevenlabs" else talkifai_sender
    return make(app, url, secret.get_secret_value())
