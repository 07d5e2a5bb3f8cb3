"""ElevenLabs Conversational AI over HTTP: outbound calls by Twilio or SIP trunk, batch calling,
conversations.

Endpoints follow ``shared/reference``: ``001_…`` (``POST /v1/convai/twilio/outbound-call``),
``000_…`` (``POST /v1/convai/sip-trunk/outbound-call``), ``003_…`` (batch calling submit, list,
get, cancel, retry) and ``GET /v1/convai/conversations/{id}`` (``shared/reference/README.md``).
The same class talks to the sandbox emulator, mounted as the client's transport. Sending,
retrying and error mapping are :class:`~caller_mcp.providers.http.HttpApi`'s; the JSON shapes are
:mod:`.mapping`'s.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import anyio
import httpx

from ...domain.batches import BatchPage, BatchRecipientRequest, BatchRequest, BatchReport
from ...domain.calls import CallReport, CallRequest, LlmPrice, PlacedCall
from ...domain.script import CallerScript
from ...errors import OutcomeUnknown, ProviderError, ProviderStatusError
from ...ports import Capabilities
from ..http import HttpApi, JsonPieces, encode_json, segment
from .config import ElevenLabsConfig
from .mapping import batch_report, call_report, client_data, telephony_call_config

logger = logging.getLogger(__name__)

OUTBOUND_CALL_PATHS = {
    "twilio": "/v1/convai/twilio/outbound-call",
    "sip_trunk": "/v1/convai/sip-trunk/outbound-call",
}
#: The answer field that carries the telephony call id, by phone provider (``001_…``, ``000_…``).
CALL_SID_FIELDS = {"twilio": "callSid", "sip_trunk": "sip_call_id"}
BATCH_SUBMIT_PATH = "/v1/convai/batch-calling/submit"
#: Recipients encoded per piece of a batch submission's body (~700 KB).
BATCH_PIECE_RECIPIENTS = 1_000

STATUS_HINTS = {
    401: "Check ELEVENLABS_API_KEY: the key was rejected or its quota is used up.",
    403: "The API key lacks permission for this agent, phone number or batch.",
    404: "Check ELEVENLABS_AGENT_ID, ELEVENLABS_AGENT_PHONE_NUMBER_ID or the batch id.",
}

CAPABILITIES = Capabilities(
    per_call_script=True,
    batches=True,
    batch_retry=True,
    read_call=True,
    call_language=True,
    call_voice=True,
    dynamic_variables=True,
    ring_timeout=True,
    batch_concurrency=True,
    recipient_ids=True,
    cost_estimate=True,
)
LLM_USAGE_PATH = "/v1/convai/llm-usage/calculate"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


class ElevenLabsProvider:
    """Client of the ElevenLabs Conversational AI API (or of its sandbox emulator).

    Implements every port of :mod:`caller_mcp.ports`.

    Args:
        config: the resolved settings (key, agent, phone number, phone provider, mode).
        client: a long-lived ``httpx.AsyncClient`` whose ``base_url`` is ``config.api_base``.
        sleep, random: the backoff's clock and jitter source (tests pass their own).
    """

    name = "elevenlabs"
    capabilities = CAPABILITIES
    #: In sandbox mode, the emulator's webhook sender (``sandbox/webhooks.py``), or ``None``.
    sandbox_webhooks: Any = None

    def __init__(
        self,
        config: ElevenLabsConfig,
        client: httpx.AsyncClient,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        random: Callable[[], float] | None = None,
    ) -> None:
        self.sandbox = config.sandbox
        self._config = config
        key = config.api_key.get_secret_value()
        self._http = HttpApi(
            client=client,
            display="ElevenLabs sandbox" if config.sandbox else "ElevenLabs",
            auth_headers={"xi-api-key": key},
            secret=key,
            read_timeout_secs=config.read_timeout_secs,
            hints=STATUS_HINTS,
            sleep=sleep,
            **({"random": random} if random is not None else {}),
        )
        self._phone_provider: str | None = None if config.phone_provider == "auto" else config.phone_provider
        self._lookup_lock = anyio.Lock()
        # Per process (issue 12): the agent's LLM and own prompt, and price lists by prompt length.
        self._agent: dict[str, str] | None = None
        self._agent_lock = anyio.Lock()
        self._prices: dict[int, dict[str, float]] = {}

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
                answer = await self._http.send(
                    "GET", f"/v1/convai/phone-numbers/{segment(self._config.agent_phone_number_id)}"
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

    def outbound_call_request(self, phone_provider: str, call: CallRequest) -> tuple[str, dict]:
        """Build the ``(path, JSON body)`` of an outbound call (``001_…`` / ``000_…``): the client
        data of :func:`~.mapping.client_data` in the configured script mode, and
        ``telephony_call_config.ringing_timeout_secs`` when the call sets a ring timeout."""
        body: dict[str, Any] = {
            "agent_id": self._config.agent_id,
            "agent_phone_number_id": self._config.agent_phone_number_id,
            "to_number": call.to_number,
            "conversation_initiation_client_data": client_data(call.script, self._config.script_mode),
        }
        telephony = telephony_call_config(call.script.overrides.ring_timeout_secs)
        if telephony is not None:
            body["telephony_call_config"] = telephony
        return OUTBOUND_CALL_PATHS[phone_provider], body

    def _preview(self, path: str, body: dict) -> dict[str, Any]:
        return {"method": "POST", "url": self._config.api_base + path, "headers": {"xi-api-key": "***"}, "body": body}

    async def preview_call(self, call: CallRequest) -> dict[str, Any]:
        """The exact request :meth:`place_call` would send, without sending it (a dry run).

        Looks the phone number up if the phone provider is ``auto`` (a read; nothing is dialled).

        Returns:
            ``{"method", "url", "headers", "body"}``; the key header is shown as ``***``.
        """
        return self._preview(*self.outbound_call_request(await self.phone_provider(), call))

    async def place_call(self, call: CallRequest) -> PlacedCall:
        """Place one outbound call.

        Returns:
            The provider's answer: ``provider_ref`` is the conversation id, ``telephony_ref``
            Twilio's ``callSid`` or the SIP ``sip_call_id``, ``line`` the phone provider.
        Raises:
            ProviderStatusError: an error status, or a 200 answer with ``"success": false``.
            ProviderUnreachable, OutcomeUnknown: see :meth:`HttpApi.send`.
        """
        phone_provider = await self.phone_provider()
        path, body = self.outbound_call_request(phone_provider, call)
        answer = await self._http.send("POST", path, body=body, places_call=True)
        display = self._http.display
        if not isinstance(answer, dict):
            raise OutcomeUnknown(f"{display} answered with an unexpected body: the call may have been placed.")
        message = str(answer.get("message") or "")
        if answer.get("success") is False:
            raise ProviderStatusError(
                f"{display} could not place the call: {message or 'no reason given'}", status=200, detail=message
            )
        return PlacedCall(
            message=message,
            provider_ref=answer.get("conversation_id"),
            telephony_ref=answer.get(CALL_SID_FIELDS[phone_provider]),
            line=phone_provider,
            raw=answer,
        )

    async def get_call(self, provider_ref: str) -> CallReport:
        """``GET /v1/convai/conversations/{conversation_id}``: status, transcript, metadata, analysis.

        Raises:
            ProviderStatusError: 404 when the provider does not know the conversation (yet).
            ProviderError: as :meth:`HttpApi.send`, or the answer is not a conversation.
        """
        answer = await self._http.send("GET", f"/v1/convai/conversations/{segment(provider_ref)}")
        return call_report(answer, provider_ref)

    # -- prices --------------------------------------------------------------------------------

    async def agent(self) -> dict[str, str]:
        """The configured agent's LLM and own prompt, read once per process with
        ``GET /v1/convai/agents/{agent_id}``: ``{"llm": conversation_config.agent.prompt.llm,
        "prompt": conversation_config.agent.prompt.prompt}``.

        Raises:
            ProviderError: the read failed, or the agent names no LLM.
        """
        if self._agent is not None:
            return self._agent
        async with self._agent_lock:
            if self._agent is None:
                answer = await self._http.send("GET", f"/v1/convai/agents/{segment(self._config.agent_id)}")
                prompt = ((((answer or {}).get("conversation_config") or {}).get("agent") or {}).get("prompt") or {}) if isinstance(answer, dict) else {}
                llm = prompt.get("llm") if isinstance(prompt, dict) else None
                if not isinstance(llm, str) or not llm:
                    raise ProviderError(
                        f"{self._http.display}'s agent {self._config.agent_id} names no LLM "
                        "(conversation_config.agent.prompt.llm), so no price can be estimated."
                    )
                own = prompt.get("prompt")
                self._agent = {"llm": llm, "prompt": own if isinstance(own, str) else ""}
        return self._agent

    def prompt_length(self, script: CallerScript, agent_prompt: str) -> int:
        """The caller prompt's length in characters for ``script``: the overriding prompt
        (``override`` mode), or the agent's own with ``{{business_description}}`` and
        ``{{scenario}}`` filled (``variables`` mode)."""
        if self._config.script_mode != "variables":
            return len(script.prompt)
        values = {**{k: str(v) for k, v in script.overrides.variables().items()},
                  "business_description": script.business_description, "scenario": script.scenario}
        return len(_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), agent_prompt))

    async def llm_price(self, script: CallerScript) -> LlmPrice:
        """The agent's LLM price per minute for ``script`` (seed ``003_…``):
        ``POST /v1/convai/llm-usage/calculate {prompt_length, number_of_pages: 0, rag_enabled: false}``
        → ``llm_prices[{llm, price_per_minute}]``, the entry of the agent's LLM. The agent is read
        once and each prompt length's price list once per process.

        Raises:
            ProviderError: a read failed, or the list has no price for the agent's LLM.
        """
        agent = await self.agent()
        length = self.prompt_length(script, agent["prompt"])
        prices = self._prices.get(length)
        if prices is None:
            answer = await self._http.send(
                "POST", LLM_USAGE_PATH, body={"prompt_length": length, "number_of_pages": 0, "rag_enabled": False}
            )
            listed = answer.get("llm_prices") if isinstance(answer, dict) else None
            if not isinstance(listed, list):
                raise ProviderError(f"{self._http.display}'s LLM price answer has no llm_prices list.")
            prices = {
                str(item["llm"]): float(item["price_per_minute"])
                for item in listed
                if isinstance(item, dict) and isinstance(item.get("price_per_minute"), (int, float))
                and not isinstance(item.get("price_per_minute"), bool) and item.get("llm")
            }
            self._prices[length] = prices
        if agent["llm"] not in prices:
            raise ProviderError(
                f"{self._http.display} lists no price for the agent's LLM {agent['llm']} (prices exist for "
                f"{', '.join(sorted(prices)[:8]) or 'no model'}), so no estimate can be given."
            )
        return LlmPrice(llm=agent["llm"], usd_per_minute=prices[agent["llm"]], prompt_length=length)

    # -- batches -------------------------------------------------------------------------------

    def batch_request(self, batch: BatchRequest) -> dict:
        """Build the JSON body of ``POST /v1/convai/batch-calling/submit`` (``003_…``).

        Each recipient carries the caller's own ``id`` when given and its client data in the
        configured script mode; the batch carries ``target_concurrency_limit`` and
        ``telephony_call_config.ringing_timeout_secs`` when set (``shared/reference/README.md``).
        Recipients that share a script share one client-data object, so a large batch holds one
        copy per distinct script, not one per recipient.
        """
        shared: dict[int, dict[str, Any]] = {}
        return {**self._batch_fields(batch), "recipients": self._recipients(batch.recipients, shared)}

    def batch_pieces(self, batch: BatchRequest) -> Iterator[bytes]:
        """:meth:`batch_request` encoded as JSON, :data:`BATCH_PIECE_RECIPIENTS` recipients per
        piece (``b"".join`` of the pieces is the whole body)."""
        head = encode_json({**self._batch_fields(batch), "recipients": []})
        yield head[: -len(b"]}")]
        shared: dict[int, dict[str, Any]] = {}
        recipients = batch.recipients
        for start in range(0, len(recipients), BATCH_PIECE_RECIPIENTS):
            piece = encode_json(self._recipients(recipients[start : start + BATCH_PIECE_RECIPIENTS], shared))[1:-1]
            yield piece if start == 0 else b"," + piece
        yield b"]}"

    def _batch_fields(self, batch: BatchRequest) -> dict[str, Any]:
        """The body's fields other than ``recipients``."""
        body: dict[str, Any] = {
            "call_name": batch.name,
            "agent_id": self._config.agent_id,
            "agent_phone_number_id": self._config.agent_phone_number_id,
            "scheduled_time_unix": batch.scheduled_time_unix,
        }
        if batch.target_concurrency_limit is not None:
            body["target_concurrency_limit"] = batch.target_concurrency_limit
        telephony = telephony_call_config(batch.ring_timeout_secs)
        if telephony is not None:
            body["telephony_call_config"] = telephony
        return body

    def _recipients(self, recipients: Sequence[BatchRecipientRequest], shared: dict[int, dict[str, Any]]) -> list[dict]:
        """The recipients' JSON objects; ``shared`` maps a script to its one client-data object."""
        mode = self._config.script_mode
        out = []
        for recipient in recipients:
            data = shared.get(id(recipient.script))
            if data is None:
                data = shared[id(recipient.script)] = client_data(recipient.script, mode)
            entry: dict[str, Any] = {"phone_number": recipient.phone_number, "conversation_initiation_client_data": data}
            if recipient.recipient_id is not None:
                entry = {"id": recipient.recipient_id, **entry}
            out.append(entry)
        return out

    def preview_batch(self, batch: BatchRequest) -> dict[str, Any]:
        """The exact request :meth:`submit_batch` would send, without sending it (a dry run)."""
        return self._preview(BATCH_SUBMIT_PATH, self.batch_request(batch))

    async def submit_batch(self, batch: BatchRequest) -> BatchReport:
        """Submit a batch call; answers the created batch (``BatchCallResponse``).

        The body (~700 bytes a recipient) is encoded piece by piece as it is sent
        (:class:`~caller_mcp.providers.http.JsonPieces`), so it never exists whole and the event
        loop keeps answering other requests meanwhile.
        """
        body = await JsonPieces.of(lambda: self.batch_pieces(batch))
        answer = await self._http.send("POST", BATCH_SUBMIT_PATH, body=body, places_call=True)
        try:
            return batch_report(answer)
        except ProviderError as exc:  # a 200 means it was accepted: the batch may well exist
            raise OutcomeUnknown(
                f"{self._http.display} accepted the batch but its answer has no batch id: the calls may be scheduled."
            ) from exc

    async def get_batch(self, batch_id: str) -> BatchReport:
        """``GET /v1/convai/batch-calling/{batch_id}``: the batch with every recipient (decoded and
        mapped on a worker thread when the answer is large)."""
        return await self._http.send("GET", f"/v1/convai/batch-calling/{segment(batch_id)}", parse=batch_report)

    async def cancel_batch(self, batch_id: str) -> BatchReport:
        """``POST /v1/convai/batch-calling/{batch_id}/cancel``: answers the batch with its new status."""
        return batch_report(await self._http.send("POST", f"/v1/convai/batch-calling/{segment(batch_id)}/cancel"))

    async def retry_batch(self, batch_id: str) -> BatchReport:
        """``POST /v1/convai/batch-calling/{batch_id}/retry``: call the failed and unanswered
        recipients again (``003_…``); answers the batch with its new status.

        It places calls, so it is sent like an outbound call: never retried once it may have
        reached the provider (:class:`OutcomeUnknown` instead).
        """
        answer = await self._http.send("POST", f"/v1/convai/batch-calling/{segment(batch_id)}/retry", places_call=True)
        try:
            return batch_report(answer)
        except ProviderError as exc:
            raise OutcomeUnknown(
                f"{self._http.display} accepted the retry but its answer has no batch id: the calls may be placed again."
            ) from exc

    async def list_batches(self, limit: int, cursor: str | None = None) -> BatchPage:
        """``GET /v1/convai/batch-calling/workspace?limit=…&last_doc=…`` (``003_…``): one page of
        the workspace's batch calls, newest first.

        Args:
            limit: batches per page (the provider caps it).
            cursor: the previous page's ``next_doc``; ``None`` for the first page.
        Raises:
            ProviderError: as :meth:`HttpApi.send`, or the answer has no ``batch_calls`` list.
        """
        params: dict[str, Any] = {"limit": int(limit)}
        if cursor:
            params["last_doc"] = cursor
        answer = await self._http.send("GET", "/v1/convai/batch-calling/workspace", params=params)
        if not isinstance(answer, dict) or not isinstance(answer.get("batch_calls"), list):
            raise ProviderError(f"{self._http.display}'s batch list has no batch_calls list.")
        batches = []
        for item in answer["batch_calls"]:
            try:
                batches.append(batch_report(item))
            except ProviderError:
                logger.warning("skipped a workspace batch without an id")
        next_doc = answer.get("next_doc")
        more = bool(answer.get("has_more")) and isinstance(next_doc, str) and bool(next_doc)
        return BatchPage(batches=tuple(batches), cursor=next_doc if more else None)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
