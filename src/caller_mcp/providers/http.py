"""The one place where a provider request is sent, retried and its failure turned into an exception.

Modelled on the Anthropic SDK's ``_base_client`` (``_should_retry``, ``_parse_retry_after_header``,
``_calculate_retry_timeout``) and httpx's ``map_httpcore_exceptions``: transport exceptions are
translated at this one boundary, and one function maps an error status to one exception.

Reliability rules (the guide's safety section): a call-placing request is never retried once it
may have reached the provider. When it fails before reaching it (connect error) the caller is
told nothing was dialled; when it may have reached it (read timeout, dropped connection, 5xx, an
unreadable answer) the caller is told the outcome is unknown. Secrets travel only in headers and
are masked in every message built from a provider's answer.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
import httpx
import orjson

from ..errors import ConfigError, OutcomeUnknown, ProviderError, ProviderStatusError, ProviderUnreachable

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
#: JSON longer than this (bytes) is decoded, and mapped, on a worker thread, so the event loop
#: keeps answering (a 50,000-recipient batch is a ~40 MB answer: a second of parsing).
OFF_LOOP_BYTES = 256 * 1024

T = TypeVar("T")


def encode_json(body: Any) -> bytes:
    """``body`` as compact UTF-8 JSON (``orjson``; the same text as ``json.dumps`` with
    ``separators=(",", ":")`` and ``ensure_ascii=False``).

    Raises:
        TypeError: a value JSON cannot carry.
    """
    return orjson.dumps(body)


@dataclass(frozen=True)
class JsonPieces:
    """A JSON body sent as it is encoded, piece by piece, with its length known beforehand.

    A 50,000-recipient batch is 35 MB of JSON: held whole it would exist two or three times
    over while it is sent (the bytes, the HTTP library's framing copy, the socket buffer). Sent
    in pieces, only one piece at a time exists, and no single encode holds the interpreter long.

    Attributes:
        pieces: makes the pieces, afresh each time it is called (once to count, once per try);
            ``b"".join(pieces())`` is the whole body.
        length: their total length in bytes (``Content-Length``).
    """

    pieces: Callable[[], Iterable[bytes]]
    length: int

    @classmethod
    async def of(cls, pieces: Callable[[], Iterable[bytes]]) -> JsonPieces:
        """Measure the body ``pieces`` makes (on a worker thread: it encodes it once, keeping
        nothing) and return it ready to send."""
        length = await anyio.to_thread.run_sync(lambda: sum(len(piece) for piece in pieces()))
        return cls(pieces, length)

    async def stream(self) -> AsyncIterator[bytes]:
        """The pieces, one at a time (for the HTTP client's request body)."""
        for piece in self.pieces():
            yield piece
            await anyio.sleep(0)  # one piece at a time: let the event loop answer others between


async def decode_json(content: bytes, parse: Callable[[Any], T] | None = None) -> T | Any:
    """Decode a JSON answer and hand it to ``parse`` (when given), on a worker thread when
    ``content`` is longer than :data:`OFF_LOOP_BYTES`.

    Raises:
        ValueError: ``content`` is not JSON. Whatever ``parse`` raises.
    """

    def work() -> Any:
        decoded = orjson.loads(content)
        return parse(decoded) if parse is not None else decoded

    if len(content) > OFF_LOOP_BYTES:
        return await anyio.to_thread.run_sync(work)
    return work()


def segment(value: str) -> str:
    """Quote an id for use as one URL path segment.

    ``/`` is percent-encoded and so are dots, because httpx removes ``.`` and ``..`` segments
    from a URL: an id of ``..`` must not turn ``…/batch-calling/../cancel`` into another endpoint.
    """
    return quote(value, safe="").replace(".", "%2E")


#: The shortest run of a secret's characters that :func:`masked` hides wherever it appears.
MASKED_RUN = 8


def masked(text: str, secret: str | None) -> str:
    """``text`` with the secret hidden: every run of :data:`MASKED_RUN` or more characters of
    ``secret`` (the whole key, a prefix, a suffix, any slice), in any letter case, becomes ``***``."""
    if not secret or not text:
        return text
    key, lowered = secret.lower(), text.lower()
    if len(key) < MASKED_RUN:
        return text.replace(secret, "***")
    pieces = {key[i : i + MASKED_RUN] for i in range(len(key) - MASKED_RUN + 1)}
    out, i = [], 0
    while i < len(text):
        if lowered[i : i + MASKED_RUN] in pieces:
            end = i + MASKED_RUN
            while end < len(text) and lowered[i : end + 1] in key:
                end += 1
            out.append("***")
            i = end
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def check_key(variable: str, key: str) -> None:
    """Refuse an API key that holds whitespace or control characters (a line break pasted with
    it): it would be sent as a broken header whose error echoes it. The key is never shown.

    Raises:
        ConfigError: naming the variable and where the bad character is.
    """
    for index, char in enumerate(key):
        if char.isspace() or ord(char) < 32 or ord(char) == 127:
            raise ConfigError(
                f"{variable} contains whitespace or a control character (at position {index + 1} of {len(key)}); "
                "set it to the key alone, on one line, without spaces."
            )


def reason(exc: Exception) -> str:
    """A short, key-free description of a transport failure."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def detail_of(response: httpx.Response, secret: str | None = None) -> tuple[str, str | None]:
    """Extract the provider's own message and machine code from an error answer.

    Reads every error body shape the providers document: ElevenLabs'
    ``{"detail": {"status", "message"}}`` and validation errors with ``detail`` as a list of
    ``{loc, msg}``; TalkifAI's ``{"detail": "…"}`` (its ``openapi.json`` examples) and
    ``{"success": false, "error": "…", "code": "…"}`` (its API introduction).

    Args:
        secret: masked as ``***`` wherever the provider echoes it, before the text is cut.
    Returns:
        ``(message, code)``; the message is at most :data:`MAX_DETAIL_CHARS` characters.
    """
    try:
        body: Any = response.json()
    except ValueError:
        text = response.text.strip() or response.reason_phrase or "no details"
        return masked(text, secret)[:MAX_DETAIL_CHARS], None
    code: str | None = None
    if isinstance(body, dict) and "detail" not in body and isinstance(body.get("error"), str):
        code = body.get("code") if isinstance(body.get("code"), str) else None
        return masked(body["error"], secret)[:MAX_DETAIL_CHARS], code
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
    return masked(str(message), secret)[:MAX_DETAIL_CHARS], code


def status_error(
    response: httpx.Response, display_name: str, hints: Mapping[int, str], secret: str | None = None
) -> ProviderStatusError:
    """Map an HTTP error answer to exactly one :class:`ProviderStatusError`.

    This is the one place where a status becomes an exception. The message keeps seed 002's form
    ``ElevenLabs API error ({status}): {detail message}`` and adds what to do about it: the
    provider's own hint for the status (``hints``), else a general one.
    """
    status = response.status_code
    detail, code = detail_of(response, secret)
    hint = hints.get(status)
    if status == 422 and hint is None:
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
    elif status >= 500 and hint is None:
        hint = "The provider failed internally; try again later."
    message = f"{display_name} API error ({status}): {detail}"
    if hint and not detail.rstrip().endswith((".", "!", "?")):
        message += "."
    if hint:
        message += f" {hint}"
    request_id = response.headers.get("request-id") or response.headers.get("x-request-id")
    return ProviderStatusError(message, status=status, detail=detail, request_id=request_id, code=code)


@dataclass
class HttpApi:
    """One provider's HTTP API: a long-lived ``httpx.AsyncClient`` and the rules for using it.

    Attributes:
        client: its ``base_url`` is the provider's; its transport decides whether the real API,
            a sandbox emulator or a mock answers.
        display: the provider's name in messages (``ElevenLabs``, ``ElevenLabs sandbox``).
        auth_headers: sent with every request (the key lives only here).
        secret: masked in every message built from an answer.
        read_timeout_secs: the client's read timeout, for the retry budget.
        dial_read_timeout_secs: the read timeout of call-placing requests, when they need a longer
            one than the client's (TalkifAI's outbound call blocks until answered: 65 s). Such
            requests are never retried once sent, so it does not count against the retry budget.
        hints: what to do about an error status, by status.
        sleep, random: the backoff's clock and jitter source (tests pass their own).
    """

    client: httpx.AsyncClient
    display: str
    auth_headers: dict[str, str]
    secret: str | None
    read_timeout_secs: float
    hints: Mapping[int, str] = field(default_factory=dict)
    dial_read_timeout_secs: float | None = None
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    random: Callable[[], float] = random.random

    async def send(
        self,
        method: str,
        path: str,
        *,
        body: dict | bytes | JsonPieces | None = None,
        params: dict[str, Any] | None = None,
        places_call: bool = False,
        parse: Callable[[Any], T] | None = None,
        hints: Mapping[int, str] | None = None,
    ) -> Any:
        """Send one request, retrying only where that cannot dial twice, and return the JSON answer.

        Args:
            body: the JSON body: an object, bytes of JSON, or :class:`JsonPieces` (a large body,
                encoded again piece by piece for each try).
            parse: applied to the decoded answer, on the worker thread that decodes a large one
                (:func:`decode_json`); its exceptions propagate unchanged.

        Retries (at most :data:`MAX_TRIES` tries, exponential backoff with jitter, ``Retry-After``
        honoured up to :data:`MAX_RETRY_AFTER_SECS`, never past :data:`TOTAL_BUDGET_SECS`):

        - every request: connect errors (it provably never left) and 429;
        - reads and cancels (``places_call=False``): also read timeouts, dropped connections, 5xx.

        A call-placing request (``places_call=True``) that may have reached the provider is never
        retried: it raises :class:`OutcomeUnknown`. ``hints`` replaces the API's own hints for
        this request (an endpoint whose 404 means something else).

        Returns:
            The decoded JSON answer (``None`` for an empty 2xx body of a non-dialling request).
        Raises:
            ProviderUnreachable: the request never reached the provider (after the retries).
            OutcomeUnknown: ``places_call`` and the request may have been received.
            ProviderStatusError: an error status (see :func:`status_error`).
        """
        headers = {**self.auth_headers, "accept": "application/json"}
        content: Any = None
        if body is not None:
            headers["content-type"] = "application/json"
            if isinstance(body, JsonPieces):
                headers["content-length"] = str(body.length)
            else:
                content = body if isinstance(body, bytes) else encode_json(body)
        timeout: Any = httpx.USE_CLIENT_DEFAULT
        if places_call and self.dial_read_timeout_secs is not None:
            default = self.client.timeout
            timeout = httpx.Timeout(default.read, connect=default.connect, read=self.dial_read_timeout_secs)
        deadline = time.monotonic() + TOTAL_BUDGET_SECS
        attempt = 0
        while True:
            attempt += 1
            if isinstance(body, JsonPieces):
                content = body.stream()
            try:
                response = await self.client.request(
                    method, path, content=content, params=params, headers=headers, timeout=timeout
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if await self._may_retry(attempt, deadline, None):
                    continue
                raise ProviderUnreachable(f"Could not reach {self.display}: {self._reason(exc)}") from exc
            except httpx.UnsupportedProtocol as exc:
                raise ProviderUnreachable(f"Could not reach {self.display}: {self._reason(exc)}") from exc
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if places_call:
                    raise OutcomeUnknown(
                        f"{self.display} did not answer ({self._reason(exc)}) after the request was sent: "
                        "the call may or may not have been placed."
                    ) from exc
                if await self._may_retry(attempt, deadline, None):
                    continue
                raise ProviderUnreachable(f"Could not reach {self.display}: {self._reason(exc)}") from exc
            except httpx.HTTPError as exc:  # e.g. DecodingError: an answer came but could not be read
                if places_call:
                    raise OutcomeUnknown(
                        f"{self.display}'s answer could not be read ({self._reason(exc)}): "
                        "the call may or may not have been placed."
                    ) from exc
                raise ProviderError(f"{self.display}'s answer could not be read ({self._reason(exc)}).") from exc
            status = response.status_code
            logger.debug("%s %s -> %s (try %d)", method, path, status, attempt)
            retryable = status == 429 or (status >= 500 and not places_call)
            if retryable and await self._may_retry(attempt, deadline, response.headers.get("retry-after")):
                continue
            if places_call and status >= 500:
                detail, _ = detail_of(response, self.secret)
                lost = OutcomeUnknown(
                    f"{self.display} answered {status} ({detail}) "
                    "to a request that places calls: the call may or may not have been placed."
                )
                lost.provider_text = detail
                raise lost
            if status >= 400:
                raise status_error(response, self.display, self.hints if hints is None else hints, self.secret)
            try:
                return await decode_json(response.content, parse)
            except orjson.JSONDecodeError as exc:
                if places_call:
                    raise OutcomeUnknown(
                        f"{self.display} answered {status} without a JSON body: "
                        "the call may or may not have been placed."
                    ) from exc
                raise ProviderError(f"{self.display} answered {status} without a JSON body.") from exc

    def _reason(self, exc: Exception) -> str:
        return masked(reason(exc), self.secret)

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
            delay = base + self.random() * base
        if delay > MAX_RETRY_AFTER_SECS:
            return False
        if time.monotonic() + delay + self.read_timeout_secs > deadline:
            return False
        logger.info("retrying %s after %.2f s (try %d of %d)", self.display, delay, attempt + 1, MAX_TRIES)
        await self.sleep(delay)
        return True

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()
