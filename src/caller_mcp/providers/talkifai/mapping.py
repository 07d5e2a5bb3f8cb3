"""TalkifAI JSON ↔ caller-mcp's domain types. Pure functions, no I/O.

The outbound call's answer follows seed 004 (``shared/reference/004_…``), which ``openapi.json``
repeats: ``success``, ``message``, ``room_name``, ``agent{id, name}``, ``from_number``,
``to_number``. A 200 answer means the callee picked up (the request blocks until then).

Reading calls and batches follows ``openapi.json`` (``CallSession``, ``BatchJob``,
``BatchJobDetailResponse``, ``BatchContact``) where it and the older pages disagree. The call
mapping (:func:`call_report`) reads both ``GET /calls/{callId}`` and a webhook event's ``data``.
"""

from __future__ import annotations

from typing import Any

from ...domain.batches import BatchReport, RecipientReport
from ...domain.calls import CallReport, PlacedCall, Turn
from ...errors import OutcomeUnknown, ProviderStatusError

#: TalkifAI answers 408 when the callee did not pick up within this many seconds (seed 004).
RING_TIMEOUT_SECS = 60


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def agent_words(answer: dict[str, Any]) -> str:
    """The agent named in an answer: ``agent 'Sales Agent' (agent_abc123)``, or ``its agent``."""
    agent = answer.get("agent") if isinstance(answer.get("agent"), dict) else {}
    name, agent_id = _str(agent.get("name")), _str(agent.get("id"))
    if name and agent_id:
        return f"agent '{name}' ({agent_id})"
    if name or agent_id:
        return f"agent {name or agent_id}"
    return "its agent"


def placed_call(answer: Any, display: str) -> PlacedCall:
    """Convert the 200 answer of ``POST /telephony/outbound-call`` to an answered :class:`PlacedCall`.

    ``room_name`` becomes the provider reference (TalkifAI names no call id here).

    Raises:
        ProviderStatusError: ``"success": false`` (status 200): the provider refused the call.
        OutcomeUnknown: a body that is not an object: a 200 may mean a call is up.
    """
    if not isinstance(answer, dict):
        raise OutcomeUnknown(f"{display} answered with an unexpected body: the call may have been placed.")
    message = str(answer.get("message") or "")
    if answer.get("success") is False:
        # Not in seed 004 but in TalkifAI's API introduction ({success: false, error, code}).
        reason = message or str(answer.get("error") or "") or "no reason given"
        raise ProviderStatusError(
            f"{display} could not place the call: {reason}",
            status=200,
            detail=reason,
            code=_str(answer.get("code")),
        )
    to_number = _str(answer.get("to_number")) or "the destination"
    from_number = _str(answer.get("from_number")) or "the configured number"
    said = f" {display} said: {message}" if message else ""
    return PlacedCall(
        message=f"Call answered: TalkifAI {agent_words(answer)} on {from_number} is talking to {to_number}.{said}",
        provider_ref=_str(answer.get("room_name")),
        raw=answer,
        status="answered",
    )


def no_answer_call(detail: str, display: str, raw: dict[str, Any]) -> PlacedCall:
    """The 408 answer as a placed call whose outcome is ``no_answer`` (seed 004: the call was
    placed and rang :data:`RING_TIMEOUT_SECS` s unanswered; nothing to fix, nothing failed)."""
    return PlacedCall(
        message=(
            f"The call was placed and rang for {RING_TIMEOUT_SECS} s without an answer (no_answer). "
            f"{display} said: {detail}"
        ),
        raw=raw,
        status="no_answer",
    )


# -- reading calls back (openapi.json: GET /calls/{callId}, /calls/{callId}/transcript) ----------

#: ``CallSession.status`` (``openapi.json``) and webhook ``call.ended``/``call.failed`` statuses →
#: normalised call status (``domain.calls.CALL_STATUSES``). ``no_answer`` rang out: ``failed``.
CALL_STATUS = {
    "initiating": "queued",
    "ringing": "ringing",
    "in_progress": "in_progress",
    "ongoing": "in_progress",  # /api/call-logs/user's word for the same state
    "completed": "done",
    "failed": "failed",
    "no_answer": "failed",
    "abandoned": "failed",
}
#: Webhook event type → the status it implies when its data carries none (``api-reference_webhooks``).
EVENT_STATUS = {"call.started": "in_progress", "call.ended": "completed", "call.failed": "failed"}
#: Transcript speakers (``openapi.json``: ``agent`` | ``user``): TalkifAI's agent is our caller.
SPEAKER_ROLE = {"agent": "caller", "user": "business"}


def unix_time(value: Any) -> float | None:
    """An ISO 8601 date-time (``2024-01-15T10:30:00Z``) or a number as Unix seconds; ``None`` if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    from datetime import datetime, timezone

    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _unwrap(answer: Any) -> dict[str, Any]:
    """The ``data`` of the ``{success, data}`` envelope (``openapi.json``), or the object itself."""
    if isinstance(answer, dict) and isinstance(answer.get("data"), dict):
        return answer["data"]
    return answer if isinstance(answer, dict) else {}


def transcript_turns(answer: Any) -> tuple[Turn, ...]:
    """The turns of ``GET /calls/{callId}/transcript`` (``{success, data: {callId, transcript: [{speaker,
    text, timestamp}]}}``), or of a bare list of such items. ``agent`` is the caller, ``user`` the
    business; a ``timestamp`` that looks like Unix time is made relative to the first turn."""
    data = answer if isinstance(answer, list) else _unwrap(answer).get("transcript")
    items = [item for item in data or [] if isinstance(item, dict) and _str(item.get("text"))]
    stamps = [_number(item.get("timestamp")) for item in items]
    first = next((s for s in stamps if s is not None), None)
    unix = first is not None and first > 1e9  # seconds since 1970, not since the call started
    turns = []
    for item, stamp in zip(items, stamps, strict=True):
        speaker = str(item.get("speaker") or "")
        secs = None if stamp is None else round(stamp - first, 1) if unix and first is not None else stamp
        turns.append(Turn(role=SPEAKER_ROLE.get(speaker, speaker or "unknown"), message=str(item["text"]), secs=secs))
    return tuple(turns)


def call_report(answer: Any, transcript: tuple[Turn, ...] = (), *, event: str | None = None) -> CallReport:
    """A TalkifAI call as a :class:`CallReport`.

    Reads ``GET /calls/{callId}``'s ``{success, data: CallSession}`` (``callId``, ``to``, ``status``,
    ``duration`` s, ``startTime``, ``endTime``, ``recordingUrl``, ``metadata``) and, for the webhook
    receiver, a webhook event's ``data`` (``call.started`` / ``call.ended`` / ``call.failed``:
    ``callId``, ``duration``, ``status``, ``endReason``, ``recordingUrl``; pass ``event`` = its ``type``
    so a payload without ``status`` still gets one). Pure; no I/O.

    Raises:
        ValueError: no ``callId`` in the payload.
    """
    data = _unwrap(answer)
    call_id = _str(data.get("callId")) or _str(data.get("id"))
    if call_id is None:
        raise ValueError("a TalkifAI call payload without callId")
    provider_status = _str(data.get("status")) or EVENT_STATUS.get(event or "", "") or "unknown"
    status = CALL_STATUS.get(provider_status, "processing")
    reason = _str(data.get("endReason")) or ("no answer" if provider_status == "no_answer" else None)
    return CallReport(
        provider_ref=call_id,
        status=status,
        provider_status=provider_status,
        to_number=_str(data.get("to")) or _str(data.get("calleePhone")),
        started_at=unix_time(data.get("startTime")),
        duration_secs=_number(data.get("duration")),
        termination_reason=reason,
        transcript=transcript,
        recording_url=_str(data.get("recordingUrl")),
    )


# -- batch calling (openapi.json: /batch/create, /batch/jobs, /batch/jobs/{id}, …/cancel) ----------

#: ``BatchContact.status`` (``openapi.json``; ``platform_batch-calling``'s ``connected``,
#: ``permanently_failed``, ``agent_error``) → caller-mcp's recipient status
#: (``domain.batches.RECIPIENT_STATUSES``); the original is kept as ``provider_status``. TalkifAI has
#: no voicemail status: a call answered by voicemail is ``completed`` there.
CONTACT_STATUS = {
    "pending": "pending",
    "queued": "pending",  # waiting in TalkifAI's retry queue for another attempt
    "dialing": "initiated",
    "connected": "in_progress",
    "completed": "completed",
    "no_answer": "failed",
    "busy": "failed",
    "timeout": "failed",
    "blocked": "failed",
    "invalid_number": "failed",
    "carrier_error": "failed",
    "agent_error": "failed",
    "permanently_failed": "failed",
    "failed": "failed",
    "cancelled": "cancelled",
}
#: ``BatchJob.status`` (``openapi.json`` + ``paused`` from ``platform_batch-calling``) → batch status
#: (``domain.batches.BATCH_STATUSES``).
JOB_STATUS = {
    "pending": "pending",
    "scheduled": "pending",
    "running": "in_progress",
    "paused": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}


def contact_status(value: Any) -> str:
    """A contact's recipient status; an undocumented one counts as still ``in_progress``."""
    return CONTACT_STATUS.get(str(value or ""), "in_progress")


def recipient_report(contact: dict[str, Any]) -> RecipientReport:
    """One ``BatchContact`` (``id``, ``phoneNumber``, ``status``, ``roomName``, ``callDuration`` s,
    ``failureReason``, ``lastAttemptAt``, ``completedAt``) as a :class:`RecipientReport`; its call's
    reference is the ``roomName`` (TalkifAI names no callId per contact)."""
    provider_status = _str(contact.get("status")) or "pending"
    return RecipientReport(
        status=contact_status(provider_status),
        phone_number=_str(contact.get("phoneNumber")) or _str((contact.get("contactData") or {}).get("phone")),
        recipient_id=_str(contact.get("id")),
        call_ref=_str(contact.get("roomName")),
        provider_status=provider_status,
        created_at=unix_time(contact.get("lastAttemptAt")),
        updated_at=unix_time(contact.get("completedAt")) or unix_time(contact.get("lastAttemptAt")),
        duration_secs=_number(contact.get("callDuration")),
        error=_str(contact.get("failureReason")),
    )


def batch_report(job: Any, contacts: list[dict[str, Any]] | None = None) -> BatchReport:
    """A ``BatchJob`` or ``BatchJobDetailResponse`` as a :class:`BatchReport` (``contacts``: every page
    of the detail's ``contacts``, already read)."""
    job = _unwrap(job)
    breakdown = job.get("statusBreakdown") if isinstance(job.get("statusBreakdown"), dict) else {}
    return BatchReport(
        batch_id=str(job.get("id") or job.get("batchJobId") or ""),
        name=str(job.get("name") or ""),
        status=JOB_STATUS.get(str(job.get("status") or ""), "in_progress"),
        created_at=unix_time(job.get("createdAt")),
        scheduled_time_unix=_int_time(job.get("scheduledStartTime")),
        last_updated_at=unix_time(job.get("completedAt")) or unix_time(job.get("actualStartTime")),
        total_calls_scheduled=_count(job.get("totalContacts")),
        total_calls_dispatched=_count(job.get("contactsProcessed")),
        recipients=tuple(recipient_report(c) for c in contacts or () if isinstance(c, dict)),
        raw={k: v for k, v in job.items() if k != "contacts"},
        status_breakdown={str(k): v for k, v in breakdown.items() if isinstance(v, int) and not isinstance(v, bool)},
    )


def batch_created(answer: Any, name: str, display: str) -> BatchReport:
    """``POST /batch/create``'s answer (``success``, ``batchJobId``, ``totalContacts``,
    ``estimatedDuration``, ``estimatedCost``, ``status``, ``scheduledStartTime``, ``message``).

    Raises:
        ProviderStatusError: ``"success": false`` (nothing was created).
        OutcomeUnknown: no batch id in a 200: the batch may exist.
    """
    if not isinstance(answer, dict):
        raise OutcomeUnknown(f"{display} answered with an unexpected body: the batch may have been created.")
    if answer.get("success") is False:
        reason = str(answer.get("error") or answer.get("message") or "") or "no reason given"
        raise ProviderStatusError(
            f"{display} could not create the batch: {reason}", status=200, detail=reason, code=_str(answer.get("code"))
        )
    batch_id = _str(answer.get("batchJobId"))
    if batch_id is None:
        raise OutcomeUnknown(f"{display} answered without a batchJobId: the batch may have been created.")
    return BatchReport(
        batch_id=batch_id,
        name=name,
        status=JOB_STATUS.get(str(answer.get("status") or ""), "pending"),
        scheduled_time_unix=_int_time(answer.get("scheduledStartTime")),
        total_calls_scheduled=_count(answer.get("totalContacts")),
        raw=answer,
        estimated_cost=_str(answer.get("estimatedCost")),
        estimated_duration=_str(answer.get("estimatedDuration")),
    )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _int_time(value: Any) -> int | None:
    stamp = unix_time(value)
    return int(stamp) if stamp is not None else None
