"""ElevenLabs JSON ↔ caller-mcp's domain types. Pure functions, no I/O.

Bodies follow ``shared/reference``: ``001_…`` / ``000_…`` (outbound calls,
``conversation_initiation_client_data``), ``003_…`` (batch calling) and the conversation fields
listed in ``shared/reference/README.md`` (``GET /v1/convai/conversations/{id}``).
"""

from __future__ import annotations

from typing import Any

from ...domain.batches import BatchReport, LazyRecipients, RecipientReport, RecipientState
from ...domain.calls import CallReport, Cost, Turn
from ...domain.script import CallerScript
from ...errors import ProviderError

#: ``GET /v1/convai/conversations/{id}`` status (note the hyphen) → normalised call status.
CONVERSATION_STATUS = {
    "initiated": "ringing",
    "in-progress": "in_progress",
    "in_progress": "in_progress",
    "processing": "processing",
    "done": "done",
    "failed": "failed",
}
#: ElevenLabs transcript roles → ours: its ``agent`` is *our* AI caller, its ``user`` the business
#: line under test (which may itself be a voice agent, so ElevenLabs' names would mislead).
ROLES = {"agent": "caller", "user": "business"}


def conversation_status(provider_status: str) -> str:
    """Normalise a conversation status; ``processing`` for a value this version does not know
    (the call exists and has not been reported final)."""
    return CONVERSATION_STATUS.get(provider_status, "processing")


def client_data(script: CallerScript, script_mode: str = "override") -> dict[str, Any]:
    """The ``conversation_initiation_client_data`` of an outbound call or batch recipient (``001_…``).

    ``script_mode`` (``ELEVENLABS_SCRIPT_MODE``):

    - ``override`` (seed 002): ``conversation_config_override.agent.prompt.prompt`` carries the
      caller prompt. ElevenLabs replaces the agent's whole prompt object with it, tools included
      (``shared/reference/README.md``).
    - ``variables``: no prompt override; ``dynamic_variables.business_description`` and
      ``.scenario`` fill the agent's own prompt (:data:`~caller_mcp.domain.script.AGENT_PROMPT_TEMPLATE`).

    Both send the first message. The call's overrides add ``agent.language``, ``tts.voice_id``
    and their own ``dynamic_variables`` (the ring timeout goes in ``telephony_call_config``,
    see :func:`telephony_call_config`). The agent must allow each overridden field in its
    ``platform_settings.overrides``.
    """
    extra = script.overrides
    agent: dict[str, Any] = {}
    variables: dict[str, Any] = extra.variables()
    if script_mode == "variables":
        variables.update(business_description=script.business_description, scenario=script.scenario)
    else:
        agent["prompt"] = {"prompt": script.prompt}
    agent["first_message"] = script.first_message
    if extra.language:
        agent["language"] = extra.language
    override: dict[str, Any] = {"agent": agent}
    if extra.voice_id:
        override["tts"] = {"voice_id": extra.voice_id}
    data: dict[str, Any] = {"conversation_config_override": override}
    if variables:
        data["dynamic_variables"] = variables
    return data


def telephony_call_config(ring_timeout_secs: int | None) -> dict[str, Any] | None:
    """``telephony_call_config`` of an outbound call or a batch: ``{ringing_timeout_secs}``, or
    ``None`` when no ring timeout is set (the field is then left out)."""
    return None if ring_timeout_secs is None else {"ringing_timeout_secs": ring_timeout_secs}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _keyed(results: dict[str, Any], id_field: str) -> dict[str, Any]:
    """``analysis`` results keyed by their own id field (``criteria_id``, ``data_collection_id``)."""
    out: dict[str, Any] = {}
    for key, value in results.items():
        value = value if isinstance(value, dict) else {"value": value}
        out[str(value.get(id_field) or key)] = value
    return out


def call_report(answer: dict[str, Any], conversation_id: str) -> CallReport:
    """Convert a ``GET /v1/convai/conversations/{id}`` body to a :class:`CallReport`.

    Tolerant of what the provider leaves out (``analysis`` is ``null`` until the call is
    processed; ``metadata`` may lack any field): a missing value becomes ``None`` or empty.
    Transcript turns without words (tool calls) are skipped. ``metadata.cost`` is in credits;
    ``metadata.cost_fiat`` in USD.

    Raises:
        ProviderError: the body has no ``status``.
    """
    if not isinstance(answer, dict) or not isinstance(answer.get("status"), str):
        raise ProviderError("The provider's conversation answer has no status.")
    metadata = _dict(answer.get("metadata"))
    analysis = _dict(answer.get("analysis"))
    phone_call = _dict(metadata.get("phone_call"))
    batch_call = _dict(metadata.get("batch_call"))
    turns = []
    for turn in answer.get("transcript") or []:
        if not isinstance(turn, dict):
            continue
        message = turn.get("message")
        if not isinstance(message, str) or not message.strip():
            continue
        role = str(turn.get("role") or "unknown")
        turns.append(Turn(role=ROLES.get(role, role), message=message, secs=_number(turn.get("time_in_call_secs"))))
    start = _number(metadata.get("start_time_unix_secs"))
    cost = _number(metadata.get("cost"))
    return CallReport(
        provider_ref=_str(answer.get("conversation_id")) or conversation_id,
        status=conversation_status(answer["status"]),
        provider_status=answer["status"],
        to_number=_str(phone_call.get("external_number")),
        telephony_ref=_str(phone_call.get("call_sid")),
        started_at=int(start) if start is not None else None,
        duration_secs=_number(metadata.get("call_duration_secs")),
        termination_reason=_str(metadata.get("termination_reason")),
        outcome=_str(analysis.get("call_successful")),
        summary=_str(analysis.get("transcript_summary")),
        evaluations=_keyed(_dict(analysis.get("evaluation_criteria_results")), "criteria_id"),
        data_collected=_keyed(_dict(analysis.get("data_collection_results")), "data_collection_id"),
        cost=Cost(cost, "credits") if cost is not None else None,
        cost_usd=_number(metadata.get("cost_fiat")),
        batch_id=_str(batch_call.get("batch_call_id")),
        batch_recipient_id=_str(batch_call.get("batch_call_recipient_id")),
        transcript=tuple(turns),
    )


def _recipient(r: dict[str, Any]) -> RecipientReport:
    """One ``BatchCallRecipient`` object (``003_…``) as a :class:`RecipientReport`."""
    status = str(r.get("status") or "pending")
    return RecipientReport(
        recipient_id=_str(r.get("id")),
        phone_number=_str(r.get("phone_number")),
        status=status,
        provider_status=status,
        call_ref=_str(r.get("conversation_id")),
        created_at=_number(r.get("created_at_unix")),
        updated_at=_number(r.get("updated_at_unix")),
    )


def _recipient_states(raw: list[dict[str, Any]]) -> list[RecipientState]:
    """:func:`_recipient`'s ``(status, provider_status, call_ref, phone_number, recipient_id)`` of
    every recipient object, without building the objects."""
    states: list[RecipientState] = []
    append = states.append
    for r in raw:
        status = r.get("status") or "pending"
        status = status if type(status) is str else str(status)
        append((status, status, _str(r.get("conversation_id")), _str(r.get("phone_number")), _str(r.get("id"))))
    return states


def batch_report(answer: Any) -> BatchReport:
    """Convert a ``BatchCallResponse`` / ``BatchCallDetailedResponse`` body (``003_…``) to a
    :class:`BatchReport`.

    Raises:
        ProviderError: the body lacks the batch id.
    """
    if not isinstance(answer, dict) or not answer.get("id"):
        raise ProviderError("The provider's batch answer has no batch id.")
    raw = [r for r in answer.get("recipients") or [] if isinstance(r, dict)]
    recipients = LazyRecipients(raw, _recipient, _recipient_states)
    created = _number(answer.get("created_at_unix"))
    scheduled = _number(answer.get("scheduled_time_unix"))
    return BatchReport(
        batch_id=str(answer["id"]),
        name=str(answer.get("name") or ""),
        status=str(answer.get("status") or "pending"),
        created_at=created,
        scheduled_time_unix=int(scheduled) if scheduled is not None else None,
        last_updated_at=_number(answer.get("last_updated_at_unix")),
        total_calls_scheduled=int(answer.get("total_calls_scheduled") or 0),
        total_calls_dispatched=int(answer.get("total_calls_dispatched") or 0),
        recipients=recipients,
        raw={k: v for k, v in answer.items() if k != "recipients"},
    )
