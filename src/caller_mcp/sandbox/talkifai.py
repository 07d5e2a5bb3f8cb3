"""An emulator of the TalkifAI endpoints caller-mcp uses (seed 004 and ``openapi.json``), as an
ASGI (Starlette) app.

Mounted into the TalkifAI provider's ``httpx.AsyncClient`` with ``httpx.ASGITransport`` it lets
the real provider code run with no account; ``caller-mcp sandbox-api --provider talkifai`` serves it
on loopback. No real phone rings.

Every endpoint checks ``Authorization: Bearer <key>`` → 401 in the API introduction's envelope
``{"success": false, "error", "code"}``; the other errors use ``openapi.json``'s ``{"detail"}``
examples, so the client sees both documented error shapes.

``POST /telephony/outbound-call?to_number=…&from_number=…`` follows seed 004's flow:

1. both numbers E.164 → else 400 ``{"detail": "Invalid phone number format"}`` (``openapi.json``);
2. ``from_number`` registered with an outbound agent → else 404 (``openapi.json``'s text);
3. the agent can speak → else 400 ``Agent '…' is a text-only agent …`` (``openapi.json``'s text);
4. the request blocks while the callee's phone rings (sandbox seconds, scaled by the speed), then
   answers 200 with seed 004's fields, or 408 after 60 s without an answer.

``GET /calls/{callId}`` and ``GET /calls/{callId}/transcript`` answer ``openapi.json``'s
``{success, data: CallSession}`` and ``{success, data: {callId, transcript}}`` for every call the
sandbox placed (outbound or batch). Like the real API, nothing it returns from a dial maps a room
name to its callId; tests read ids from ``app.state.sandbox`` as a webhook would deliver them.

Batch calling (``openapi.json``): ``POST /batch/create`` (JSON contacts, 1 to 10,000, ``fromPhoneNumberId``
known or 404, E.164 phones and an IANA timezone or 400), ``GET /batch/jobs`` (``organizationId``
required), ``GET /batch/jobs/{id}`` (paged contacts, ``contactStatus`` filter, ``statusBreakdown``),
``POST /batch/jobs/{id}/cancel`` (400 for a finished job). Contacts are dialled
``concurrentCallLimit`` at a time, one wave every :data:`WAVE_SECS` sandbox seconds; a contact whose
call ends ``no_answer``, ``busy`` or ``timeout`` with attempts left waits ``queued`` for
:data:`RETRY_SECS` and is dialled again (TalkifAI's retry policy, shortened).

Outcomes come from the destination's last four digits
(:data:`~caller_mcp.sandbox.simulation.MAGIC_SUFFIXES`): ``0001`` voicemail picks up (200; a batch
contact ``completed``: TalkifAI has no voicemail status), ``0002`` nobody answers (408 after 60
sandbox seconds; ``no_answer`` in a batch), ``0003`` busy (answered on a later attempt), ``0004`` the
provider refuses (the text-only-agent 400; ``failed`` in a batch). Nothing documents TalkifAI's
answer to a busy line; the emulator answers 200 with ``"success": false`` (the introduction's
failure envelope), so the call reads as failed.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..providers.talkifai.config import (
    SANDBOX_AGENT_ID,
    SANDBOX_AGENT_NAME,
    SANDBOX_API_KEY,
    SANDBOX_FROM_NUMBER,
    SANDBOX_FROM_PHONE_NUMBER_ID,
    SANDBOX_ORGANIZATION_ID,
)
from ..settings import SANDBOX_NOTE
from .app import SandboxClock
from .simulation import Outcome, outcome_for, stable_id

_E164 = re.compile(r"^\+[1-9]\d{7,14}$", re.ASCII)

#: Sandbox seconds the callee's phone rings before the outcome is known (seed 004: 408 at 60 s).
RING_SECS: dict[str, float] = {"completed": 2.0, "voicemail": 4.0, "no_answer": 60.0, "busy": 1.0, "rejected": 0.0}
#: The text-only agent the emulator pretends is assigned when it refuses a call (``…0004``).
TEXT_AGENT_NAME = "Sandbox chat bot"


#: Sandbox seconds a connected call talks before it ends (``completed``), by outcome.
TALK_SECS: dict[str, float] = {"completed": 8.0, "voicemail": 4.0}
#: Sandbox seconds a batch contact's phone rings before the outcome (a batch worker gives up on an
#: unanswered call sooner than the blocking outbound call's 60 s; undocumented, so the ElevenLabs
#: sandbox's 10 s).
BATCH_RING_SECS: dict[str, float] = {"completed": 2.0, "voicemail": 4.0, "no_answer": 10.0, "busy": 1.0, "rejected": 0.0}
#: Sandbox seconds between two waves of a batch, and before a retryable contact is dialled again
#: (TalkifAI: 5 min, then 30 min; shortened so a sandbox batch finishes).
WAVE_SECS = 3.0
RETRY_SECS = 30.0
#: Contact statuses TalkifAI redials while attempts are left (``platform_batch-calling``).
RETRYABLE = frozenset({"no_answer", "busy", "timeout"})
#: Contact status of each outcome's final attempt.
CONTACT_END = {"completed": "completed", "voicemail": "completed", "no_answer": "no_answer", "busy": "busy", "rejected": "failed"}
FINAL_CONTACT = frozenset({"completed", "no_answer", "busy", "timeout", "blocked", "invalid_number", "carrier_error", "failed", "cancelled"})
#: TalkifAI's cost model (``platform_batch-calling``): ~$0.073 a minute, 3-minute calls assumed.
USD_PER_MINUTE = 0.073
ASSUMED_CALL_MINUTES = 3


@dataclass
class TalkCall:
    """One emulated call: answered at ``answered_at`` (sandbox Unix seconds), or never."""

    call_id: str
    room_name: str
    to_number: str
    from_number: str
    agent_id: str
    started_at: float
    outcome: Outcome
    ring_secs: float
    batch_job_id: str | None = None

    @property
    def answered(self) -> bool:
        return self.outcome in TALK_SECS

    def status(self, now: float) -> str:
        """``openapi.json``'s ``CallSession.status`` at ``now``."""
        elapsed = now - self.started_at
        if elapsed < self.ring_secs:
            return "ringing"
        if not self.answered:
            return "no_answer" if self.outcome == "no_answer" else "failed"
        return "in_progress" if elapsed < self.ring_secs + TALK_SECS[self.outcome] else "completed"

    def duration(self, now: float) -> int:
        if not self.answered:
            return 0
        return int(max(0.0, min(now - self.started_at - self.ring_secs, TALK_SECS[self.outcome])))

    def session(self, now: float) -> dict[str, Any]:
        status = self.status(now)
        ended = status in ("completed", "failed", "no_answer")
        return {
            "callId": self.call_id,
            "sessionId": stable_id("sess", self.call_id),
            "agentId": self.agent_id,
            "direction": "outbound",
            "to": self.to_number,
            "from": self.from_number,
            "duration": self.duration(now),
            "status": status,
            "startTime": _iso(self.started_at),
            "endTime": _iso(self.started_at + self.ring_secs + TALK_SECS.get(self.outcome, 0.0)) if ended else None,
            "recordingUrl": f"https://storage.talkifai.sandbox.invalid/recordings/{self.call_id}.mp3"
            if ended and self.answered
            else None,
            "metadata": {"roomName": self.room_name, **({"batchJobId": self.batch_job_id} if self.batch_job_id else {})},
        }

    def transcript(self) -> list[dict[str, Any]]:
        """What was said: the Studio agent speaks with its own prompt (no scenario reaches it)."""
        if self.outcome == "voicemail":
            lines = [("user", "Hi, you've reached our voicemail. Please leave a message after the tone.", 0),
                     ("agent", "Hi, this is a sandbox voice agent. I'll call back later. Thank you.", 3)]
        else:
            lines = [("user", "Hello, thanks for calling. How can I help?", 0),
                     ("agent", f"Hi, this is {SANDBOX_AGENT_NAME} calling with a quick question.", 1),
                     ("user", "Sure, go ahead.", 3),
                     ("agent", "That's all I needed, thank you. Goodbye!", 6)]
        return [{"speaker": who, "text": text, "timestamp": at} for who, text, at in lines]


@dataclass
class SimContact:
    """One contact of an emulated batch job; ``attempts`` are the calls placed so far."""

    contact_id: str
    phone: str
    data: dict[str, Any]
    start_at: float
    attempts: list[TalkCall] = field(default_factory=list)


@dataclass
class SimJob:
    """One emulated batch job."""

    job_id: str
    name: str
    description: str | None
    from_phone_number_id: str
    created_at: float
    start_at: float
    scheduled: bool
    concurrency: int
    max_attempts: int
    contacts: list[SimContact]
    cancelled_at: float | None = None


class TalkifaiState:
    """What the emulated organization holds: its key, its numbers, the calls placed and the batch jobs."""

    def __init__(self, api_key: str, clock: Callable[[], float], from_numbers: dict[str, dict[str, str]]) -> None:
        self.api_key = api_key
        self.clock = clock
        self.from_numbers = from_numbers
        self.calls: dict[str, TalkCall] = {}
        self.jobs: dict[str, SimJob] = {}
        self.requests = 0

    def room_name(self, agent_id: str, to_number: str, now: float) -> str:
        """Seed 004's ``outbound_{agentId}_{toNumber}_{timestamp}``, made unique in this sandbox."""
        stamp = int(now)
        taken = {call.room_name for call in self.calls.values()}
        while (name := f"outbound_{agent_id}_{to_number.lstrip('+')}_{stamp}") in taken:
            stamp += 1
        return name

    def new_call(
        self, to_number: str, from_number: str, agent_id: str, started: float, outcome: Outcome, ring: float,
        batch_job_id: str | None = None,
    ) -> TalkCall:
        call = TalkCall(
            call_id=stable_id("call", to_number, started, len(self.calls)),
            room_name=self.room_name(agent_id, to_number, started),
            to_number=to_number,
            from_number=from_number,
            agent_id=agent_id,
            started_at=started,
            outcome=outcome,
            ring_secs=ring,
            batch_job_id=batch_job_id,
        )
        self.calls[call.call_id] = call
        return call

    def by_room(self, room_name: str) -> TalkCall | None:
        """The call with this room name (what a webhook's callId would name)."""
        return next((c for c in self.calls.values() if c.room_name == room_name), None)

    # -- batch progress: computed from the clock, attempts placed as their time comes ----------

    def advance(self, job: SimJob, now: float) -> None:
        """Place every attempt of ``job`` whose time has come by ``now``."""
        line = next((v for v in self.from_numbers.values() if v["id"] == job.from_phone_number_id), None)
        agent_id = line["agent_id"] if line else SANDBOX_AGENT_ID
        from_number = next((k for k, v in self.from_numbers.items() if v["id"] == job.from_phone_number_id), "")
        for contact in job.contacts:
            while True:
                due = self._next_attempt_at(contact, job)
                if due is None or due > now or (job.cancelled_at is not None and due >= job.cancelled_at):
                    break
                outcome = outcome_for(contact.phone, len(contact.attempts) + 1)
                contact.attempts.append(
                    self.new_call(contact.phone, from_number, agent_id, due, outcome, BATCH_RING_SECS[outcome], job.job_id)
                )

    @staticmethod
    def _next_attempt_at(contact: SimContact, job: SimJob) -> float | None:
        if not contact.attempts:
            return contact.start_at
        last = contact.attempts[-1]
        if len(contact.attempts) >= job.max_attempts or CONTACT_END[last.outcome] not in RETRYABLE:
            return None
        return last.started_at + last.ring_secs + RETRY_SECS

    def contact_status(self, job: SimJob, contact: SimContact, now: float) -> str:
        if not contact.attempts:
            return "cancelled" if job.cancelled_at is not None else "pending"
        last = contact.attempts[-1]
        status = last.status(now)
        if status == "ringing":
            return "dialing"
        if status == "in_progress":
            return "connected"  # platform_batch-calling's status; openapi.json's enum omits it
        end = CONTACT_END[last.outcome]
        if end in RETRYABLE and self._next_attempt_at(contact, job) is not None:
            return "cancelled" if job.cancelled_at is not None else "queued"
        return end

    def contact_json(self, job: SimJob, contact: SimContact, now: float) -> dict[str, Any]:
        status = self.contact_status(job, contact, now)
        last = contact.attempts[-1] if contact.attempts else None
        retry_at = self._next_attempt_at(contact, job) if status == "queued" else None
        return {
            "id": contact.contact_id,
            "phoneNumber": contact.phone,
            "contactData": {"phone": contact.phone, **contact.data},
            "status": status,
            "errorCode": {"busy": "486", "no_answer": "480", "failed": "403"}.get(status),
            "attemptCount": len(contact.attempts),
            "maxAttempts": job.max_attempts,
            "lastAttemptAt": _iso(last.started_at) if last else None,
            "nextRetryAt": _iso(retry_at) if retry_at is not None else None,
            "completedAt": _iso(now) if status in FINAL_CONTACT and last and status != "cancelled" else None,
            "roomName": last.room_name if last else None,
            "failureReason": {
                "busy": "Line busy",
                "no_answer": "No answer",
                "failed": f"Agent '{TEXT_AGENT_NAME}' is a text-only agent and cannot make voice calls",
            }.get(status),
            "callDuration": last.duration(now) if last and status == "completed" else None,
        }

    def job_json(self, job: SimJob, now: float, contacts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        self.advance(job, now)
        statuses = [self.contact_status(job, c, now) for c in job.contacts]
        breakdown = Counter(statuses)
        processed = sum(n for s, n in breakdown.items() if s in FINAL_CONTACT and s != "cancelled")
        if job.cancelled_at is not None:
            status = "cancelled"
        elif now < job.start_at:
            status = "scheduled" if job.scheduled else "pending"
        elif all(s in FINAL_CONTACT for s in statuses):
            status = "completed"
        else:
            status = "running"
        body: dict[str, Any] = {
            "id": job.job_id,
            "name": job.name,
            "description": job.description,
            "status": status,
            "organizationId": SANDBOX_ORGANIZATION_ID,
            "agentId": SANDBOX_AGENT_ID,
            "fromPhoneNumberId": job.from_phone_number_id,
            "totalContacts": len(job.contacts),
            "contactsProcessed": processed,
            "successfulCalls": breakdown.get("completed", 0),
            "failedCalls": processed - breakdown.get("completed", 0),
            "statusBreakdown": dict(breakdown),
            "scheduledStartTime": _iso(job.start_at) if job.scheduled else None,
            "actualStartTime": _iso(job.start_at) if now >= job.start_at else None,
            "completedAt": _iso(now) if status == "completed" else None,
            "createdAt": _iso(job.created_at),
            "concurrentCallLimit": job.concurrency,
            "retryPolicy": {"maxAttempts": job.max_attempts, "retryableStatuses": sorted(RETRYABLE)},
        }
        if contacts is not None:
            body["contacts"] = contacts
        return body


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat().replace("+00:00", "Z")


def _validation(*missing: tuple[str, str]) -> JSONResponse:
    """FastAPI's 422 body for missing or malformed fields."""
    return _json({"detail": [{"type": "missing", "loc": [where, name], "msg": "Field required"} for where, name in missing]}, 422)


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(
        {**body, "sandbox": {"provider": "sandbox", "note": SANDBOX_NOTE}},
        status_code=status,
        headers={"x-sandbox": "no real phone was dialled"},
    )


def create_app(
    *,
    api_key: str = SANDBOX_API_KEY,
    clock: Callable[[], float] | None = None,
    speed: float = 1.0,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> Starlette:
    """Build a fresh TalkifAI sandbox with one registered number (``SANDBOX_FROM_NUMBER``, Studio id
    ``SANDBOX_FROM_PHONE_NUMBER_ID``) in organization ``SANDBOX_ORGANIZATION_ID``.

    Args:
        api_key: the only Bearer token it accepts.
        clock: sandbox time source (Unix seconds); default real time sped up by ``speed``.
        speed: sandbox seconds per real second.
        sleep: waits the given *sandbox* seconds while a phone rings; default real sleep of
            ``secs / speed`` (a test with a manual clock passes one that advances it).
    Returns:
        A Starlette app; its state is at ``app.state.sandbox`` (a :class:`TalkifaiState`).
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    state = TalkifaiState(
        api_key,
        clock or SandboxClock(speed),
        {
            SANDBOX_FROM_NUMBER: {
                "id": SANDBOX_FROM_PHONE_NUMBER_ID,
                "agent_id": SANDBOX_AGENT_ID,
                "agent_name": SANDBOX_AGENT_NAME,
            }
        },
    )

    async def ring(secs: float) -> None:
        if sleep is not None:
            await sleep(secs)
        elif secs > 0:
            await anyio.sleep(secs / speed)

    def unauthorized(request: Request) -> JSONResponse | None:
        state.requests += 1
        if request.headers.get("authorization") != f"Bearer {state.api_key}":
            return _json({"success": False, "error": "Invalid or missing API key", "code": "UNAUTHORIZED"}, 401)
        return None

    async def outbound_call(request: Request) -> JSONResponse:
        if (refused := unauthorized(request)) is not None:
            return refused
        to_number = request.query_params.get("to_number")
        from_number = request.query_params.get("from_number")
        missing = [name for name, value in (("to_number", to_number), ("from_number", from_number)) if value is None]
        if missing:
            return _json({"detail": [{"type": "missing", "loc": ["query", n], "msg": "Field required"} for n in missing]}, 422)
        assert to_number is not None and from_number is not None
        if not (_E164.fullmatch(to_number) and _E164.fullmatch(from_number)):
            return _json({"detail": "Invalid phone number format"}, 400)
        line = state.from_numbers.get(from_number)
        if line is None:
            return _json({"detail": f"Phone number {from_number} not found or has no outbound agent assigned"}, 404)
        outcome = outcome_for(to_number)
        if outcome == "rejected":
            return _json({"detail": f"Agent '{TEXT_AGENT_NAME}' is a text-only agent and cannot make voice calls"}, 400)
        started = state.clock()
        await ring(RING_SECS[outcome])
        # The call was placed, answered or not: it has a session (and webhooks) either way.
        call = state.new_call(to_number, from_number, line["agent_id"], started, outcome, RING_SECS[outcome])
        if outcome == "no_answer":
            return _json({"detail": "Call timed out (no answer)"}, 408)
        if outcome == "busy":
            return _json({"success": False, "message": "Call failed: the line is busy", "code": "BUSY"})
        return _json(
            {
                "success": True,
                "message": "Call initiated successfully",
                "room_name": call.room_name,
                "agent": {"id": line["agent_id"], "name": line["agent_name"]},
                "from_number": from_number,
                "to_number": to_number,
            }
        )

    def known_call(request: Request) -> TalkCall | JSONResponse:
        call = state.calls.get(request.path_params["call_id"])
        if call is None:
            return _json({"success": False, "error": "Not found", "code": "not_found"}, 404)
        return call

    async def get_call(request: Request) -> JSONResponse:
        if (refused := unauthorized(request)) is not None:
            return refused
        call = known_call(request)
        if isinstance(call, JSONResponse):
            return call
        return _json({"success": True, "data": call.session(state.clock())})

    async def get_transcript(request: Request) -> JSONResponse:
        if (refused := unauthorized(request)) is not None:
            return refused
        call = known_call(request)
        if isinstance(call, JSONResponse):
            return call
        if call.status(state.clock()) != "completed":
            return _json({"detail": "Transcript not available: the call has not completed"}, 404)
        return _json({"success": True, "data": {"callId": call.call_id, "transcript": call.transcript()}})

    async def create_batch(request: Request) -> JSONResponse:
        if (refused := unauthorized(request)) is not None:
            return refused
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _json({"detail": [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}]}, 422)
        if not isinstance(body, dict):
            return _validation(("body", "fromPhoneNumberId"), ("body", "name"), ("body", "contacts"))
        missing = [("body", k) for k in ("fromPhoneNumberId", "name", "contacts") if body.get(k) in (None, "")]
        if missing:
            return _validation(*missing)
        contacts = body["contacts"]
        if not isinstance(contacts, list) or not 1 <= len(contacts) <= 10_000:
            return _json({"detail": "contacts must hold between 1 and 10,000 contacts"}, 400)
        for contact in contacts:
            phone = contact.get("phone") if isinstance(contact, dict) else None
            if not isinstance(phone, str) or not _E164.fullmatch(phone):
                return _json({"detail": f"Invalid phone number format: {phone}"}, 400)
        limits = {"concurrentCallLimit": (5, 1, 50), "maxAttempts": (3, 1, 10)}
        values: dict[str, int] = {}
        for key, (default, low, high) in limits.items():
            value = body.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                return _json({"detail": [{"type": "int_range", "loc": ["body", key], "msg": f"between {low} and {high}"}]}, 422)
            values[key] = value
        zone = body.get("timezone") or "UTC"
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            return _json({"detail": f"Invalid timezone '{zone}'"}, 400)
        line = next((v for v in state.from_numbers.values() if v["id"] == body["fromPhoneNumberId"]), None)
        if line is None:
            return _json({"detail": f"Phone number {body['fromPhoneNumberId']} not found"}, 404)
        now = state.clock()
        start = now
        if body.get("scheduledStartTime"):
            try:
                when = datetime.fromisoformat(str(body["scheduledStartTime"]).replace("Z", "+00:00"))
            except ValueError:
                return _json({"detail": f"Invalid scheduledStartTime '{body['scheduledStartTime']}'"}, 400)
            if when.tzinfo is None:
                when = when.replace(tzinfo=ZoneInfo(str(zone)))
            start = max(now, when.timestamp())
        job_id = stable_id("batch", now, len(state.jobs))
        concurrency = values["concurrentCallLimit"]
        job = SimJob(
            job_id=job_id,
            name=str(body["name"]),
            description=body.get("description"),
            from_phone_number_id=str(body["fromPhoneNumberId"]),
            created_at=now,
            start_at=start,
            scheduled=start > now,
            concurrency=concurrency,
            max_attempts=values["maxAttempts"],
            contacts=[
                SimContact(
                    contact_id=f"contact_{index + 1:05d}",
                    phone=c["phone"],
                    data={k: v for k, v in c.items() if k != "phone"},
                    start_at=start + (index // concurrency) * WAVE_SECS,
                )
                for index, c in enumerate(contacts)
            ],
        )
        state.jobs[job_id] = job
        minutes = ASSUMED_CALL_MINUTES * math.ceil(len(contacts) / concurrency)
        return _json(
            {
                "success": True,
                "batchJobId": job_id,
                "totalContacts": len(contacts),
                "estimatedDuration": f"{minutes} minutes",
                "estimatedCost": f"${len(contacts) * ASSUMED_CALL_MINUTES * USD_PER_MINUTE:,.2f}",
                "status": "scheduled" if job.scheduled else "running",
                "scheduledStartTime": _iso(start) if job.scheduled else None,
                "message": "Batch campaign created successfully",
            }
        )

    def known_job(request: Request) -> SimJob | JSONResponse:
        job = state.jobs.get(request.path_params["job_id"])
        if job is None:
            return _json({"detail": "Batch job not found"}, 404)
        return job

    def int_param(request: Request, name: str, default: int, high: int) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        return int(raw) if raw.isdigit() and 1 <= int(raw) <= high else None

    async def get_job(request: Request) -> JSONResponse:
        if (refused := unauthorized(request)) is not None:
            return refused
        job = known_job(request)
        if isinstance(job, JSONResponse):
            return job
        page = int_param(request, "contactsPage", 1, 10**6)
        size = int_param(request, "contactsPageSize", 50, 500)
        if page is None or size is None:
            return _json({"detail": [{"type": "int_range", "loc": ["query", "contactsPage"], "msg": "invalid page"}]}, 422)
        now = state.clock()
        state.advance(job, now)
        wanted = request.query_params.get("contactStatus")
        rows = [state.contact_json(job, c, now) for c in job.contacts]
        rows = [r for r in rows if wanted is None or r["status"] == wanted]
        shown = rows[(page - 1) * size : page * size]
        body = state.job_json(job, now, shown)
        body.update(contactsTotal=len(rows), contactsPage=page, contactsPageSize=size, contactsHasMore=page * size < len(rows))
        return _json(body)

    async def cancel_job(request: Request) -> JSONResponse:
        if (refused := unauthorized(request)) is not None:
            return refused
        job = known_job(request)
        if isinstance(job, JSONResponse):
            return job
        now = state.clock()
        status = state.job_json(job, now)["status"]
        if status in ("completed", "failed", "cancelled"):
            return _json({"detail": f"Cannot cancel job in '{status}' status"}, 400)
        job.cancelled_at = now
        cancelled = sum(1 for c in job.contacts if state.contact_status(job, c, now) == "cancelled")
        return _json(
            {
                "success": True,
                "message": "Scheduled job cancelled successfully" if status == "scheduled" else "Job cancelled successfully",
                "batchJobId": job.job_id,
                "redisJobCancelled": True,
                "contactsCancelled": cancelled,
            }
        )

    async def list_jobs(request: Request) -> JSONResponse:
        if (refused := unauthorized(request)) is not None:
            return refused
        organization = request.query_params.get("organizationId")
        if not organization:
            return _validation(("query", "organizationId"))
        page = int_param(request, "page", 1, 10**6)
        size = int_param(request, "pageSize", 20, 100)
        if page is None or size is None:
            return _json({"detail": "Invalid parameters: page >= 1, 1 <= pageSize <= 100"}, 400)
        now = state.clock()
        wanted = request.query_params.get("status")
        jobs = [] if organization != SANDBOX_ORGANIZATION_ID else [state.job_json(j, now) for j in state.jobs.values()]
        jobs = [j for j in reversed(jobs) if wanted is None or j["status"] == wanted]  # newest first
        return _json({"batchJobs": jobs[(page - 1) * size : page * size], "total": len(jobs), "page": page, "pageSize": size})

    app = Starlette(
        routes=[
            Route("/telephony/outbound-call", outbound_call, methods=["POST"]),
            Route("/calls/{call_id}", get_call, methods=["GET"]),
            Route("/calls/{call_id}/transcript", get_transcript, methods=["GET"]),
            Route("/batch/create", create_batch, methods=["POST"]),
            Route("/batch/jobs", list_jobs, methods=["GET"]),
            Route("/batch/jobs/{job_id}", get_job, methods=["GET"]),
            Route("/batch/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
        ]
    )
    app.state.sandbox = state
    return app
