"""TalkifAI over HTTP: the outbound call of seed 004, and reading calls and batch calling from
TalkifAI's ``openapi.json``.

``POST {base}/telephony/outbound-call?to_number=…&from_number=…`` with ``Authorization: Bearer
<key>`` and no body (seed 004, repeated by ``openapi.json``; the older ``/v1/calls`` page with a
JSON body contradicts both and is not followed). The request blocks until the callee answers; a
408 after 60 s means it rang unanswered, which is an outcome of a placed call, not an error.

Where TalkifAI's documents disagree this follows ``openapi.json`` (after the seed): paths without
the introduction's ``/v1`` prefix, ``Authorization: Bearer`` (not ``x-api-key``), calls read at
``/calls/{callId}`` (not ``/v1/calls``), and both error bodies (``{detail}`` and
``{success: false, error, code}``) read by :func:`~caller_mcp.providers.http.detail_of`.

Sending, retrying and the status → error mapping are :class:`~caller_mcp.providers.http.HttpApi`'s;
the JSON shapes are :mod:`.mapping`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx

from ...domain.batches import BatchPage, BatchReport, BatchRequest
from ...domain.calls import CallReport, CallRequest, LlmPrice, PlacedCall
from ...domain.script import CallerScript
from ...errors import ConfigError, InvalidInput, NotSupported, ProviderStatusError
from ...ports import Capabilities
from ..http import HttpApi, segment
from .config import TalkifaiConfig
from .mapping import batch_created, batch_report, call_report, no_answer_call, placed_call, transcript_turns

OUTBOUND_CALL_PATH = "/telephony/outbound-call"
BATCH_CREATE_PATH = "/batch/create"

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

#: What to do about an error of the batch endpoints (``openapi.json``'s examples: invalid phone,
#: timezone or CSV, insufficient credits → 400; unknown ``fromPhoneNumberId`` → 404).
BATCH_HINTS = {
    400: "TalkifAI refused the batch: check the numbers (E.164), and the organization's credits in TalkifAI Studio.",
    401: STATUS_HINTS[401],
    402: STATUS_HINTS[402],
    404: "Check TALKIFAI_FROM_PHONE_NUMBER_ID (the Studio id of TALKIFAI_FROM_NUMBER, Studio → Phone Numbers) "
    "or the batch id.",
}
#: Reads of calls and batch jobs: a 404 means the id is unknown, not the from number.
READ_HINTS = {401: STATUS_HINTS[401], 404: "Use an id TalkifAI gave (a callId, a batchJobId)."}

#: TalkifAI's outbound call carries no prompt: the agent assigned to ``from_number`` in Studio
#: speaks with its own; it blocks until answered (up to 60 s). Calls are read back by ``callId``
#: (``GET /calls/{callId}``), which neither the outbound call nor a batch contact gives: only a
#: webhook does, so the calls caller-mcp dials cannot be read back (``read_dialled_call``). Batches
#: (create, read, list, cancel) exist; no endpoint calls a batch's failed contacts again.
CAPABILITIES = Capabilities(
    per_call_script=False,
    batches=True,
    batch_retry=False,
    read_call=True,
    read_dialled_call=False,
    dial_blocks=True,
    batch_concurrency=True,
)
#: ``concurrentCallLimit`` bounds of ``POST /batch/create`` (``openapi.json``: 1 to 50).
MAX_CONCURRENT_CALL_LIMIT = 50
#: Why a capability is missing and what to do instead, appended to ``NotSupported`` messages.
UNSUPPORTED_ADVICE = {
    "batch_retry": "TalkifAI has no endpoint that calls a batch's failed contacts again; it redials no_answer, "
    "busy and timeout contacts itself up to TALKIFAI_BATCH_MAX_ATTEMPTS times (default 1: never). Submit a new "
    "batch of the failed numbers (get_batch_status status=failed) to call them again.",
    "per_call_script": "The agent assigned to TALKIFAI_FROM_NUMBER in TalkifAI Studio speaks with its own prompt.",
}
#: Contacts per page when a batch job is read (``openapi.json``: ``contactsPageSize`` ≤ 500), and
#: the most pages read (10,000 contacts, TalkifAI's batch limit).
CONTACTS_PAGE_SIZE = 500
MAX_CONTACT_PAGES = 20
#: Seconds a batch read spends on contact pages after the first: with the first page's own read
#: timeout, ``get_batch_status`` stays well inside a client's ~60 s tool-call limit, however slow
#: TalkifAI answers. A read cut short says so (``BatchReport.incomplete``).
CONTACTS_BUDGET_SECS = 25.0
#: Most contacts in one batch (``openapi.json``: ``maxItems`` 10,000).
MAX_CONTACTS = 10_000
#: Prefix of the ``room_name`` seed 004's outbound call returns (``outbound_{agentId}_{to}_{ts}``).
ROOM_PREFIX = "outbound_"


class TalkifaiProvider:
    """Client of the TalkifAI API (or of its sandbox emulator). Implements
    :class:`~caller_mcp.ports.Provider`; ``retry_batch`` raises :class:`NotSupported` (see
    :data:`CAPABILITIES`).

    Args:
        config: the resolved settings (key, from number, mode).
        client: a long-lived ``httpx.AsyncClient`` whose ``base_url`` is ``config.api_base``.
        sleep, random: the backoff's clock and jitter source (tests pass their own).
    """

    name = "talkifai"
    capabilities = CAPABILITIES
    unsupported_advice = UNSUPPORTED_ADVICE
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
            read_timeout_secs=config.reads_timeout_secs,
            dial_read_timeout_secs=config.read_timeout_secs,
            hints=STATUS_HINTS,
            sleep=sleep,
            **({"random": random} if random is not None else {}),
        )

    # -- calls ---------------------------------------------------------------------------------

    def outbound_call_params(self, call: CallRequest) -> dict[str, str]:
        """The query of the outbound call (seed 004); the caller script is not part of it."""
        return {"to_number": call.to_number, "from_number": self._config.from_number}

    def _preview(self, method: str, path: str, body: dict[str, Any] | None, query: dict[str, str] | None = None) -> dict[str, Any]:
        url = f"{self._config.api_base}{path}" + (f"?{urlencode(query)}" if query else "")
        return {"method": method, "url": url, "headers": {"authorization": "Bearer ***"}, "body": body}

    async def preview_call(self, call: CallRequest) -> dict[str, Any]:
        """The exact request :meth:`place_call` would send, without sending it (a dry run).

        Returns:
            ``{"method", "url", "headers", "body"}``; the key is shown as ``***``; no body.
        """
        return self._preview("POST", OUTBOUND_CALL_PATH, None, self.outbound_call_params(call))

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

    async def get_call(self, provider_ref: str) -> CallReport:
        """Read a call by its TalkifAI ``callId``: ``GET /calls/{callId}`` (status, duration, start,
        recording) and, once it is ``completed``, ``GET /calls/{callId}/transcript``.

        A ``room_name`` (what the outbound call returns) is not a callId and nothing documents how
        to turn one into the other, so it is refused without a request.

        Raises:
            NotSupported: ``provider_ref`` is a room name.
            ProviderStatusError: 404 when TalkifAI does not know the callId; 401 for the key.
            ProviderUnreachable: after the retries of a read.
        """
        if provider_ref.startswith(ROOM_PREFIX):
            raise NotSupported(
                f"{provider_ref} is a TalkifAI room name, not a callId: TalkifAI documents no way to read a call "
                "by its room name (GET /calls/{callId} needs the callId a webhook gives)."
            )
        path = f"/calls/{segment(provider_ref)}"
        answer = await self._http.send("GET", path, hints=READ_HINTS)
        report = call_report(answer if _has_call_id(answer) else {"data": {**_data(answer), "callId": provider_ref}})
        if report.status != "done":
            return report
        try:
            turns = transcript_turns(await self._http.send("GET", f"{path}/transcript", hints=READ_HINTS))
        except ProviderStatusError as exc:
            if exc.status != 404:  # 404: no transcript for this call (yet)
                raise
            return report
        return replace(report, transcript=turns)

    # -- batches (openapi.json "Batch Calling") --------------------------------------------------

    def _from_phone_number_id(self) -> str:
        if not self._config.from_phone_number_id:
            raise ConfigError(
                "TalkifAI batch calls name the calling number by its Studio id, not its E.164 form: set "
                "TALKIFAI_FROM_PHONE_NUMBER_ID to the id of TALKIFAI_FROM_NUMBER (Studio → Phone Numbers) and restart."
            )
        return self._config.from_phone_number_id

    def batch_request(self, batch: BatchRequest) -> dict[str, Any]:
        """The JSON body of ``POST /batch/create``: ``fromPhoneNumberId``, ``name``, ``contacts``
        (``[{phone}]``, at most :data:`MAX_CONTACTS`), ``concurrentCallLimit``, ``maxAttempts``,
        ``timezone`` (``UTC``) and ``scheduledStartTime`` (ISO 8601, UTC) when scheduled. No script:
        TalkifAI's agent on the number speaks with its Studio prompt.

        ``concurrentCallLimit`` is the batch's ``target_concurrency_limit`` when it sets one, else
        ``TALKIFAI_BATCH_CONCURRENCY``.

        Raises:
            ConfigError: ``TALKIFAI_FROM_PHONE_NUMBER_ID`` is not set.
            InvalidInput: more than :data:`MAX_CONTACTS` recipients, or a ``target_concurrency_limit``
                above :data:`MAX_CONCURRENT_CALL_LIMIT`.
        """
        if len(batch.recipients) > MAX_CONTACTS:
            raise InvalidInput(f"TalkifAI takes at most {MAX_CONTACTS:,} contacts per batch; split the recipients.")
        limit = batch.target_concurrency_limit
        if limit is not None and limit > MAX_CONCURRENT_CALL_LIMIT:
            raise InvalidInput(
                f"target_concurrency_limit is {limit}; TalkifAI runs at most {MAX_CONCURRENT_CALL_LIMIT} calls of a batch at once."
            )
        body: dict[str, Any] = {
            "fromPhoneNumberId": self._from_phone_number_id(),
            "name": batch.name,
            "contacts": [{"phone": r.phone_number} for r in batch.recipients],
            "concurrentCallLimit": limit if limit is not None else self._config.batch_concurrency,
            "maxAttempts": self._config.batch_max_attempts,
            "timezone": "UTC",
        }
        if batch.scheduled_time_unix is not None:
            body["scheduledStartTime"] = (
                datetime.fromtimestamp(batch.scheduled_time_unix, timezone.utc).isoformat().replace("+00:00", "Z")
            )
        return body

    async def llm_price(self, script: CallerScript) -> LlmPrice:
        """Not offered: TalkifAI documents no per-minute price for a single call."""
        raise NotSupported(
            "The talkifai provider does not support a cost estimate before dialling; a TalkifAI batch's "
            "answer carries TalkifAI's own estimate."
        )

    def preview_batch(self, batch: BatchRequest) -> dict[str, Any]:
        """The exact request :meth:`submit_batch` would send (key as ``***``)."""
        return self._preview("POST", BATCH_CREATE_PATH, self.batch_request(batch))

    async def submit_batch(self, batch: BatchRequest) -> BatchReport:
        """``POST /batch/create`` with JSON contacts: one call-placing request, never re-sent once
        it may have arrived.

        Returns:
            The created job (id, status, ``totalContacts``) with TalkifAI's ``estimatedCost`` and
            ``estimatedDuration``.
        Raises:
            ConfigError, InvalidInput: see :meth:`batch_request` (nothing sent).
            ProviderStatusError: 400 (a number, the timezone, credits), 401, 402, 404 (the phone
                number id), or ``"success": false``.
            ProviderUnreachable, OutcomeUnknown: see :meth:`HttpApi.send`.
        """
        body = self.batch_request(batch)
        answer = await self._http.send("POST", BATCH_CREATE_PATH, body=body, places_call=True, hints=BATCH_HINTS)
        return batch_created(answer, batch.name, self._http.display)

    async def _job(self, batch_id: str, *, contacts: bool) -> BatchReport:
        """``GET /batch/jobs/{id}``, every page of its contacts when ``contacts`` (else one contact)."""
        path = f"/batch/jobs/{segment(batch_id)}"
        if not contacts:
            return batch_report(await self._http.send("GET", path, params={"contactsPageSize": 1}, hints=READ_HINTS))
        read: list[dict[str, Any]] = []
        job: Any = {}
        incomplete = None
        deadline = anyio.current_time() + CONTACTS_BUDGET_SECS
        for page in range(1, MAX_CONTACT_PAGES + 1):
            params = {"contactsPage": page, "contactsPageSize": CONTACTS_PAGE_SIZE}
            # The first page is the job itself (without it there is nothing to report); later
            # pages share the budget, and one cut short leaves ``job`` at the last page read.
            with anyio.move_on_after(deadline - anyio.current_time() if page > 1 else float("inf")) as scope:
                job = await self._http.send("GET", path, params=params, hints=READ_HINTS)
            if scope.cancelled_caught:
                incomplete = f"{CONTACTS_BUDGET_SECS:.0f} s"
                break
            items = _data(job).get("contacts")
            read.extend(c for c in items or [] if isinstance(c, dict))
            if not _data(job).get("contactsHasMore") or not items:
                break
        else:  # the last page allowed still said more remain
            incomplete = f"{MAX_CONTACT_PAGES} pages"
        report = batch_report(job, read)
        if incomplete is None:
            return report
        return replace(
            report,
            incomplete=(
                f"Read {len(read):,} of the batch's contacts: {self._http.display} still had more after "
                f"{incomplete} of contact pages. Counts and recipients cover those read; call get_batch_status "
                "again, or see the batch in TalkifAI's dashboard."
            ),
        )

    async def get_batch(self, batch_id: str) -> BatchReport:
        """A batch job with every contact (pages of :data:`CONTACTS_PAGE_SIZE`), its
        ``statusBreakdown`` and contact statuses mapped (:data:`~.mapping.CONTACT_STATUS`).

        Raises:
            ProviderStatusError: 404 for an unknown id. ProviderUnreachable.
        """
        return await self._job(batch_id, contacts=True)

    async def cancel_batch(self, batch_id: str) -> BatchReport:
        """``POST /batch/jobs/{id}/cancel``, then the job as it now stands.

        Raises:
            ProviderStatusError: 400 for a job already finished (TalkifAI's words), 404 unknown id.
        """
        answer = await self._http.send("POST", f"/batch/jobs/{segment(batch_id)}/cancel", hints=READ_HINTS)
        if isinstance(answer, dict) and answer.get("success") is False:
            reason = str(answer.get("error") or answer.get("message") or "no reason given")
            raise ProviderStatusError(f"{self._http.display} could not cancel the batch: {reason}", status=200, detail=reason)
        return await self._job(batch_id, contacts=False)

    async def retry_batch(self, batch_id: str) -> BatchReport:
        """Not offered by TalkifAI (see :data:`UNSUPPORTED_ADVICE`)."""
        raise NotSupported(f"The {self.name} provider does not support retrying a batch. {UNSUPPORTED_ADVICE['batch_retry']}")

    async def list_batches(self, limit: int, cursor: str | None = None) -> BatchPage:
        """One page of ``GET /batch/jobs?organizationId=…&page=…&pageSize=…`` (``pageSize`` ≤ 100);
        ``cursor`` is the next page number.

        Raises:
            ConfigError: ``TALKIFAI_ORGANIZATION_ID`` is not set (the endpoint requires it).
            ProviderStatusError, ProviderUnreachable.
        """
        if not self._config.organization_id:
            raise ConfigError("TalkifAI lists batch jobs per organization: set TALKIFAI_ORGANIZATION_ID and restart.")
        page = int(cursor) if cursor and cursor.isdigit() else 1
        size = max(1, min(limit, 100))
        answer = await self._http.send(
            "GET",
            "/batch/jobs",
            params={"organizationId": self._config.organization_id, "page": page, "pageSize": size},
            hints=READ_HINTS,
        )
        data = _data(answer)
        jobs = [batch_report(job) for job in data.get("batchJobs") or [] if isinstance(job, dict)]
        total = data.get("total") if isinstance(data.get("total"), int) else 0
        more = bool(jobs) and page * size < total
        return BatchPage(batches=tuple(jobs), cursor=str(page + 1) if more else None)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()


def _data(answer: Any) -> dict[str, Any]:
    if isinstance(answer, dict) and isinstance(answer.get("data"), dict):
        return answer["data"]
    return answer if isinstance(answer, dict) else {}


def _has_call_id(answer: Any) -> bool:
    return bool(_data(answer).get("callId"))
