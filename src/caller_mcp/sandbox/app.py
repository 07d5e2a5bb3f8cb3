"""An emulator of the ElevenLabs Conversational AI endpoints caller-mcp uses, as an ASGI (Starlette) app.

Mounted into the provider's ``httpx.AsyncClient`` with ``httpx.ASGITransport`` it lets the real
provider code run with no account; ``caller-mcp sandbox-api --port N`` serves it on loopback.

Endpoints (paths, bodies and answers as in ``shared/reference``):

- ``GET  /v1/convai/phone-numbers/{id}``
- ``POST /v1/convai/twilio/outbound-call`` and ``POST /v1/convai/sip-trunk/outbound-call``
- ``POST /v1/convai/batch-calling/submit``, ``GET /v1/convai/batch-calling/workspace``,
  ``GET /v1/convai/batch-calling/{id}``, ``POST …/{id}/cancel``, ``POST …/{id}/retry``
- ``GET  /v1/convai/conversations/{id}``
- ``GET  /v1/convai/agents/{id}`` (its LLM, prompt and allowed overrides) and
  ``POST /v1/convai/llm-usage/calculate`` (believable prices per minute, :func:`llm_price_per_minute`)

Each request's work runs on a worker thread, one request at a time (the account's lock), with
``orjson`` reading and writing the bodies: a 50,000-recipient batch (a 35 MB request, a 41 MB
answer) never holds the event loop of the server it is mounted in. A large batch body is parsed
a piece of its recipients at a time (:func:`_batch_body`), so no single parse holds the
interpreter for long either. Recipients whose client data is the same share one copy of it, and
their calls one filled prompt.

It checks the ``xi-api-key`` header (401 ``invalid_api_key``) and request bodies (422 with a
``detail`` list of ``{loc, msg, type}``, 404 for unknown agents, phone numbers, batches and
conversations) the way the real API does. Every JSON answer carries ``"provider": "sandbox"`` and
a note that no real phone was dialled. Outcomes come from the destination's last digits
(:data:`~caller_mcp.sandbox.simulation.MAGIC_SUFFIXES`).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import anyio
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..providers.elevenlabs.config import (
    SANDBOX_AGENT_ID,
    SANDBOX_API_KEY,
    SANDBOX_PHONE_NUMBER_ID,
    SANDBOX_SIP_PHONE_NUMBER_ID,
)
from ..domain.script import AGENT_PROMPT_TEMPLATE
from ..settings import SANDBOX_NOTE
from .simulation import (
    BATCH_CONCURRENCY,
    BATCH_WAVE_SECS,
    DISPATCH_SECS,
    SimBatch,
    SimCall,
    SimRecipient,
    batch_status,
    last_change,
    outcome_for,
    recipient_status,
    serial_id,
    stable_id,
)

_E164 = re.compile(r"^\+[1-9]\d{7,14}$", re.ASCII)

#: The phone numbers the sandbox account owns.
PHONE_NUMBERS = {
    SANDBOX_PHONE_NUMBER_ID: {"phone_number": "+15550100000", "label": "Sandbox Twilio line", "provider": "twilio"},
    SANDBOX_SIP_PHONE_NUMBER_ID: {"phone_number": "+15550100001", "label": "Sandbox SIP trunk", "provider": "sip_trunk"},
}
#: The agents the sandbox account holds, shaped like ``GET /v1/convai/agents/{agent_id}``'s
#: fields caller-mcp reads: its LLM, its own prompt and first message (seed 002's caller prompt
#: with ``{{business_description}}`` / ``{{scenario}}``, as the README tells users to paste), and
#: which ``conversation_config_override`` fields it allows (``platform_settings.overrides``).
AGENTS: dict[str, dict[str, Any]] = {
    SANDBOX_AGENT_ID: {
        "name": "Sandbox caller",
        "llm": "gemini-2.0-flash",
        "prompt": AGENT_PROMPT_TEMPLATE,
        "first_message": "Hi, I'm calling about {{scenario}}.",
        "language": "en",
        "allowed_overrides": ("agent.prompt.prompt", "agent.first_message", "agent.language", "tts.voice_id"),
    }
}
#: The sandbox's LLM price list (``POST /v1/convai/llm-usage/calculate``): USD per million input
#: tokens, from which a believable price per minute is derived for a prompt length.
LLM_INPUT_USD_PER_MTOK = {
    "gemini-2.0-flash": 0.10,
    "gemini-2.5-flash": 0.30,
    "gpt-4o-mini": 0.15,
    "gpt-4o": 2.50,
    "gpt-4.1-mini": 0.40,
    "claude-haiku-4-5": 1.00,
    "claude-sonnet-4-5": 3.00,
}
#: Turns per minute of conversation, and tokens each turn adds beyond the prompt.
_TURNS_PER_MINUTE = 4
_TOKENS_PER_TURN = 300


def llm_price_per_minute(llm: str, prompt_length: int) -> float:
    """The sandbox's price per minute for ``llm`` with a prompt of ``prompt_length`` characters:
    every turn sends the prompt (about 4 characters a token) and the conversation so far."""
    tokens = _TURNS_PER_MINUTE * (prompt_length / 4 + _TOKENS_PER_TURN)
    return round(tokens * LLM_INPUT_USD_PER_MTOK[llm] / 1_000_000, 6)


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


class SandboxClock:
    """Sandbox time: real time sped up by ``speed`` from the moment the clock is made.

    Args:
        speed: sandbox seconds per real second (1 = real time).
        source: the underlying clock (``time.time`` by default; tests pass their own).
    """

    def __init__(self, speed: float = 1.0, source: Callable[[], float] = time.time) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._source = source
        self._origin = source()

    def __call__(self) -> float:
        """Current sandbox time, Unix seconds."""
        return self._origin + (self._source() - self._origin) * self.speed


class ManualClock:
    """A clock that only moves when told: ``clock.advance(secs)``. For tests."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, secs: float) -> None:
        """Move time forward by ``secs`` seconds."""
        self.now += secs


class _ApiError(Exception):
    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail


def _error(status: int, code: str, message: str) -> _ApiError:
    return _ApiError(status, {"status": code, "message": message})


def _missing(name: str) -> _ApiError:
    return _ApiError(422, [{"type": "missing", "loc": ["body", name], "msg": "Field required"}])


class SandboxState:
    """Everything the emulated account holds: calls and batches. Times come from ``clock``."""

    def __init__(self, api_key: str, clock: Callable[[], float]) -> None:
        self.api_key = api_key
        self.clock = clock
        self.calls: dict[str, SimCall] = {}
        self.batches: dict[str, SimBatch] = {}
        self._counter = itertools.count(1)
        #: Held by each request's work (on a worker thread): one request at a time, as one account.
        self.lock = threading.Lock()
        #: One copy of each distinct client data (keyed by its canonical JSON), shared by the
        #: recipients and calls that carry it.
        self._client_data: dict[bytes, dict[str, Any]] = {}
        #: What a call is placed with, per (agent, client data object): the calls that share one
        #: client data share one filled prompt (the object is kept, so its id is never reused).
        self._scripts: dict[tuple[str, int], tuple[Any, str, str, str | None, str]] = {}
        # A per-account salt keeps ids unique across sandbox instances (and server restarts).
        self.salt = uuid.uuid4().hex
        self._conversation_base = stable_id("conv", self.salt)[len("conv_") :]

    # -- helpers -------------------------------------------------------------------------------

    def shared(self, client_data: dict[str, Any] | None) -> dict[str, Any] | None:
        """The one stored copy of ``client_data`` (equal client data, one object)."""
        if client_data is None:
            return None
        key = orjson.dumps(client_data, option=orjson.OPT_SORT_KEYS)
        return self._client_data.setdefault(key, client_data)

    def check_key(self, request: Request) -> None:
        if request.headers.get("xi-api-key") != self.api_key:
            raise _error(401, "invalid_api_key", "Invalid API key")

    def check_agent(self, agent_id: Any) -> str:
        if not isinstance(agent_id, str) or not agent_id:
            raise _ApiError(422, [{"type": "string_type", "loc": ["body", "agent_id"], "msg": "Input should be a valid string"}])
        if agent_id not in AGENTS:
            raise _error(404, "agent_not_found", f"Agent {agent_id} not found")
        return agent_id

    def check_phone_number(self, phone_number_id: Any) -> dict[str, str]:
        if not isinstance(phone_number_id, str) or not phone_number_id:
            raise _ApiError(
                422, [{"type": "string_type", "loc": ["body", "agent_phone_number_id"], "msg": "Input should be a valid string"}]
            )
        if phone_number_id not in PHONE_NUMBERS:
            raise _error(404, "phone_number_not_found", f"Phone number {phone_number_id} not found")
        return PHONE_NUMBERS[phone_number_id]

    def new_call(
        self, *, agent_id: str, phone_provider: str, to_number: str, client_data: Any, started_at: float,
        attempt: int = 1, batch_id: str | None = None, recipient_id: str | None = None,
        ring_timeout_secs: int | None = None,
    ) -> SimCall:
        n = next(self._counter)
        data = client_data or {}
        key = (agent_id, id(client_data) if client_data else 0)  # 0: no client data
        script = self._scripts.get(key)
        if script is None or (client_data and script[0] is not client_data):
            script = self._scripts[key] = (client_data or None, *_script(agent_id, data))
        _, prompt, first_message, refused, language = script
        conversation_id = serial_id("conv", self._conversation_base, n)
        digest = conversation_id[len("conv_") :]
        call = SimCall(
            conversation_id=conversation_id,
            call_sid="CA" + digest if phone_provider == "twilio" else "sip_" + digest,  # Twilio call SIDs: "CA" + hex
            agent_id=agent_id,
            phone_provider=phone_provider,
            to_number=to_number,
            prompt=prompt,
            first_message=first_message,
            started_at=started_at,
            outcome="override_refused" if refused else outcome_for(to_number, attempt),
            refusal=refused,
            language=language,
            client_data=data,
            batch_id=batch_id,
            recipient_id=recipient_id,
            ring_timeout_secs=ring_timeout_secs,
        )
        self.calls[call.conversation_id] = call
        return call

    def batch_json(self, batch: SimBatch, *, with_recipients: bool) -> dict[str, Any]:
        now = self.clock()
        statuses = [recipient_status(batch, r, now) for r in batch.recipients]
        # When anything in the batch last changed: a poll that sees the same time and counts has nothing new.
        changes = [batch.created_at, *(last_change(batch, r, now) for r in batch.recipients)]
        if batch.cancelled_at is not None and batch.cancelled_at <= now:
            changes.append(batch.cancelled_at)
        answer: dict[str, Any] = {
            "id": batch.batch_id,
            "phone_number_id": batch.phone_number_id,
            "phone_provider": batch.phone_provider,
            "name": batch.name,
            "agent_id": batch.agent_id,
            "agent_name": AGENTS[batch.agent_id]["name"] if batch.agent_id in AGENTS else batch.agent_id,
            "created_at_unix": int(batch.created_at),
            "scheduled_time_unix": int(batch.scheduled_time),
            "total_calls_dispatched": sum(1 for s in statuses if s not in ("pending", "cancelled")),
            "total_calls_scheduled": len(batch.recipients),
            "last_updated_at_unix": int(max(changes)),
            "status": batch_status(batch, statuses),
        }
        if with_recipients:
            answer["recipients"] = [
                {
                    "id": r.recipient_id,
                    "phone_number": r.phone_number,
                    "status": status,
                    "created_at_unix": int(r.created_at),
                    "updated_at_unix": int(min(now, max(r.start_at, r.created_at))),
                    "conversation_id": r.call.conversation_id if r.call and status not in ("pending", "cancelled") else None,
                    "conversation_initiation_client_data": r.client_data,
                }
                for r, status in zip(batch.recipients, statuses)
            ]
        return answer


def _script(agent_id: str, data: dict[str, Any]) -> tuple[str, str, str | None, str]:
    """What a call with client data ``data`` is placed with by agent ``agent_id``: its prompt and
    first message (the overrides, else the agent's own, with ``{{name}}`` filled from
    ``dynamic_variables`` as ElevenLabs does), the refusal of an override the agent does not
    allow (``None`` when all are allowed), and its language."""
    override = data.get("conversation_config_override") or {}
    agent = override.get("agent") or {}
    own = AGENTS[agent_id]
    variables = {name: str(value) for name, value in (data.get("dynamic_variables") or {}).items()}

    def fill(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), text)

    overridden = [path for path, value in _override_paths(override) if value is not None]
    refused = [path for path in overridden if path not in own["allowed_overrides"]]
    return (
        fill(str((agent.get("prompt") or {}).get("prompt") or own["prompt"])),
        fill(str(agent.get("first_message") or own["first_message"])),
        f"Override for field '{refused[0]}' is not allowed by config." if refused else None,
        str(agent.get("language") or own["language"]),
    )


def _json(body: Any, status: int = 200) -> Response:
    if isinstance(body, dict):
        body = {**body, "sandbox": {"provider": "sandbox", "note": SANDBOX_NOTE}}
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json",
        headers={"x-sandbox": "no real phone was dialled"},
    )


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _ApiError(422, [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}]) from exc
    if not isinstance(body, dict):
        raise _ApiError(422, [{"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be an object"}])
    return body


_CLIENT_DATA = "conversation_initiation_client_data"
#: A request body longer than this is parsed a piece of its ``recipients`` at a time.
PARSE_PIECE_BYTES = 1 << 20
#: How many candidate boundaries a piece tries before the body is parsed whole instead.
_PIECE_TRIES = 8
_RECIPIENTS_START = re.compile(rb'"recipients"\s*:\s*\[')
_BETWEEN_OBJECTS = re.compile(rb"\}\s*,\s*\{")
_LAST_OBJECT = re.compile(rb"\}\s*\]")


class _Repeated(NamedTuple):
    """A client data that recipients repeat, as it appears in the body: ``needle`` is
    ``"conversation_initiation_client_data":`` followed by its JSON, ``replacement`` the same key
    with ``marker`` (a random string no body holds) as the value, and ``data`` the parsed object."""

    needle: bytes
    replacement: bytes
    marker: str
    data: Any

    @classmethod
    def of(cls, data: Any) -> _Repeated:
        marker = uuid.uuid4().hex
        key = b'"' + _CLIENT_DATA.encode() + b'":'
        return cls(key + orjson.dumps(data), key + b'"' + marker.encode() + b'"', marker, data)


def _parse_piece(raw: bytes | bytearray, start: int, stop: int, repeated: _Repeated | None = None) -> list[Any] | None:
    """``raw[start:stop]`` parsed as the elements of a JSON array, or ``None`` when it is not a
    whole number of elements (a candidate boundary inside a string or a nested value).

    With ``repeated``, each of its occurrences is replaced by its marker before the parse, and
    the recipients holding the marker are given ``repeated.data`` (one object, not one parse of
    the ~600-character prompt per recipient). That result is used only when every replacement
    came back as a recipient's own client data (so none was inside anything else); otherwise the
    piece is parsed as it is.
    """
    piece = raw[start:stop]
    count = piece.count(repeated.needle) if repeated is not None else 0
    if count:
        try:
            items = orjson.loads(b"[" + piece.replace(repeated.needle, repeated.replacement) + b"]")
        except orjson.JSONDecodeError:
            items = None
        if items is not None:
            holders = [r for r in items if isinstance(r, dict) and r.get(_CLIENT_DATA) == repeated.marker]
            if len(holders) == count:
                for recipient in holders:
                    recipient[_CLIENT_DATA] = repeated.data
                return items
    try:
        return orjson.loads(b"[" + piece + b"]")
    except orjson.JSONDecodeError:
        return None


def _batch_body(raw: bytes | bytearray, keep: Callable[[list[Any]], None]) -> dict[str, Any]:
    """Parse a batch submit body, its ``recipients`` about :data:`PARSE_PIECE_BYTES` at a time.

    The same result as :func:`_body` (and the same errors: any body this cannot split is parsed
    whole), but no single parse holds the interpreter for long, so the event loop of the server
    the sandbox is mounted in keeps answering while a 35 MB body is read; and ``keep`` sees each
    piece's recipients as soon as they are parsed (to share their equal client data at once,
    instead of holding a copy per recipient until the end).

    A piece ends at a ``}`` followed by ``,`` (or by the array's ``]``) and is accepted only if
    it parses as a whole list of elements; a ``}`` inside a string or a nested value cannot, so
    a wrong boundary is never taken.
    """
    found = _RECIPIENTS_START.search(raw) if len(raw) > PARSE_PIECE_BYTES else None
    if found is None:
        return _whole(raw, keep)
    recipients: list[Any] = []
    repeated: _Repeated | None = None
    start = found.end()
    while len(raw) - start > PARSE_PIECE_BYTES:
        for tries, boundary in enumerate(_BETWEEN_OBJECTS.finditer(raw, start + PARSE_PIECE_BYTES)):
            items = _parse_piece(raw, start, boundary.start() + 1, repeated)
            if items is not None:
                keep(items)
                if repeated is None and items and isinstance(items[0], dict) and isinstance(items[0].get(_CLIENT_DATA), dict):
                    repeated = _Repeated.of(items[0][_CLIENT_DATA])  # the first recipient's, as kept
                recipients.extend(items)
                start = boundary.end() - 1  # at the next recipient's "{"
                break
            if tries + 1 >= _PIECE_TRIES:
                return _whole(raw, keep)
        else:
            break
    for tries, end in enumerate(_LAST_OBJECT.finditer(raw, start)):
        if tries >= _PIECE_TRIES:
            break
        items = _parse_piece(raw, start, end.start() + 1, repeated)
        if items is None:
            continue
        marker = uuid.uuid4().hex
        try:
            body = orjson.loads(raw[: found.start()] + b'"recipients":"' + marker.encode() + b'"' + raw[end.end() :])
        except orjson.JSONDecodeError:
            break
        if not isinstance(body, dict) or body.get("recipients") != marker:
            break
        keep(items)
        recipients.extend(items)
        body["recipients"] = recipients
        return body
    return _whole(raw, keep)


def _whole(raw: bytes | bytearray, keep: Callable[[list[Any]], None]) -> dict[str, Any]:
    """:func:`_body` of the whole of ``raw``, its recipients handed to ``keep``."""
    body = _body(raw)
    if isinstance(body.get("recipients"), list):
        keep(body["recipients"])
    return body


def _sharing() -> Callable[[list[Any]], None]:
    """A ``keep`` for :func:`_batch_body`: recipients whose client data is equal (the same
    canonical JSON) are given one object, so a batch of 50,000 recipients with one script holds
    one copy of its ~600-character prompt, not 50,000."""
    seen: dict[bytes, Any] = {}
    kept: set[int] = set()  # ids of the objects in ``seen`` (alive as long as it is)

    def keep(recipients: list[Any]) -> None:
        for recipient in recipients:
            data = recipient.get(_CLIENT_DATA) if isinstance(recipient, dict) else None
            if isinstance(data, dict) and id(data) not in kept:
                data = recipient[_CLIENT_DATA] = seen.setdefault(orjson.dumps(data, option=orjson.OPT_SORT_KEYS), data)
                kept.add(id(data))

    return keep


def _invalid(kind: str, msg: str, *loc: Any) -> _ApiError:
    return _ApiError(422, [{"type": kind, "loc": ["body", *loc], "msg": msg}])


def _override_paths(override: dict[str, Any]) -> list[tuple[str, Any]]:
    """The ``conversation_config_override`` fields caller-mcp may send, as ``(dotted path, value)``."""
    agent = override.get("agent") or {}
    return [
        ("agent.prompt.prompt", (agent.get("prompt") or {}).get("prompt")),
        ("agent.first_message", agent.get("first_message")),
        ("agent.language", agent.get("language")),
        ("tts.voice_id", (override.get("tts") or {}).get("voice_id")),
    ]


def _client_data(value: Any, *loc: Any) -> dict[str, Any] | None:
    """Check ``conversation_initiation_client_data`` as the real API's schema does (``001_…``):
    objects where objects go, strings for the prompt, first message, language and voice id, and
    dynamic variables of string / number / boolean (or null)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid("model_type", "Input should be an object", *loc)
    override = value.get("conversation_config_override")
    if override is not None:
        if not isinstance(override, dict):
            raise _invalid("model_type", "Input should be an object", *loc, "conversation_config_override")
        for part in ("agent", "tts"):
            if override.get(part) is not None and not isinstance(override[part], dict):
                raise _invalid("model_type", "Input should be an object", *loc, "conversation_config_override", part)
        prompt = (override.get("agent") or {}).get("prompt")
        if prompt is not None and not isinstance(prompt, dict):
            raise _invalid("model_type", "Input should be an object", *loc, "conversation_config_override", "agent", "prompt")
        for path, field_value in _override_paths(override):
            if field_value is not None and not isinstance(field_value, str):
                raise _invalid("string_type", "Input should be a valid string", *loc, "conversation_config_override", *path.split("."))
    variables = value.get("dynamic_variables")
    if variables is not None:
        if not isinstance(variables, dict):
            raise _invalid("dict_type", "Input should be a valid dictionary", *loc, "dynamic_variables")
        for name, item in variables.items():
            if item is not None and not isinstance(item, (str, int, float, bool)):
                raise _invalid("union_tag_invalid", "Input should be a string, number or boolean", *loc, "dynamic_variables", name)
    return value


def _telephony(body: dict[str, Any]) -> int | None:
    """``telephony_call_config.ringing_timeout_secs`` of a request, checked (an integer, seconds)."""
    config = body.get("telephony_call_config")
    if config is None:
        return None
    if not isinstance(config, dict):
        raise _invalid("model_type", "Input should be an object", "telephony_call_config")
    timeout = config.get("ringing_timeout_secs")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0):
        raise _invalid("int_type", "Input should be a positive integer", "telephony_call_config", "ringing_timeout_secs")
    return timeout


def create_app(
    *, api_key: str = SANDBOX_API_KEY, clock: Callable[[], float] | None = None, speed: float = 1.0
) -> Starlette:
    """Build a fresh sandbox with an empty account.

    Args:
        api_key: the only ``xi-api-key`` it accepts.
        clock: sandbox time source (Unix seconds); default real time sped up by ``speed``.
        speed: sandbox seconds per real second when ``clock`` is not given.
    Returns:
        A Starlette app; its state is at ``app.state.sandbox`` (a :class:`SandboxState`).
    """
    state = SandboxState(api_key, clock or SandboxClock(speed))

    def endpoint(
        handler: Callable[..., dict[str, Any]], *, with_body: bool = False,
        parse: Callable[[bytearray], dict[str, Any]] = _body,
    ) -> Callable[[Request], Any]:
        """An ASGI endpoint around ``handler(request)`` (``handler(request, parse(body))`` when
        ``with_body``): its work and the answer's encoding run on a worker thread under the
        account's lock. The body is gathered in one growing buffer (not a list of pieces joined
        at the end, which would hold a 35 MB body twice)."""

        async def wrapped(request: Request) -> Response:
            raw = bytearray()
            if with_body:
                async for piece in request.stream():
                    raw += piece

            def work() -> Response:
                try:
                    state.check_key(request)
                    with state.lock:
                        answer = handler(request, parse(raw)) if with_body else handler(request)
                    return _json(answer)
                except _ApiError as exc:
                    return _json({"detail": exc.detail}, exc.status)

            return await anyio.to_thread.run_sync(work)

        return wrapped

    def phone_number(request: Request) -> dict[str, Any]:
        phone_number_id = request.path_params["phone_number_id"]
        if phone_number_id not in PHONE_NUMBERS:
            raise _error(404, "phone_number_not_found", f"Phone number {phone_number_id} not found")
        return {"phone_number_id": phone_number_id, **PHONE_NUMBERS[phone_number_id]}

    def outbound(phone_provider: str, sid_field: str) -> Callable[[Request], Any]:
        def handler(request: Request, body: dict[str, Any]) -> dict[str, Any]:
            for name in ("agent_id", "agent_phone_number_id", "to_number"):
                if name not in body:
                    raise _missing(name)
            agent_id = state.check_agent(body["agent_id"])
            number = state.check_phone_number(body["agent_phone_number_id"])
            if number["provider"] != phone_provider:
                raise _error(
                    400,
                    "invalid_phone_number_provider",
                    f"Phone number {body['agent_phone_number_id']} is a {number['provider']} number; "
                    f"use the {number['provider']} outbound-call endpoint",
                )
            to_number = body["to_number"]
            if not isinstance(to_number, str) or not _E164.fullmatch(to_number):
                raise _ApiError(422, [{"type": "value_error", "loc": ["body", "to_number"], "msg": "Value error, to_number must be in E.164 format"}])
            client_data = state.shared(
                _client_data(body.get("conversation_initiation_client_data"), "conversation_initiation_client_data")
            )
            ring_timeout = _telephony(body)
            if outcome_for(to_number) == "rejected":
                return {"success": False, "message": "Call could not be initiated: the carrier rejected the destination number.", "conversation_id": None, sid_field: None}
            call = state.new_call(
                agent_id=agent_id, phone_provider=phone_provider, to_number=to_number,
                client_data=client_data, started_at=state.clock(), ring_timeout_secs=ring_timeout,
            )
            return {
                "success": True,
                "message": "Outbound call initiated successfully.",
                "conversation_id": call.conversation_id,
                sid_field: call.call_sid,
            }

        return handler

    def submit_batch(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        for name in ("call_name", "agent_id", "recipients"):
            if name not in body:
                raise _missing(name)
        if not isinstance(body["call_name"], str) or not body["call_name"].strip():
            raise _ApiError(422, [{"type": "string_type", "loc": ["body", "call_name"], "msg": "Input should be a non-empty string"}])
        agent_id = state.check_agent(body["agent_id"])
        number = state.check_phone_number(body.get("agent_phone_number_id"))
        recipients = body["recipients"]
        if not isinstance(recipients, list) or not recipients:
            raise _ApiError(422, [{"type": "too_short", "loc": ["body", "recipients"], "msg": "List should have at least 1 item"}])
        scheduled = body.get("scheduled_time_unix")
        if scheduled is not None and (not isinstance(scheduled, int) or isinstance(scheduled, bool)):
            raise _ApiError(422, [{"type": "int_type", "loc": ["body", "scheduled_time_unix"], "msg": "Input should be a valid integer"}])
        limit = body.get("target_concurrency_limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise _invalid("int_type", "Input should be a positive integer", "target_concurrency_limit")
        ring_timeout = _telephony(body)
        seen_ids: set[str] = set()
        checked: dict[int, dict[str, Any] | None] = {}  # id of a request's client data → the stored copy
        for i, r in enumerate(recipients):
            if not isinstance(r, dict):
                raise _ApiError(422, [{"type": "model_type", "loc": ["body", "recipients", i], "msg": "Input should be an object"}])
            rid = r.get("id")
            if rid is not None and (not isinstance(rid, str) or not rid):
                raise _invalid("string_type", "Input should be a valid string", "recipients", i, "id")
            if rid is not None and rid in seen_ids:
                raise _invalid("value_error", "Value error, recipient ids must be unique within a batch", "recipients", i, "id")
            if rid is not None:
                seen_ids.add(rid)
            phone = r.get("phone_number")
            if not isinstance(phone, str) or not _E164.fullmatch(phone):
                raise _ApiError(422, [{"type": "value_error", "loc": ["body", "recipients", i, "phone_number"], "msg": "Value error, phone_number must be in E.164 format"}])
            data = r.get(_CLIENT_DATA)
            if id(data) not in checked:  # recipients sharing one object: checked once, at the first
                _client_data(data, "recipients", str(i), _CLIENT_DATA)
                checked[id(data)] = state.shared(data)
        now = state.clock()
        start = max(now, float(scheduled)) if scheduled is not None else now
        batch_id = stable_id("btcal", state.salt, next(state._counter))
        batch = SimBatch(
            batch_id=batch_id, name=body["call_name"].strip(), agent_id=agent_id,
            phone_number_id=body["agent_phone_number_id"], phone_provider=number["provider"],
            created_at=now, scheduled_time=start, concurrency=limit or BATCH_CONCURRENCY,
            ring_timeout_secs=ring_timeout,
        )
        base = batch_id[len("btcal_") :]
        for i, r in enumerate(recipients):
            recipient = SimRecipient(
                recipient_id=r.get("id") or serial_id("rcpt", base, i), phone_number=r["phone_number"],
                client_data=checked[id(r.get(_CLIENT_DATA))],
                start_at=start + (i // batch.concurrency) * BATCH_WAVE_SECS, created_at=now,
            )
            _dial(state, batch, recipient)
            batch.recipients.append(recipient)
        state.batches[batch_id] = batch
        return state.batch_json(batch, with_recipients=False)

    def _get_batch(request: Request) -> SimBatch:
        batch_id = request.path_params["batch_id"]
        batch = state.batches.get(batch_id)
        if batch is None:
            raise _error(404, "batch_call_not_found", f"Batch call {batch_id} not found")
        return batch

    def list_batches(request: Request) -> dict[str, Any]:
        try:
            limit = max(1, min(100, int(request.query_params.get("limit", "100"))))
        except ValueError as exc:
            raise _ApiError(422, [{"type": "int_parsing", "loc": ["query", "limit"], "msg": "Input should be a valid integer"}]) from exc
        ordered = sorted(state.batches.values(), key=lambda b: (b.created_at, b.batch_id), reverse=True)
        last_doc = request.query_params.get("last_doc")
        if last_doc:
            ids = [b.batch_id for b in ordered]
            ordered = ordered[ids.index(last_doc) + 1 :] if last_doc in ids else []
        page = ordered[:limit]
        has_more = len(ordered) > limit
        return {
            "batch_calls": [state.batch_json(b, with_recipients=False) for b in page],
            "next_doc": page[-1].batch_id if has_more and page else None,
            "has_more": has_more,
        }

    def get_batch(request: Request) -> dict[str, Any]:
        return state.batch_json(_get_batch(request), with_recipients=True)

    def cancel_batch(request: Request) -> dict[str, Any]:
        batch = _get_batch(request)
        if batch.cancelled_at is None:
            batch.cancelled_at = state.clock()
        return state.batch_json(batch, with_recipients=False)

    def retry_batch(request: Request) -> dict[str, Any]:
        batch = _get_batch(request)
        now = state.clock()
        if batch.cancelled_at is not None:
            raise _error(400, "batch_call_cancelled", f"Batch call {batch.batch_id} was cancelled and cannot be retried")
        wave = 0
        for recipient in batch.recipients:
            if recipient_status(batch, recipient, now) in ("failed", "voicemail"):
                recipient.attempt += 1
                recipient.retried_at = now
                recipient.start_at = now + (wave // batch.concurrency) * BATCH_WAVE_SECS
                _dial(state, batch, recipient)
                wave += 1
        return state.batch_json(batch, with_recipients=False)

    def conversation(request: Request) -> dict[str, Any]:
        conversation_id = request.path_params["conversation_id"]
        call = state.calls.get(conversation_id)
        now = state.clock()
        if call is None or call.started_at > now:
            raise _error(404, "conversation_not_found", f"Conversation {conversation_id} not found")
        return call.conversation(now)

    def agent(request: Request) -> dict[str, Any]:
        agent_id = request.path_params["agent_id"]
        if agent_id not in AGENTS:
            raise _error(404, "agent_not_found", f"Agent {agent_id} not found")
        own = AGENTS[agent_id]
        allowed = set(own["allowed_overrides"])
        return {
            "agent_id": agent_id,
            "name": own["name"],
            "conversation_config": {
                "agent": {
                    "first_message": own["first_message"],
                    "language": own["language"],
                    "prompt": {"prompt": own["prompt"], "llm": own["llm"]},
                }
            },
            "platform_settings": {
                "overrides": {
                    "conversation_config_override": {
                        "agent": {
                            "prompt": {"prompt": "agent.prompt.prompt" in allowed},
                            "first_message": "agent.first_message" in allowed,
                            "language": "agent.language" in allowed,
                        },
                        "tts": {"voice_id": "tts.voice_id" in allowed},
                    }
                }
            },
        }

    def llm_usage(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        for name in ("prompt_length", "number_of_pages", "rag_enabled"):
            if name not in body:
                raise _missing(name)
        for name in ("prompt_length", "number_of_pages"):
            value = body[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise _invalid("int_type", "Input should be a valid integer", name)
        if not isinstance(body["rag_enabled"], bool):
            raise _invalid("bool_type", "Input should be a valid boolean", "rag_enabled")
        return {
            "llm_prices": [
                {"llm": llm, "price_per_minute": llm_price_per_minute(llm, body["prompt_length"])}
                for llm in LLM_INPUT_USD_PER_MTOK
            ]
        }

    routes = [
        Route("/v1/convai/phone-numbers/{phone_number_id}", endpoint(phone_number), methods=["GET"]),
        Route("/v1/convai/agents/{agent_id}", endpoint(agent), methods=["GET"]),
        Route("/v1/convai/llm-usage/calculate", endpoint(llm_usage, with_body=True), methods=["POST"]),
        Route("/v1/convai/twilio/outbound-call", endpoint(outbound("twilio", "callSid"), with_body=True), methods=["POST"]),
        Route("/v1/convai/sip-trunk/outbound-call", endpoint(outbound("sip_trunk", "sip_call_id"), with_body=True), methods=["POST"]),
        Route("/v1/convai/batch-calling/submit", endpoint(submit_batch, with_body=True, parse=lambda raw: _batch_body(raw, _sharing())), methods=["POST"]),
        Route("/v1/convai/batch-calling/workspace", endpoint(list_batches), methods=["GET"]),
        Route("/v1/convai/batch-calling/{batch_id}", endpoint(get_batch), methods=["GET"]),
        Route("/v1/convai/batch-calling/{batch_id}/cancel", endpoint(cancel_batch), methods=["POST"]),
        Route("/v1/convai/batch-calling/{batch_id}/retry", endpoint(retry_batch), methods=["POST"]),
        Route("/v1/convai/conversations/{conversation_id}", endpoint(conversation), methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = state
    return app


def _dial(state: SandboxState, batch: SimBatch, recipient: SimRecipient) -> None:
    """Create the conversation of a recipient's current attempt (it starts after dispatch)."""
    recipient.call = state.new_call(
        agent_id=batch.agent_id,
        phone_provider=batch.phone_provider,
        to_number=recipient.phone_number,
        client_data=recipient.client_data,
        started_at=recipient.start_at + DISPATCH_SECS,
        attempt=recipient.attempt,
        batch_id=batch.batch_id,
        recipient_id=recipient.recipient_id,
        ring_timeout_secs=batch.ring_timeout_secs,
    )
