"""TalkifAI over HTTP: the outbound call of seed 004.

``POST {base}/telephony/outbound-call?to_number=…&from_number=…`` with ``Authorization: Bearer
<key>`` and no body (seed 004, repeated by ``openapi.json``; the older ``/v1/calls`` page with a
JSON body contradicts both and is not followed). The request blocks until the callee answers; a
408 after 60 s means it rang unanswered, which is an outcome of a placed call, not an error.

Sending, retrying and the status → error mapping are :class:`~caller_mcp.providers.http.HttpApi`'s;
the JSON shapes are :mod:`.mapping`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx

from ...domain.batches import BatchPage, BatchReport, BatchRequest
from ...domain.calls import CallReport, CallRequest, PlacedCall
from ...errors import NotSupported, ProviderStatusError
from ...ports import CAPABILITY_WORDS, Capabilities
from ..http import HttpApi
from .config import TalkifaiConfig
from .mapping import no_answer_call, placed_call

OUTBOUND_CALL_PATH = "/telephony/outbound-call"

#: What to do about each error status of the outbound call (seed 004's list; texts of
#: ``openapi.json``'s examples). 408 is absent: it is not an error (see :meth:`place_call`).
STATUS_HINTS = {
    400: "Check that both numbers are E.164; if TalkifAI says the agent is text-only, assign a Pipeline or "
    "Realtime (voice) agent to the from number in TalkifAI Studio → Phone Numbers.",
    401: "Check TALKIFAI_API_KEY: TalkifAI rejected the key (Studio → Settings → API Keys).",
    402: "The TalkifAI organization has insufficient balance: add credits in TalkifAI Studio.",
    404: "Check TALKIFAI_FROM_NUMBER: it must be registered in TalkifAI Studio → Phone Numbers with an "
    "outbound agent assigned.",
}

#: TalkifAI's outbound call carries no prompt: the agent assigned to ``from_number`` in Studio
#: speaks with its own; it blocks until answered (up to 60 s). Batches and reading calls back are
#: not built yet.
CAPABILITIES = Capabilities(per_call_script=False, batches=False, batch_retry=False, read_call=False, dial_blocks=True)


class TalkifaiProvider:
    """Client of the TalkifAI API (or of its sandbox emulator). Implements :class:`~caller_mcp.ports.Dialer`;
    the batch and call-reading ports raise :class:`NotSupported` (see :data:`CAPABILITIES`).

    Args:
        config: the resolved settings (key, from number, mode).
        client: a long-lived ``httpx.AsyncClient`` whose ``base_url`` is ``config.api_base``.
        sleep, random: the backoff's clock and jitter source (tests pass their own).
    """

    name = "talkifai"
    capabilities = CAPABILITIES
    #: In sandbox mode, the emulator's webhook sender (``sandbox/webhooks.py``), or ``None``.
    sandbox_webhooks: Any = None

    def __init__(
        self,
        config: TalkifaiConfig,
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
            display="TalkifAI sandbox" if config.sandbox else "TalkifAI",
            auth_headers={"authorization": f"Bearer {key}"},
            secret=key,
            read_timeout_secs=config.read_timeout_secs,
            hints=STATUS_HINTS,
            sleep=sleep,
            **({"random": random} if random is not None else {}),
        )

    # -- calls ---------------------------------------------------------------------------------

    def outbound_call_params(self, call: CallRequest) -> dict[str, str]:
        """The query of the outbound call (seed 004); the caller script is not part of it."""
        return {"to_number": call.to_number, "from_number": self._config.from_number}

    async def preview_call(self, call: CallRequest) -> dict[str, Any]:
        """The exact request :meth:`place_call` would send, without sending it (a dry run).

        Returns:
            ``{"method", "url", "headers", "body"}``; the key is shown as ``***``; no body.
        """
        return {
            "method": "POST",
            "url": f"{self._config.api_base}{OUTBOUND_CALL_PATH}?{urlencode(self.outbound_call_params(call))}",
            "headers": {"authorization": "Bearer ***"},
            "body": None,
        }

    async def place_call(self, call: CallRequest) -> PlacedCall:
        """Place one outbound call and wait until it is answered (or rang out).

        Returns:
            An answered call (``status="answered"``, ``provider_ref`` = ``room_name``), or, on 408,
            a placed call that rang unanswered (``status="no_answer"``, no ``provider_ref``).
        Raises:
            ProviderStatusError: 400, 401, 402, 404 … with TalkifAI's message and what to fix;
                or a 200 with ``"success": false``.
            ProviderUnreachable, OutcomeUnknown: see :meth:`HttpApi.send` (5xx and read timeouts
                are never re-sent).
        """
        try:
            answer = await self._http.send(
                "POST", OUTBOUND_CALL_PATH, params=self.outbound_call_params(call), places_call=True
            )
        except ProviderStatusError as exc:
            if exc.status != 408:
                raise
            return no_answer_call(exc.detail, self._http.display, {"status": 408, "detail": exc.detail})
        return placed_call(answer, self._http.display)

    # -- what TalkifAI does not do here (yet) ----------------------------------------------------

    def _unsupported(self, capability: str) -> NotSupported:
        return NotSupported(f"The {self.name} provider does not support {CAPABILITY_WORDS[capability]}.")

    async def get_call(self, provider_ref: str) -> CallReport:
        """Not built: nothing documents how a ``room_name`` maps to TalkifAI's ``callId``."""
        raise self._unsupported("read_call")

    def preview_batch(self, batch: BatchRequest) -> dict[str, Any]:
        raise self._unsupported("batches")

    async def submit_batch(self, batch: BatchRequest) -> BatchReport:
        raise self._unsupported("batches")

    async def get_batch(self, batch_id: str) -> BatchReport:
        raise self._unsupported("batches")

    async def cancel_batch(self, batch_id: str) -> BatchReport:
        raise self._unsupported("batches")

    async def retry_batch(self, batch_id: str) -> BatchReport:
        raise self._unsupported("batch_retry")

    async def list_batches(self, limit: int, cursor: str | None = None) -> BatchPage:
        raise self._unsupported("batches")

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
