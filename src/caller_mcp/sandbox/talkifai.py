"""An emulator of TalkifAI's outbound call (seed 004), as an ASGI (Starlette) app.

Mounted into the TalkifAI provider's ``httpx.AsyncClient`` with ``httpx.ASGITransport`` it lets
the real provider code run with no account; no real phone rings.

``POST /telephony/outbound-call?to_number=…&from_number=…`` follows seed 004's flow:

1. ``Authorization: Bearer <key>`` checked → 401 in the API introduction's envelope
   ``{"success": false, "error", "code"}`` (seed 004 shows no 401 body; ``openapi.json`` only
   refers to a shared ``Unauthorized`` response), so the client sees both documented error shapes;
2. both numbers E.164 → else 400 ``{"detail": "Invalid phone number format"}`` (``openapi.json``);
3. ``from_number`` registered with an outbound agent → else 404 (``openapi.json``'s text);
4. the agent can speak → else 400 ``Agent '…' is a text-only agent …`` (``openapi.json``'s text);
5. the request blocks while the callee's phone rings (sandbox seconds, scaled by the speed), then
   answers 200 with seed 004's fields, or 408 after 60 s without an answer.

Outcomes come from the destination's last four digits
(:data:`~caller_mcp.sandbox.simulation.MAGIC_SUFFIXES`): ``0001`` voicemail picks up (200),
``0002`` nobody answers (408 after 60 sandbox seconds), ``0003`` busy, ``0004`` the provider refuses
(the text-only-agent 400). Nothing documents TalkifAI's answer to a busy line; the emulator answers
200 with ``"success": false`` (the introduction's failure envelope), so the call reads as failed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..providers.talkifai.config import SANDBOX_AGENT_ID, SANDBOX_AGENT_NAME, SANDBOX_API_KEY, SANDBOX_FROM_NUMBER
from ..settings import SANDBOX_NOTE
from .app import SandboxClock
from .simulation import Outcome, outcome_for

_E164 = re.compile(r"^\+[1-9]\d{7,14}$", re.ASCII)

#: Sandbox seconds the callee's phone rings before the outcome is known (seed 004: 408 at 60 s).
RING_SECS: dict[str, float] = {"completed": 2.0, "voicemail": 4.0, "no_answer": 60.0, "busy": 1.0, "rejected": 0.0}
#: The text-only agent the emulator pretends is assigned when it refuses a call (``…0004``).
TEXT_AGENT_NAME = "Sandbox chat bot"


@dataclass
class TalkCall:
    """One emulated outbound call (kept for the call reading a later version will add)."""

    room_name: str
    to_number: str
    from_number: str
    agent_id: str
    started_at: float
    outcome: Outcome


class TalkifaiState:
    """What the emulated organization holds: its key, its numbers and the calls placed."""

    def __init__(self, api_key: str, clock: Callable[[], float], from_numbers: dict[str, dict[str, str]]) -> None:
        self.api_key = api_key
        self.clock = clock
        self.from_numbers = from_numbers
        self.calls: dict[str, TalkCall] = {}
        self.requests = 0

    def room_name(self, agent_id: str, to_number: str, now: float) -> str:
        """Seed 004's ``outbound_{agentId}_{toNumber}_{timestamp}``, made unique in this sandbox."""
        stamp = int(now)
        while (name := f"outbound_{agent_id}_{to_number.lstrip('+')}_{stamp}") in self.calls:
            stamp += 1
        return name


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
    """Build a fresh TalkifAI sandbox with one registered number (``SANDBOX_FROM_NUMBER``).

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
        {SANDBOX_FROM_NUMBER: {"agent_id": SANDBOX_AGENT_ID, "agent_name": SANDBOX_AGENT_NAME}},
    )

    async def ring(secs: float) -> None:
        if sleep is not None:
            await sleep(secs)
        elif secs > 0:
            await anyio.sleep(secs / speed)

    async def outbound_call(request: Request) -> JSONResponse:
        state.requests += 1
        if request.headers.get("authorization") != f"Bearer {state.api_key}":
            return _json({"success": False, "error": "Invalid or missing API key", "code": "UNAUTHORIZED"}, 401)
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
        if outcome == "no_answer":
            return _json({"detail": "Call timed out (no answer)"}, 408)
        if outcome == "busy":
            return _json({"success": False, "message": "Call failed: the line is busy", "code": "BUSY"})
        room = state.room_name(line["agent_id"], to_number, started)
        state.calls[room] = TalkCall(room, to_number, from_number, line["agent_id"], started, outcome)
        return _json(
            {
                "success": True,
                "message": "Call initiated successfully",
                "room_name": room,
                "agent": {"id": line["agent_id"], "name": line["agent_name"]},
                "from_number": from_number,
                "to_number": to_number,
            }
        )

    app = Starlette(routes=[Route("/telephony/outbound-call", outbound_call, methods=["POST"])])
    app.state.sandbox = state
    return app
