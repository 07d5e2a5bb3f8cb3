"""ElevenLabs Conversational AI over HTTP (``httpx``): outbound calls by Twilio or SIP trunk, batch calling.

Endpoints and bodies follow ``shared/reference``: ``001_…`` (``POST /v1/convai/twilio/outbound-call``),
``000_…`` (``POST /v1/convai/sip-trunk/outbound-call``), ``003_…`` (batch calling submit, list,
get, cancel, retry) and the conversation fields listed in ``shared/reference/README.md``
(``GET /v1/convai/conversations/{id}``). The same class talks to the sandbox emulator, mounted with ``httpx.ASGITransport``.

Reliability rules (the guide's safety section): a call-placing POST is never retried here. When
it fails before reaching the provider (connect error) the caller is told nothing was dialled;
when it may have reached it (read timeout, dropped connection) the caller is told the outcome is
unknown. The API key travels only in the ``xi-api-key`` header and is never part of an error.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from ..config import ProviderConfig
from ..errors import OutcomeUnknown, ProviderError, ProviderStatusError, ProviderUnreachable
from .base import (
    BatchCall,
    BatchPage,
    BatchRecipient,
    BatchSubmission,
    Conversation,
    OutboundCall,
    OutboundCallResult,
    TranscriptTurn,
)

logger = logging.getLogger(__name__)

#: Tries of one request in all (first try included).
MAX_TRIES = 3
#: First backoff step, seconds; doubled at each retry, plus up to as much random jitter.
BACKOFF_BASE_SECS = 0.5
#: A longer ``Retry-After`` is not waited out: the error says how long to wait instead.
MAX_RETRY_AFTER_SECS = 10.0
#: No retry may end later than this after the first try: MCP clients give up on a tool call at
#: about 60 s, and nothing may block longer than 50 s.
TOTAL_BUDGET_SECS = 45.0
#: The longest provider text quoted in an error message, in characters.
MAX_DETAIL_CHARS = 300

OUTBOUND_CALL_PATHS = {
    "twilio": "/v1/convai/twilio/outbound-call",
    "sip_trunk": "/v1/convai/sip-trunk/outbound-call",
}
#: The answer field that carries the telephony call id, by phone provider (``001_…``, ``000_…``).
CALL_SID_FIELDS = {"twilio": "callSid", "sip_trunk": "sip_call_id"}

_STATUS_HINTS = {
    401: "Check ELEVENLABS_API_KEY: the key was rejected or its quota is used up.",
    403: "The API key lacks permission for this agent, phone number or batch.",
    404: "Check ELEVENLABS_AGENT_ID, ELEVENLABS_AGENT_PHONE_NUMBER_ID or the batch id.",
}


def default_timeout(config: ProviderConfig) -> httpx.Timeout:
    """The provider client's timeouts: ``config``'s connect timeout, and its read timeout for
    reading, writing and waiting for a pooled connection."""
    return httpx.Timeout(config.read_timeout_secs, connect=config.connect_timeout_secs)


def _segment(value: str) -> str:
    """Quote an id for use as one URL path segment.

    ``/`` is percent-encoded and so are dots, because httpx removes ``.`` and ``..`` segments
    from a URL: an id of ``..`` must not turn ``…/batch-calling/../cancel`` into another endpoint.
    """
    return quote(value, safe="").replace(".", "%2E")


def _detail_of(response: httpx.Response, secret: str | None = None) -> tuple[str, str | None]:
    """Extract the provider's own message and machine code from an error answer.

    ElevenLabs error bodies look like ``{"detail": {"status": "...", "message": "..."}}``;
    validation errors (422) carry ``detail`` as a list of ``{loc, msg}``.

    Args:
        secret: masked as ``***`` wherever the provider echoes it, before the text is cut.
    Returns:
        ``(message, code)``; the message is at most :data:`MAX_DETAIL_CHARS` characters.
    """
    try:
        body: Any = response.json()
    except ValueError:
        text = response.text.strip() or response.reason_phrase or "no details"
        return _masked(text, secret)[:MAX_DETAIL_CHARS], None
    code: str | None = None
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        code = detail.get("status") if isinstance(detail.get("status"), str) else None
        message = detail.get("message") or detail.get("msg") or json.dumps(detail)
    elif isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', 'invalid')}" if loc else str(item.get("msg", "invalid")))
            else:
                parts.append(str(item))
        message = "; ".join(parts) or "validation error"
    else:
        message = str(detail)
    return _masked(str(message), secret)[:MAX_DETAIL_CHARS], code


def _masked(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def raise_for_status(response: httpx.Response, display_name: str, secret: str | None = None) -> None:
    """Map an HTTP error answer to exactly one :class:`ProviderStatusError`.

    This is the one place where a status becomes an exception. The message keeps seed 002's form
    ``ElevenLabs API error ({status}): {detail message}`` and adds what to do about it.

    Raises:
        ProviderStatusError: for any status >= 400.
    """
    if response.status_code < 400:
        return
    status = response.status_code
    detail, code = _detail_of(response, secret)
    hint = _STATUS_HINTS.get(status)
    if status == 422:
        hint = "The provider rejected a field of the request."
    elif status == 429:
        hint = (
            "Too many calls are running at once; wait for some to finish."
            if code == "concurrent_limit_exceeded"
            else "Rate limit reached; wait before trying again."
        )
        retry_after = response.headers.get("retry-after")
        if retry_after:
            wait = f"{retry_after.strip()} s" if retry_after.strip().isdigit() else f"until {retry_after.strip()}"
            hint += f" The provider asks to wait {wait}."
    elif status >= 500:
        hint = "The provider failed internally; try again later."
    message = f"{display_name} API error ({status}): {detail}"
    if hint and not detail.rstrip().endswith((".", "!", "?")):
        message += "."
    if hint:
        message += f" {hint}"
    request_id = response.headers.get("request-id") or response.headers.get("x-request-id")
    raise ProviderStatusError(message, status=status, detail=detail, request_id=request_id, code=code)


class ElevenLabsProvider:
    """Client of the ElevenLabs Conversational AI API (or of its sandbox emulator).

    Args:
        config: the resolved provider settings (key, agent, phone number, phone provider).
        client: a long-lived ``httpx.AsyncClient`` whose ``base_url`` is ``config.api_base``;
            its transport decides whether the real API, the sandbox or a mock answers.
        sleep, random: the backoff's clock and jitter source (tests pass their own).
    """

    def __init__(
        self,
        config: ProviderConfig,
        client: httpx.AsyncClient,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.name = config.name
        self._sleep = sleep
        self._random = random
        self._config = config
        self._client = client
        self._display = "ElevenLabs sandbox" if config.is_sandbox else "ElevenLabs"
        self._phone_provider: str | None = None if config.phone_provider == "auto" else config.phone_provider
        self._lookup_lock = anyio.Lock()

    # -- HTTP ----------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        params: dict[str, Any] | None = None,
        places_call: bool = False,
    ) -> Any:
        """Send one request, retrying only where that cannot dial twice, and return the JSON answer.

        Retries (at most :data:`MAX_TRIES` tries, exponential backoff with jitter, ``Retry-After``
        honoured up to :data:`MAX_RETRY_AFTER_SECS`, never past :data:`TOTAL_BUDGET_SECS`):

        - every request: connect errors (it provably never left) and 429;
        - reads and cancels (``places_call=False``): also read timeouts, dropped connections, 5xx.

        A call-placing request (``places_call=True``: outbound call, batch submit) that may have
        reached the provider — read timeout, dropped connection, 5xx, unreadable answer — is never
        retried: it raises :class:`OutcomeUnknown`.

        Raises:
            ProviderUnreachable: the request never reached the provider (after the retries).
            OutcomeUnknown: ``places_call`` and the request may have been received.
            ProviderStatusError: an error status (see :func:`raise_for_status`).
        """
        headers = {"xi-api-key": self._config.api_key.get_secret_value(), "accept": "application/json"}
        deadline = time.monotonic() + TOTAL_BUDGET_SECS
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._client.request(method, path, json=body, params=params, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if await self._may_retry(attempt, deadline, None):
                    continue
                raise ProviderUnreachable(f"Could not reach {self._display}: {_reason(exc)}") from exc
            except httpx.UnsupportedProtocol as exc:
                raise ProviderUnreachable(f"Could not reach {self._display}: {_reason(exc)}") from exc
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if places_call:
                    raise OutcomeUnknown(
                        f"{self._display} did not answer ({_reason(exc)}) after the request was sent: "
                        "the call may or may not have been placed."
                    ) from exc
                if await self._may_retry(attempt, deadline, None):
                    continue
                raise ProviderUnreachable(f"Could not reach {self._display}: {_reason(exc)}") from exc
            except httpx.HTTPError as exc:  # e.g. DecodingError: an answer came but could not be read
                if places_call:
                    raise OutcomeUnknown(
                        f"{self._display}'s answer could not be read ({_reason(exc)}): "
                        "the call may or may not have been placed."
                    ) from exc
                raise ProviderError(f"{self._display}'s answer could not be read ({_reason(exc)}).") from exc
            status = response.status_code
            logger.debug("%s %s -> %s (try %d)", method, path, status, attempt)
            retryable = status == 429 or (status >= 500 and not places_call)
            if retryable and await self._may_retry(attempt, deadline, response.headers.get("retry-after")):
                continue
            if places_call and status >= 500:
                detail, _ = _detail_of(response, self._config.api_key.get_secret_value())
                raise OutcomeUnknown(
                    f"{self._display} answered {status} ({detail}) "
                    "to a request that places calls: the call may or may not have been placed."
                )
            raise_for_status(response, self._display, self._config.api_key.get_secret_value())
            try:
                return response.json()
            except ValueError as exc:
                if places_call:
                    raise OutcomeUnknown(
                        f"{self._display} answered {status} without a JSON body: "
                        "the call may or may not have been placed."
                    ) from exc
                raise ProviderError(f"{self._display} answered {status} without a JSON body.") from exc

    async def _may_retry(self, attempt: int, deadline: float, retry_after: str | None) -> bool:
        """Sleep before another try and return True, or return False when no try is left.

        The wait is ``Retry-After`` when the provider sent one in seconds, else exponential backoff
        (``BACKOFF_BASE_SECS * 2**(attempt-1)``) plus up to as much jitter. No retry when the wait
        exceeds :data:`MAX_RETRY_AFTER_SECS` or would end past ``deadline`` with a full read to go.
        """
        if attempt >= MAX_TRIES:
            return False
        if retry_after is not None and retry_after.strip().isdigit():
            delay = float(retry_after.strip())
        else:
            base = BACKOFF_BASE_SECS * 2 ** (attempt - 1)
            delay = base + self._random() * base
        if delay > MAX_RETRY_AFTER_SECS:
            return False
        if time.monotonic() + delay + self._config.read_timeout_secs > deadline:
            return False
        logger.info("retrying %s after %.2f s (try %d of %d)", self._display, delay, attempt + 1, MAX_TRIES)
        await self._sleep(delay)
        return True

    # -- phone number --------------------------------------------------------------------------

    async def phone_provider(self) -> str:
        """Return ``twilio`` or ``sip_trunk`` for the configured phone number.

        With ``ELEVENLABS_PHONE_PROVIDER=auto`` the number is looked up once with
        ``GET /v1/convai/phone-numbers/{id}`` (its ``provider`` field) and cached for the life of
        this object, so at most one lookup happens per process.

        Raises:
            ProviderError: the lookup failed or named an unsupported provider.
        """
        if self._phone_provider is not None:
            return self._phone_provider
        async with self._lookup_lock:
            if self._phone_provider is None:
                answer = await self._send(
                    "GET", f"/v1/convai/phone-numbers/{_segment(self._config.agent_phone_number_id)}"
                )
                provider = answer.get("provider") if isinstance(answer, dict) else None
                if provider not in OUTBOUND_CALL_PATHS:
                    raise ProviderError(
                        f"Phone number {self._config.agent_phone_number_id} uses provider {provider!r}, which "
                        "cannot place outbound calls here; set ELEVENLABS_PHONE_PROVIDER to twilio or sip_trunk."
                    )
                self._phone_provider = provider
        return self._phone_provider  # type: ignore[return-value]

    # -- calls ---------------------------------------------------------------------------------

    def outbound_call_request(self, phone_provider: str, call: OutboundCall) -> tuple[str, dict]:
        """Build the ``(path, JSON body)`` of an outbound call (``001_…`` / ``000_…``)."""
        body = {
            "agent_id": self._config.agent_id,
            "agent_phone_number_id": self._config.agent_phone_number_id,
            "to_number": call.to_number,
            "conversation_initiation_client_data": call.client_data,
        }
        return OUTBOUND_CALL_PATHS[phone_provider], body

    async def preview_call(self, call: OutboundCall) -> dict[str, Any]:
        """The exact request :meth:`place_call` would send, without sending it (a dry run).

        Looks the phone number up if the phone provider is ``auto`` (a read; nothing is dialled).

        Returns:
            ``{"method", "url", "headers", "body"}``; the key header is shown as ``***``.
        """
        phone_provider = await self.phone_provider()
        path, body = self.outbound_call_request(phone_provider, call)
        return {"method": "POST", "url": self._config.api_base + path, "headers": {"xi-api-key": "***"}, "body": body}

    def preview_batch(self, batch: BatchSubmission) -> dict[str, Any]:
        """The exact request :meth:`submit_batch` would send, without sending it (a dry run)."""
        return {
            "method": "POST",
            "url": self._config.api_base + "/v1/convai/batch-calling/submit",
            "headers": {"xi-api-key": "***"},
            "body": self.batch_request(batch),
        }

    async def place_call(self, call: OutboundCall) -> OutboundCallResult:
        """Place one outbound call.

        Returns:
            The provider's answer; ``call_sid`` is Twilio's ``callSid`` or the SIP ``sip_call_id``.
        Raises:
            ProviderStatusError: an error status, or a 200 answer with ``"success": false``.
            ProviderUnreachable, OutcomeUnknown: see :meth:`_send`.
        """
        phone_provider = await self.phone_provider()
        path, body = self.outbound_call_request(phone_provider, call)
        answer = await self._send("POST", path, body=body, places_call=True)
        if not isinstance(answer, dict):
            raise OutcomeUnknown(f"{self._display} answered with an unexpected body: the call may have been placed.")
        message = str(answer.get("message") or "")
        if answer.get("success") is False:
            raise ProviderStatusError(
                f"{self._display} could not place the call: {message or 'no reason given'}",
                status=200,
                detail=message,
            )
        return OutboundCallResult(
            message=message,
            conversation_id=answer.get("conversation_id"),
            call_sid=answer.get(CALL_SID_FIELDS[phone_provider]),
            phone_provider=phone_provider,  # type: ignore[arg-type]
            raw=answer,
        )

    # -- batches -------------------------------------------------------------------------------

    def batch_request(self, batch: BatchSubmission) -> dict:
        """Build the JSON body of ``POST /v1/convai/batch-calling/submit`` (``003_…``)."""
        return {
            "call_name": batch.call_name,
            "agent_id": self._config.agent_id,
            "agent_phone_number_id": self._config.agent_phone_number_id,
            "scheduled_time_unix": batch.scheduled_time_unix,
            "recipients": [
                {"phone_number": r.phone_number, "conversation_initiation_client_data": r.client_data}
                for r in batch.recipients
            ],
        }

    async def submit_batch(self, batch: BatchSubmission) -> BatchCall:
        """Submit a batch call; answers the created batch (``BatchCallResponse``)."""
        answer = await self._send("POST", "/v1/convai/batch-calling/submit", body=self.batch_request(batch), places_call=True)
        try:
            return _batch_from(answer)
        except ProviderError as exc:  # a 200 means it was accepted: the batch may well exist
            raise OutcomeUnknown(
                f"{self._display} accepted the batch but its answer has no batch id: the calls may be scheduled."
            ) from exc

    async def get_batch(self, batch_id: str) -> BatchCall:
        """``GET /v1/convai/batch-calling/{batch_id}``: the batch with every recipient."""
        return _batch_from(await self._send("GET", f"/v1/convai/batch-calling/{_segment(batch_id)}"))

    async def cancel_batch(self, batch_id: str) -> BatchCall:
        """``POST /v1/convai/batch-calling/{batch_id}/cancel``: answers the batch with its new status."""
        return _batch_from(await self._send("POST", f"/v1/convai/batch-calling/{_segment(batch_id)}/cancel"))

    async def retry_batch(self, batch_id: str) -> BatchCall:
        """``POST /v1/convai/batch-calling/{batch_id}/retry``: call the failed and unanswered
        recipients again (``003_…``); answers the batch with its new status.

        It places calls, so it is sent like an outbound call: never retried once it may have
        reached the provider (:class:`OutcomeUnknown` instead).
        """
        answer = await self._send("POST", f"/v1/convai/batch-calling/{_segment(batch_id)}/retry", places_call=True)
        try:
            return _batch_from(answer)
        except ProviderError as exc:
            raise OutcomeUnknown(
                f"{self._display} accepted the retry but its answer has no batch id: the calls may be placed again."
            ) from exc

    async def list_batches(self, limit: int, last_doc: str | None = None) -> BatchPage:
        """``GET /v1/convai/batch-calling/workspace?limit=…&last_doc=…`` (``003_…``): one page of
        the workspace's batch calls, newest first.

        Args:
            limit: batches per page (the provider caps it).
            last_doc: the previous page's ``next_doc``; ``None`` for the first page.
        Raises:
            ProviderError: as :meth:`_send`, or the answer has no ``batch_calls`` list.
        """
        params: dict[str, Any] = {"limit": int(limit)}
        if last_doc:
            params["last_doc"] = last_doc
        answer = await self._send("GET", "/v1/convai/batch-calling/workspace", params=params)
        if not isinstance(answer, dict) or not isinstance(answer.get("batch_calls"), list):
            raise ProviderError(f"{self._display}'s batch list has no batch_calls list.")
        calls = []
        for item in answer["batch_calls"]:
            try:
                calls.append(_batch_from(item))
            except ProviderError:
                logger.warning("skipped a workspace batch without an id")
        next_doc = answer.get("next_doc")
        return BatchPage(
            batch_calls=calls,
            next_doc=next_doc if isinstance(next_doc, str) and next_doc else None,
            has_more=bool(answer.get("has_more")),
        )

    async def get_conversation(self, conversation_id: str) -> Conversation:
        """``GET /v1/convai/conversations/{conversation_id}``: status, transcript, metadata, analysis.

        Raises:
            ProviderStatusError: 404 when the provider does not know the conversation (yet).
            ProviderError: as :meth:`_send`, or the answer is not a conversation.
        """
        answer = await self._send("GET", f"/v1/convai/conversations/{_segment(conversation_id)}")
        if not isinstance(answer, dict) or not isinstance(answer.get("status"), str):
            raise ProviderError(f"{self._display}'s conversation answer has no status.")
        return conversation_from(answer, conversation_id)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


def _reason(exc: Exception) -> str:
    """A short, key-free description of a transport failure."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def conversation_from(answer: dict[str, Any], conversation_id: str) -> Conversation:
    """Convert a ``GET /v1/convai/conversations/{id}`` body to :class:`Conversation`.

    Tolerant of what the provider leaves out (``analysis`` is ``null`` until the call is
    processed; ``metadata`` may lack any field): a missing value becomes ``None`` or empty.
    Transcript turns without words (tool calls) are skipped.
    """
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
        turns.append(
            TranscriptTurn(
                role=str(turn.get("role") or "unknown"),
                message=message,
                time_in_call_secs=_number(turn.get("time_in_call_secs")),
            )
        )
    start = _number(metadata.get("start_time_unix_secs"))
    return Conversation(
        conversation_id=_str(answer.get("conversation_id")) or conversation_id,
        status=answer["status"],
        agent_id=_str(answer.get("agent_id")),
        to_number=_str(phone_call.get("external_number")),
        call_sid=_str(phone_call.get("call_sid")),
        start_time_unix=int(start) if start is not None else None,
        duration_secs=_number(metadata.get("call_duration_secs")),
        termination_reason=_str(metadata.get("termination_reason")),
        cost=_number(metadata.get("cost")),
        call_successful=_str(analysis.get("call_successful")),
        summary=_str(analysis.get("transcript_summary")),
        evaluation_criteria_results=_dict(analysis.get("evaluation_criteria_results")),
        data_collection_results=_dict(analysis.get("data_collection_results")),
        batch_id=_str(batch_call.get("batch_call_id")),
        batch_recipient_id=_str(batch_call.get("batch_call_recipient_id")),
        has_audio=answer.get("has_audio") if isinstance(answer.get("has_audio"), bool) else None,
        transcript=turns,
    )


def _batch_from(answer: Any) -> BatchCall:
    """Convert a ``BatchCallResponse`` / ``BatchCallDetailedResponse`` body to :class:`BatchCall`.

    Raises:
        ProviderError: the body lacks the batch id.
    """
    if not isinstance(answer, dict) or not answer.get("id"):
        raise ProviderError("The provider's batch answer has no batch id.")
    recipients = [
        BatchRecipient(
            recipient_id=r.get("id"),
            phone_number=r.get("phone_number"),
            status=str(r.get("status") or "pending"),
            conversation_id=r.get("conversation_id"),
            created_at_unix=r.get("created_at_unix"),
            updated_at_unix=r.get("updated_at_unix"),
        )
        for r in answer.get("recipients") or []
        if isinstance(r, dict)
    ]
    return BatchCall(
        batch_id=str(answer["id"]),
        name=str(answer.get("name") or ""),
        status=str(answer.get("status") or "pending"),
        agent_id=answer.get("agent_id"),
        phone_provider=answer.get("phone_provider"),
        created_at_unix=answer.get("created_at_unix"),
        scheduled_time_unix=answer.get("scheduled_time_unix"),
        last_updated_at_unix=answer.get("last_updated_at_unix"),
        total_calls_scheduled=int(answer.get("total_calls_scheduled") or 0),
        total_calls_dispatched=int(answer.get("total_calls_dispatched") or 0),
        recipients=recipients,
        raw={k: v for k, v in answer.items() if k != "recipients"},
    )
