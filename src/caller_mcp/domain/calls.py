"""A call in caller-mcp's own terms, whatever provider placed it.

Pure data and rules, no I/O. A provider maps its own JSON onto these types (``providers/…``);
everything above the providers speaks only of them.

- A **call** has a local id (``call_…``), the name of the provider that placed it, and the
  provider's reference for it (``provider_ref``: ElevenLabs' conversation id, TalkifAI's room
  name) plus, where the telephony layer gives one, a ``telephony_ref`` (Twilio call SID, SIP call
  id).
- Its **status** is one of :data:`CALL_STATUSES`, whatever the provider calls it; the provider's
  own value is kept beside it.
- A **transcript turn** is said by the ``caller`` (our AI caller) or the ``business`` (the line
  under test).
- A **cost** carries its unit (``credits``, ``USD``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .script import CallerScript

#: The normalised call statuses, in lifecycle order. ``unknown`` is only for a local record whose
#: request may have reached the provider but got no answer (``outcome_unknown``).
CALL_STATUSES = ("queued", "ringing", "in_progress", "processing", "done", "failed", "unknown")
#: Statuses after which nothing changes any more.
FINAL_STATUSES = frozenset({"done", "failed", "unknown"})
#: Local record statuses (``store/``) before the provider reports: intent written, accepted,
#: refused (nothing dialled), or the request may have arrived without an answer; and, for a
#: provider whose call-placing request blocks until the callee answers (TalkifAI, seed 004), the
#: answer itself: ``answered`` or ``no_answer`` (rang unanswered, e.g. TalkifAI's 408).
RECORD_STATUSES = ("dialling", "initiated", "answered", "no_answer", "failed", "outcome_unknown")
#: Local record status → normalised status.
_RECORD = {
    "dialling": "queued",
    "initiated": "queued",
    "answered": "in_progress",
    "no_answer": "failed",
    "failed": "failed",
    "outcome_unknown": "unknown",
}
#: The analysis verdicts a provider may give on a call.
OUTCOMES = ("success", "failure", "unknown")

Role = Literal["caller", "business"]


def record_status(status: str) -> str:
    """The normalised status of a local call record.

    Args:
        status: a provider-reported normalised value (kept) or a local lifecycle value
            (:data:`RECORD_STATUSES`, mapped).
    Returns:
        One of :data:`CALL_STATUSES` (``queued`` for anything unrecognised).
    """
    return status if status in CALL_STATUSES else _RECORD.get(status, "queued")


@dataclass(frozen=True)
class Cost:
    """What a call cost, in the unit the provider reports.

    Attributes:
        amount: the number, in ``unit``.
        unit: ``credits`` (ElevenLabs' ``metadata.cost``) or ``USD``.
    """

    amount: float
    unit: str


@dataclass(frozen=True)
class Turn:
    """One spoken turn of a transcript.

    Attributes:
        role: ``caller`` (our AI caller) or ``business`` (the line under test); a provider
            role that maps to neither is kept as given.
        message: what was said (turns without words are left out by the providers).
        secs: seconds from the start of the call, when known.
    """

    role: str
    message: str
    secs: float | None = None


@dataclass(frozen=True)
class CallRequest:
    """One call to place: where, and what the caller is told.

    Attributes:
        to_number: E.164, already through the dial policy.
        script: the caller script (seed 002 prompt and first message, and overrides).
    """

    to_number: str
    script: CallerScript


@dataclass(frozen=True)
class PlacedCall:
    """A provider's answer to a call it accepted.

    Attributes:
        message: the provider's message (``Outbound call initiated successfully.``).
        provider_ref: the provider's reference for the call (conversation id, room name), when given.
        telephony_ref: Twilio call SID or SIP call id, when given.
        line: how the call left the provider (``twilio``, ``sip_trunk``), when it says.
        raw: the provider's JSON answer as received (never holds a secret).
        status: ``None`` when the provider only accepted the call (ElevenLabs: record it as
            ``initiated``); a :data:`RECORD_STATUSES` value when its answer already tells how the
            call went (TalkifAI blocks until ``answered``, or says ``no_answer`` with a 408).
    """

    message: str
    provider_ref: str | None = None
    telephony_ref: str | None = None
    line: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    status: str | None = None


@dataclass(frozen=True)
class CallReport:
    """What a provider reports on one call; analysis fields are final only at ``done``.

    Attributes:
        provider_ref: the provider's reference (conversation id).
        status: normalised (:data:`CALL_STATUSES`). provider_status: the provider's own value.
        to_number: the line that was called (E.164), when reported.
        telephony_ref: call SID, when reported.
        started_at: Unix seconds. duration_secs: seconds.
        termination_reason: the provider's words for why the call ended (untrusted text).
        outcome: :data:`OUTCOMES` value from the provider's analysis.
        summary: the provider's summary (untrusted text).
        evaluations: ``{id: {result, rationale}}`` from the provider's analysis.
        data_collected: ``{id: {value, rationale}}``.
        cost: with its unit; cost_usd: the fiat cost in USD where reported.
        batch_id, batch_recipient_id: set for a batch recipient's call.
        transcript: the spoken turns, in order.
        recording_url: where the provider keeps the call's audio, when it says (TalkifAI's
            ``recordingUrl``).
    """

    provider_ref: str
    status: str
    provider_status: str
    to_number: str | None = None
    telephony_ref: str | None = None
    started_at: float | None = None
    duration_secs: float | None = None
    termination_reason: str | None = None
    outcome: str | None = None
    summary: str | None = None
    evaluations: dict[str, Any] = field(default_factory=dict)
    data_collected: dict[str, Any] = field(default_factory=dict)
    cost: Cost | None = None
    cost_usd: float | None = None
    batch_id: str | None = None
    batch_recipient_id: str | None = None
    transcript: tuple[Turn, ...] = ()
    recording_url: str | None = None

    @property
    def final(self) -> bool:
        """True when nothing about the call will change any more."""
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class LlmPrice:
    """What the provider charges per minute for the language model of the agent that plays the
    caller (ElevenLabs' ``POST /v1/convai/llm-usage/calculate``, seed ``003_…``): the LLM part of
    a call's price only — telephony and voice are not in it.

    Attributes:
        llm: the agent's model (``conversation_config.agent.prompt.llm``), e.g. ``gemini-2.0-flash``.
        usd_per_minute: the price per minute of conversation, USD, as the endpoint gives it.
        prompt_length: the caller prompt's length in characters the price was asked for.
    """

    llm: str
    usd_per_minute: float
    prompt_length: int


def llm_estimate_usd(price: LlmPrice, calls: int, expected_minutes: float) -> float:
    """The approximate LLM cost of ``calls`` calls of ``expected_minutes`` each, USD:
    ``usd_per_minute × expected_minutes × calls``, rounded to 6 places."""
    return round(price.usd_per_minute * expected_minutes * calls, 6)
