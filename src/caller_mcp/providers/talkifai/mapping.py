"""TalkifAI JSON ↔ caller-mcp's domain types. Pure functions, no I/O.

The outbound call's answer follows seed 004 (``shared/reference/004_…``), which ``openapi.json``
repeats: ``success``, ``message``, ``room_name``, ``agent{id, name}``, ``from_number``,
``to_number``. A 200 answer means the callee picked up (the request blocks until then).
"""

from __future__ import annotations

from typing import Any

from ...domain.calls import PlacedCall
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
