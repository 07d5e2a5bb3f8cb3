"""The sandbox's model of calls and batches: pure functions of the clock, no background tasks.

A call's state is computed from when it started, its outcome (chosen by the destination number,
see :data:`MAGIC_SUFFIXES`) and the current time, so reading is deterministic and time can be
sped up or driven by a test's own clock. Statuses and field names follow the ElevenLabs documents
(``shared/reference/README.md``: conversation statuses ``initiated | in-progress | processing |
done | failed``; batch recipient statuses ``pending | dispatched | initiated | in_progress |
completed | failed | cancelled | voicemail``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["completed", "voicemail", "no_answer", "busy", "rejected", "override_refused"]

#: Destination numbers ending in these digits give these outcomes; any other number completes.
MAGIC_SUFFIXES: dict[str, Outcome] = {
    "0001": "voicemail",
    "0002": "no_answer",
    "0003": "busy",
    "0004": "rejected",
}
OUTCOME_TEXT = {
    "completed": "the business answers and the caller completes its goal",
    "voicemail": "voicemail answers; the caller leaves no order",
    "no_answer": "nobody answers; the call fails after ringing",
    "busy": "the line is busy; the call fails at once (answered on a batch retry)",
    "rejected": "the provider refuses to place the call (`success: false`; a batch recipient fails)",
}
#: Sandbox seconds a refused conversation lasts (an override the agent does not allow).
_REFUSED_SECS = 1.0

# Phases in sandbox seconds: (ringing, talking, processing) before the conversation is final.
_TIMELINE: dict[str, tuple[float, float, float]] = {
    "completed": (2.0, 8.0, 2.0),
    "voicemail": (4.0, 4.0, 1.0),
    "no_answer": (10.0, 0.0, 0.0),
    "busy": (1.0, 0.0, 0.0),
    "rejected": (0.0, 0.0, 0.0),
    "override_refused": (_REFUSED_SECS, 0.0, 0.0),
}
TERMINATION_REASONS = {
    "completed": "Call ended by the caller after completing its goal.",
    "voicemail": "Voicemail detected.",
    "no_answer": "No answer.",
    "busy": "Line busy.",
    "rejected": "Call rejected by the carrier.",
    "override_refused": "Override not allowed by the agent's configuration.",
}
#: Recipients dispatched at once by a sandbox batch, and seconds between two such waves.
BATCH_CONCURRENCY = 2
BATCH_WAVE_SECS = 3.0
#: Seconds a dispatched recipient stays ``dispatched`` before its call starts ringing.
DISPATCH_SECS = 0.5


def outcome_for(number: str, attempt: int = 1) -> Outcome:
    """The sandbox outcome of dialling ``number`` (its last four digits; see :data:`MAGIC_SUFFIXES`).

    A busy line (``…0003``) answers on any later attempt (a batch retry).
    """
    outcome = MAGIC_SUFFIXES.get(number[-4:], "completed")
    if outcome == "busy" and attempt > 1:
        return "completed"
    return outcome


def stable_id(prefix: str, *parts: object) -> str:
    """A short deterministic id (``conv_…``) derived from ``parts``."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:24]
    return f"{prefix}_{digest}"


def serial_id(prefix: str, base: str, n: int) -> str:
    """The ``n``-th id of a series (``conv_…``): 12 hex digits of ``base`` (a :func:`stable_id`
    digest, which keeps series apart) and ``n`` in 12 more — the same shape as :func:`stable_id`,
    without a hash per id (a 50,000-recipient batch makes 100,000 of them)."""
    return f"{prefix}_{base[:12]}{n:012x}"


@dataclass(slots=True)
class SimCall:
    """One emulated phone conversation.

    Attributes:
        started_at: sandbox time (Unix seconds) at which the call was placed.
        prompt, first_message: the caller's instructions from the request's client data.
    """

    conversation_id: str
    call_sid: str
    agent_id: str
    phone_provider: str
    to_number: str
    prompt: str
    first_message: str
    started_at: float
    outcome: Outcome
    batch_id: str | None = None
    recipient_id: str | None = None
    #: Why the conversation was refused (an override the agent does not allow), if it was.
    refusal: str | None = None
    language: str = "en"
    ring_timeout_secs: int | None = None
    #: The ``conversation_initiation_client_data`` as received (echoed by the conversation GET).
    client_data: dict[str, Any] = field(default_factory=dict)

    def phase(self, now: float) -> str:
        """The ElevenLabs conversation status at ``now``: ``initiated``, ``in-progress``,
        ``processing``, ``done`` or ``failed``."""
        ring, talk, process = _TIMELINE[self.outcome]
        elapsed = now - self.started_at
        if self.outcome == "no_answer" and self.ring_timeout_secs is not None:
            ring = min(ring, float(self.ring_timeout_secs))  # telephony_call_config.ringing_timeout_secs
        if self.outcome in ("no_answer", "busy", "rejected", "override_refused"):
            return "initiated" if elapsed < ring else "failed"
        if elapsed < ring:
            return "initiated"
        if elapsed < ring + talk:
            return "in-progress"
        if elapsed < ring + talk + process:
            return "processing"
        return "done"

    def transcript(self, now: float) -> list[dict[str, Any]]:
        """The turns spoken by ``now``: the caller is ``agent``, the business line is ``user``."""
        ring, talk, _ = _TIMELINE[self.outcome]
        turns = _script_turns(self)
        elapsed = now - self.started_at - ring
        if talk <= 0 or elapsed <= 0:
            return []
        return [t for t in turns if t["time_in_call_secs"] <= elapsed]

    def duration_secs(self, now: float) -> int:
        """Seconds of conversation so far (0 until answered)."""
        ring, talk, _ = _TIMELINE[self.outcome]
        return int(max(0.0, min(now - self.started_at - ring, talk)))

    def conversation(self, now: float) -> dict[str, Any]:
        """The ``GET /v1/convai/conversations/{id}`` answer at ``now``."""
        status = self.phase(now)
        final = status in ("done", "failed")
        metadata: dict[str, Any] = {
            "start_time_unix_secs": int(self.started_at),
            "call_duration_secs": self.duration_secs(now),
            "termination_reason": (self.refusal or TERMINATION_REASONS[self.outcome]) if final else None,
            "cost": self.duration_secs(now) * 10 if final else None,
            # USD beside the credits (``cost_fiat``): about $0.10 a minute of conversation.
            "cost_fiat": round(self.duration_secs(now) / 60 * 0.10, 6) if final else None,
            "phone_call": {
                "direction": "outbound",
                "type": self.phone_provider,
                "call_sid": self.call_sid,
                "external_number": self.to_number,
            },
        }
        if self.batch_id:
            metadata["batch_call"] = {"batch_call_id": self.batch_id, "batch_call_recipient_id": self.recipient_id}
        analysis = None
        if status == "done" or status == "failed":
            analysis = {
                "call_successful": "success" if self.outcome == "completed" else "failure",
                "transcript_summary": _summary(self),
                "evaluation_criteria_results": {},
                "data_collection_results": {},
            }
        return {
            "agent_id": self.agent_id,
            "conversation_id": self.conversation_id,
            "status": status,
            "transcript": self.transcript(now),
            "metadata": metadata,
            "analysis": analysis,
            "has_audio": status == "done",
            "conversation_initiation_client_data": self.client_data,
        }


def _first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0].strip()
    if len(sentence) > 160:
        sentence = sentence[:157].rstrip() + "…"
    return sentence if sentence.endswith((".", "!", "?", "…")) else sentence + "."


def _goal_of(call: SimCall) -> str:
    match = re.search(r"Caller goal:\s*(.+)", call.prompt)
    if match:
        return match.group(1).strip()
    first = call.first_message
    return first.split("I'd like to", 1)[1].strip(" .") if "I'd like to" in first else "get some help"


def _business_of(call: SimCall) -> str:
    match = re.search(r"Business description:\s*(.+?)(?:\n\s*\n|\n?Caller goal:|$)", call.prompt, re.S)
    return match.group(1).strip() if match else "a local business"


_STOPWORDS = frozenset(
    "a an and are as at be but by can do for from get have i if in is it its me my of on or our so "
    "that the their them then there this to us we what when where which who will with you your "
    "like would want please today call calling".split()
)


def _words(text: str) -> set[str]:
    """Content words of ``text``, cut to 4 letters as a crude stem (``opening`` ~ ``open``)."""
    return {w[:4] for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in _STOPWORDS and len(w) > 1}


def _answer_from(business: str, goal: str) -> str | None:
    """The sentence of the business description that shares the most words with the caller's
    goal (how the emulated business line answers), or ``None`` when none shares any."""
    goal_words = _words(goal)
    best, best_score = None, 0
    for sentence in re.split(r"(?<=[.!?])\s+", business.strip())[1:] or []:
        score = len(goal_words & _words(sentence))
        if score > best_score:
            best, best_score = sentence.strip(), score
    return best


def _script_turns(call: SimCall) -> list[dict[str, Any]]:
    """The whole conversation of a call, built from its prompt and first message."""
    if call.outcome == "voicemail":
        return [
            {"role": "user", "message": "Hi, you've reached our voicemail. Please leave a message after the tone.", "time_in_call_secs": 0},
            {"role": "agent", "message": "Hi, I'll call back later. Thank you.", "time_in_call_secs": 3},
        ]
    goal = _goal_of(call)
    business = _business_of(call)
    greeting = f"Thanks for calling! {_first_sentence(business)} How can I help you today?"
    answer = _answer_from(business, goal)
    reply = f"Sure. {answer} Can I get a name for that?" if answer else f"Sure, I can help you {goal}. Can I get a name for that?"
    return [
        {"role": "user", "message": greeting, "time_in_call_secs": 0},
        {"role": "agent", "message": call.first_message or f"Hi, I'd like to {goal}.", "time_in_call_secs": 1},
        {"role": "user", "message": reply, "time_in_call_secs": 3},
        {"role": "agent", "message": "It's Sam. Thanks!", "time_in_call_secs": 5},
        {"role": "user", "message": "All set, Sam. Is there anything else?", "time_in_call_secs": 6},
        {"role": "agent", "message": "No, that's everything. Goodbye!", "time_in_call_secs": 7},
    ]


def _summary(call: SimCall) -> str:
    goal = _goal_of(call)
    if call.outcome == "completed":
        answer = _answer_from(_business_of(call), goal)
        said = f" The business said: {answer}" if answer else " The business confirmed it."
        return f"The caller's goal was to {goal}.{said} The goal was met and the call ended politely."
    if call.outcome == "voicemail":
        return "The call reached voicemail; the caller did not complete its goal."
    return f"The call did not connect ({TERMINATION_REASONS[call.outcome].rstrip('.').lower()})."


@dataclass(slots=True)
class SimRecipient:
    """One recipient of an emulated batch; ``start_at`` is when its current attempt is dispatched."""

    recipient_id: str
    phone_number: str
    client_data: dict[str, Any] | None
    start_at: float
    created_at: float
    attempt: int = 1
    call: SimCall | None = None
    #: When a retry set it pending again (sandbox Unix seconds), if ever.
    retried_at: float | None = None


@dataclass(slots=True)
class SimBatch:
    """One emulated batch call."""

    batch_id: str
    name: str
    agent_id: str
    phone_number_id: str
    phone_provider: str
    created_at: float
    scheduled_time: float
    recipients: list[SimRecipient] = field(default_factory=list)
    cancelled_at: float | None = None
    #: Recipients dispatched per wave: ``target_concurrency_limit``, else :data:`BATCH_CONCURRENCY`.
    concurrency: int = BATCH_CONCURRENCY
    #: ``telephony_call_config.ringing_timeout_secs`` of the submit, for every recipient's call.
    ring_timeout_secs: int | None = None


_RECIPIENT_STATUS_OF_PHASE = {
    "initiated": "initiated",
    "in-progress": "in_progress",
    "processing": "in_progress",
}


def recipient_status(batch: SimBatch, recipient: SimRecipient, now: float) -> str:
    """A recipient's status at ``now`` (see the module docstring for the values)."""
    if batch.cancelled_at is not None and recipient.start_at >= batch.cancelled_at:
        return "cancelled"
    if now < recipient.start_at:
        return "pending"
    call = recipient.call
    if call is None or now < call.started_at:
        return "dispatched"
    phase = call.phase(now)
    if phase == "done":
        return "voicemail" if call.outcome == "voicemail" else "completed"
    if phase == "failed":
        return "failed"
    return _RECIPIENT_STATUS_OF_PHASE[phase]


def last_change(batch: SimBatch, recipient: SimRecipient, now: float) -> float:
    """When ``recipient``'s status last changed at or before ``now`` (sandbox Unix seconds):
    created, retried, dispatched, ringing, answered, ended, or cancelled."""
    latest = recipient.created_at
    if recipient.retried_at is not None and recipient.retried_at <= now:
        latest = max(latest, recipient.retried_at)
    if batch.cancelled_at is not None and recipient.start_at >= batch.cancelled_at:
        return max(latest, min(batch.cancelled_at, now))
    if recipient.start_at > now:
        return latest
    latest = max(latest, recipient.start_at)
    call = recipient.call
    if call is None or call.started_at > now:
        return latest
    ring, talk, process = _TIMELINE[call.outcome]
    for moment in (call.started_at + ring + talk + process, call.started_at + ring, call.started_at):
        if moment <= now:
            return max(latest, moment)
    return latest


def batch_status(batch: SimBatch, statuses: list[str]) -> str:
    """The batch status given its recipients' statuses: ``pending``, ``in_progress``,
    ``completed`` or ``cancelled``."""
    if batch.cancelled_at is not None:
        return "cancelled"
    if all(s == "pending" for s in statuses):
        return "pending"
    if all(s in ("completed", "failed", "voicemail", "cancelled") for s in statuses):
        return "completed"
    return "in_progress"
