"""The use cases behind the tools: set the business context, place a call, follow it to its outcome,
submit / watch / retry / cancel a batch.

Plain async Python with no MCP in it: ``server.py`` wires these methods to tools and turns every
:class:`~caller_mcp.errors.CallerError` into a tool error. The behaviour of ``set_context`` and
``place_call`` is seed 002's (``/api/context`` and ``/api/call``).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from .config import SANDBOX_NOTE, ProviderConfig, Settings
from .errors import (
    CallerError,
    CapExceeded,
    ConfigError,
    InvalidInput,
    NotConfirmed,
    NotFound,
    OutcomeUnknown,
    PolicyViolation,
    ProviderError,
    ProviderStatusError,
)
from .models import (
    BatchListResult,
    BatchStatusResult,
    BatchSummary,
    BusinessContextResult,
    CallListResult,
    CallRecordResult,
    CallResult,
    CancelBatchResult,
    PlaceCallResult,
    RecipientInput,
    RecipientResult,
    RetryBatchResult,
    SubmitBatchResult,
)
from .outcomes import (
    FINAL_STATUSES,
    UNTRUSTED_NOTE,
    bounded_transcript,
    call_status,
    collected_values,
    evaluation_results,
    recipient_call_status,
    record_status,
    transcript_text,
)
from .policy import DialPolicy, check_e164
from .providers.base import (
    RECIPIENT_STATUSES,
    BatchCall,
    BatchRecipientRequest,
    BatchSubmission,
    Conversation,
    OutboundCall,
    Provider,
)
from .script import DEFAULT_SCENARIO, build_script, normalize_description, normalize_scenario
from .store import BusinessContext, CallRecord, Store

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Seed 002's error when neither the call nor the stored context gives a business description.
NO_DESCRIPTION_ERROR = "Provide a business description first."
MAX_DESCRIPTION_CHARS = 20_000
MAX_SCENARIO_CHARS = 2_000
MAX_CALL_NAME_CHARS = 200
#: Recipients per ``get_batch_status`` page: default and most.
DEFAULT_RECIPIENT_PAGE = 20
MAX_RECIPIENT_PAGE = 100
#: Recipient statuses that count as finished for a batch's ``progress``.
FINISHED_RECIPIENT_STATUSES = frozenset({"completed", "failed", "voicemail", "cancelled"})
#: Recipients ``retry_batch`` calls again: failed, and answered by voicemail (no one responded).
RETRIED_RECIPIENT_STATUSES = ("failed", "voicemail")
#: Longest ``get_call`` wait, seconds: MCP clients give up on a tool call at about 60 s.
MAX_WAIT_SECS = 50.0
#: ``get_call`` polling: first pause, growth factor and longest pause between two reads, seconds.
FIRST_POLL_DELAY_SECS = 1.0
POLL_BACKOFF = 1.5
MAX_POLL_DELAY_SECS = 5.0
#: Most batches ``list_batches`` returns, and the provider's page size when it pages with ``last_doc``.
MAX_BATCH_LIST = 500
WORKSPACE_PAGE_SIZE = 100
#: Invalid recipients named one by one in a ``submit_batch`` error; the rest are counted.
MAX_LISTED_ERRORS = 20
#: Recipients shown in a batch dry run's request; the rest are counted.
MAX_DRY_RUN_RECIPIENTS = 3
#: The rolling window of ``CALLER_MCP_MAX_CALLS_PER_HOUR``, seconds.
CAP_WINDOW_SECS = 3600
#: Longest local call history ``list_calls`` returns.
MAX_LIST_LIMIT = 200
#: C0 controls but tab, line feed and carriage return; DEL and C1 controls; lone surrogates
#: (they cannot be encoded as UTF-8 for the provider or the store).
_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
#: ``progress(elapsed_secs, total_secs, message)``: how a wait reports progress (MCP notifications).
ProgressFn = Callable[[float, float, str], Awaitable[None]]


@dataclass(frozen=True)
class _PreparedCall:
    config: ProviderConfig
    description: str
    scenario: str
    outbound: OutboundCall


@dataclass(frozen=True)
class _PreparedBatch:
    config: ProviderConfig
    name: str
    requests: list[BatchRecipientRequest]
    summary: list[dict[str, Any]]


def iso(ts: float) -> str:
    """Unix seconds → ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


class CallerService:
    """The application: one per server process.

    Args:
        settings: the process settings.
        store: an open store; by default the SQLite file of ``settings`` is opened on first use.
        transport: optional ``httpx`` transport handed to the provider (tests, sandbox clock).
        sleep, monotonic: the clock of ``get_call``'s waits (tests pass their own).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        *,
        transport: Any = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._monotonic = monotonic
        self._opened_store = store
        self._transport = transport
        self._provider: Provider | None = None
        self._config: ProviderConfig | None = None

    @property
    def settings(self) -> Settings:
        """The settings this service was built with."""
        return self._settings

    @property
    def _store(self) -> Store:
        """The store, opened on first use.

        Raises:
            ConfigError: the database file cannot be opened or created.
        """
        if self._opened_store is None:
            where = self._settings.caller_mcp_db or "the user data directory"
            try:
                self._opened_store = Store(self._settings.database_path())
            except (OSError, sqlite3.Error) as exc:
                raise ConfigError(
                    f"Cannot open the call database at {where}: {exc}. "
                    "Set CALLER_MCP_DB to a writable file path."
                ) from exc
        return self._opened_store

    # -- provider ------------------------------------------------------------------------------

    def provider_config(self) -> ProviderConfig:
        """The resolved provider configuration.

        Raises:
            ConfigError: the environment is incomplete (seed 002's missing-variables text) or invalid.
        """
        if self._config is None:
            self._config = self._settings.resolve()
        return self._config

    def provider(self) -> Provider:
        """The provider, created on first use so that start-up never needs it."""
        if self._provider is None:
            from .providers import create_provider

            self._provider = create_provider(self.provider_config(), transport=self._transport)
        return self._provider

    async def aclose(self) -> None:
        """Close the provider's HTTP client and the store, if they were opened."""
        if self._provider is not None:
            await self._provider.aclose()
            self._provider = None
        if self._opened_store is not None:
            self._opened_store.close()
            self._opened_store = None

    def _note(self) -> str | None:
        return SANDBOX_NOTE if self.provider_config().is_sandbox else None

    def policy(self) -> DialPolicy:
        """The dial policy for the configured provider and the operator's allowlist."""
        return DialPolicy(
            real_provider=not self.provider_config().is_sandbox,
            allowed_numbers=self._settings.allowed_numbers(),
            allowed_countries=self._settings.allowed_countries(),
        )

    def _check_caps(self, dials: int, *, batch: bool) -> None:
        """Refuse ``dials`` more dials if a cap would be exceeded (caps are counted in the store,
        so a restart does not reset them).

        Raises:
            CapExceeded: with the time at which the next dial is allowed.
        """
        per_hour, max_batch = self._settings.call_caps(sandbox=self.provider_config().is_sandbox)
        if batch and max_batch is not None and dials > max_batch:
            raise CapExceeded(
                f"{dials:,} recipients exceed CALLER_MCP_MAX_BATCH_SIZE={max_batch:,}; split the batch."
            )
        if per_hour is None:
            return
        if dials > per_hour:
            raise CapExceeded(
                f"{dials:,} calls exceed CALLER_MCP_MAX_CALLS_PER_HOUR={per_hour:,} on their own; "
                "submit fewer at a time."
            )
        now = time.time()
        recent = self._store.dials_since(now - CAP_WINDOW_SECS)
        used = sum(n for _, n in recent)
        if used + dials <= per_hour:
            return
        retry_at = now
        for created_at, n in recent:  # oldest first: when have enough dials left the window?
            used -= n
            retry_at = created_at + CAP_WINDOW_SECS
            if used + dials <= per_hour:
                break
        raise CapExceeded(
            f"Hourly call cap reached: {sum(n for _, n in recent):,} calls in the last hour and "
            f"CALLER_MCP_MAX_CALLS_PER_HOUR={per_hour:,}. The next "
            f"{'batch of ' + format(dials, ',') + ' calls' if batch else 'call'} is allowed at "
            f"{iso(retry_at)} (in {max(1, int(retry_at - now + 0.999)):,} s).",
            retry_at=retry_at,
        )

    def _duplicate_answer(self, earlier: Any) -> PlaceCallResult:
        """The answer that returns an earlier call instead of dialling again."""
        age = max(0, int(time.time() - earlier.created_at))
        return PlaceCallResult(
            ok=True,
            status=earlier.status,
            message=(
                f"Not dialled again: {earlier.to_number} was called with the same scenario {age} s ago "
                f"(call {earlier.call_id}, {earlier.status}). Pass allow_redial=true only if a second "
                "call is really wanted."
            ),
            to_number=earlier.to_number,
            scenario=earlier.scenario,
            call_sid=earlier.call_sid,
            conversation_id=earlier.conversation_id,
            call_id=earlier.call_id,
            provider=earlier.provider,
            phone_provider=earlier.phone_provider,
            duplicate_of=earlier.call_id,
            note=self._note(),
        )

    def _duplicate_of(self, to_number: str, scenario: str) -> Any:
        """The earlier call to the same number with the same scenario inside the redial guard."""
        window = self._settings.caller_mcp_redial_guard_secs
        if window <= 0:
            return None
        return self._store.recent_call(to_number, scenario, time.time() - window)

    # -- business context ----------------------------------------------------------------------

    async def set_context(self, description: str, scenario: str | None = None) -> BusinessContextResult:
        """Store the business description and default scenario (seed 002 ``/api/context``).

        Args:
            description: who the business is; trimmed, must not be blank.
            scenario: default caller goal; normalised; blank or ``None`` means seed 002's default.
        Returns:
            The stored context, with the scenario that will apply.
        Raises:
            InvalidInput: blank or oversized description, oversized scenario.
        """
        text = _description(description, "description")
        if text is None:
            raise InvalidInput("description must not be empty: describe the business the calls go to.")
        goal = _scenario(scenario)
        stored = self._store.set_context(text, goal)
        return _context_result(stored, "Business context saved. place_call and submit_batch will use it.")

    # -- single call ---------------------------------------------------------------------------

    def _prepare_call(self, to_number: str, business_description: str | None, scenario: str | None) -> _PreparedCall:
        """Resolve description and scenario and apply the dial policy (no dial, no request).

        Raises:
            InvalidInput, PolicyViolation, ConfigError: as for :meth:`place_call`.
        """
        context = self._store.get_context()
        description = _description(business_description, "business_description") or (
            context.description if context else None
        )
        goal = _scenario(scenario) or (context.scenario if context else None) or DEFAULT_SCENARIO
        check_e164(to_number)
        if description is None:
            raise InvalidInput(NO_DESCRIPTION_ERROR)
        config = self.provider_config()
        self.policy().check(to_number)
        script = build_script(description, goal)
        return _PreparedCall(
            config=config,
            description=description,
            scenario=goal,
            outbound=OutboundCall(to_number=to_number, client_data=script.client_data()),
        )

    def call_question(
        self, to_number: str, business_description: str | None = None, scenario: str | None = None,
        *, allow_redial: bool = False,
    ) -> str | None:
        """The question to ask the person before :meth:`place_call` dials, or ``None`` when
        that call would not dial (a check fails, or the duplicate guard returns an earlier call).

        Never raises: a failing check is reported by :meth:`place_call` itself.
        """
        try:
            call = self._prepare_call(to_number, business_description, scenario)
            if not allow_redial and self._duplicate_of(to_number, call.scenario) is not None:
                return None
            self._check_caps(1, batch=False)
        except CallerError:
            return None
        return (
            f"Place a {'sandbox' if call.config.is_sandbox else 'REAL, paid'} phone call to {to_number}?\n"
            f"Scenario: {call.scenario}\nBusiness: {_clip(call.description, 200)}"
        )

    async def place_call(
        self,
        to_number: str,
        business_description: str | None = None,
        scenario: str | None = None,
        *,
        allow_redial: bool = False,
        dry_run: bool = False,
        confirmed: bool = True,
    ) -> PlaceCallResult:
        """Have the AI caller ring ``to_number`` and play a customer (seed 002 ``/api/call``).

        The description comes from the argument, else the stored context; the scenario from the
        argument, else the context, else seed 002's default. The number goes through the dial
        policy and the caps; the call is recorded as ``dialling`` before the request and updated
        with the outcome after it.

        Args:
            allow_redial: dial even if the same number was called with the same scenario within
                ``CALLER_MCP_REDIAL_GUARD_SECS`` (otherwise that earlier call is returned).
            dry_run: check everything and return the exact request, without dialling.
            confirmed: ``False`` when the person was asked (:meth:`call_question`) and did not
                agree: nothing is dialled.
        Returns:
            Seed 002's answer (``ok``, ``status``, ``message`` = ``Call initiated.`` …) plus the
            local ``call_id`` and the provider name; or the earlier call (``duplicate_of``); or
            the request (``dry_run``).
        Raises:
            InvalidInput: bad number (seed 002's E.164 text) or no description
                (``Provide a business description first.``).
            PolicyViolation: the number must not be dialled; CapExceeded: a cap is reached;
                NotConfirmed: the person declined.
            ConfigError: missing or invalid environment variables.
            ProviderError: the provider refused, was unreachable, or the outcome is unknown.
        """
        call = self._prepare_call(to_number, business_description, scenario)
        config, goal, description, outbound = call.config, call.scenario, call.description, call.outbound
        provider = self.provider()
        earlier = None if allow_redial else self._duplicate_of(to_number, goal)
        if earlier is not None and not dry_run:
            return self._duplicate_answer(earlier)
        self._check_caps(1, batch=False)
        if dry_run:
            return PlaceCallResult(
                ok=True,
                status="dry_run",
                message="Dry run: every check passed and this is the exact request; nothing was dialled."
                + (f" Note: call {earlier.call_id} to the same number and scenario is recent." if earlier else ""),
                to_number=to_number,
                scenario=goal,
                call_sid=None,
                conversation_id=None,
                call_id=None,
                provider=config.name,
                dry_run=True,
                request=await provider.preview_call(outbound),
                note=self._note(),
            )
        if not confirmed:
            raise NotConfirmed("Not dialled: the person did not confirm the call.")

        # From the duplicate check to this insert nothing awaits, so a concurrent identical
        # place_call in this process sees the row below and is guarded.
        call_id = f"call_{uuid.uuid4().hex[:20]}"
        self._store.record_call_intent(
            call_id=call_id, provider=config.name, to_number=to_number, scenario=goal, business_description=description
        )
        result = await _recorded(
            provider.place_call(outbound),
            lambda status, error: self._store.record_call_outcome(call_id, status=status, error=error),
            f"It is recorded as call {call_id} with status outcome_unknown. Check the provider's call history "
            "before placing it again, or the number may ring twice.",
        )
        self._store.record_call_outcome(
            call_id,
            status="initiated",
            conversation_id=result.conversation_id,
            call_sid=result.call_sid,
            phone_provider=result.phone_provider,
        )
        logger.info("call %s initiated (%s)", call_id, config.name)
        return PlaceCallResult(
            ok=True,
            status="initiated",
            message="Call initiated.",
            to_number=to_number,
            scenario=goal,
            call_sid=result.call_sid,
            conversation_id=result.conversation_id,
            call_id=call_id,
            provider=config.name,
            phone_provider=result.phone_provider,
            note=self._note(),
            raw=result.raw,
        )

    # -- batches -------------------------------------------------------------------------------

    def _prepare_batch(
        self,
        recipients: list[str | RecipientInput | dict],
        call_name: str | None,
        business_description: str | None,
        scenario: str | None,
        scheduled_time_unix: int | None,
    ) -> _PreparedBatch:
        """Check every recipient and build each one's request (no request is sent).

        Raises:
            InvalidInput: naming every bad entry by index and value; PolicyViolation, ConfigError.
        """
        if not isinstance(recipients, list) or not recipients:
            raise InvalidInput("recipients must be a non-empty list of E.164 numbers or {phone_number, scenario} objects.")
        if scheduled_time_unix is not None and (scheduled_time_unix < 0 or scheduled_time_unix > 32_503_680_000):
            raise InvalidInput("scheduled_time_unix must be Unix seconds (e.g. 1767225600), or omitted to start now.")
        name = _text(call_name, "call_name", MAX_CALL_NAME_CHARS) or (
            "caller-mcp batch " + datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        )
        config = self.provider_config()
        policy = self.policy()
        context = self._store.get_context()
        batch_description = _description(business_description, "business_description") or (
            context.description if context else None
        )
        batch_goal = _scenario(scenario) or (context.scenario if context else None) or DEFAULT_SCENARIO

        requests: list[BatchRecipientRequest] = []
        summary: list[dict[str, Any]] = []
        errors: list[str] = []
        for index, entry in enumerate(recipients):
            try:
                item = RecipientInput(phone_number=entry) if isinstance(entry, str) else RecipientInput.model_validate(entry)
                policy.check(item.phone_number)
                description = _description(item.business_description, "business_description") or batch_description
                if description is None:
                    raise InvalidInput(NO_DESCRIPTION_ERROR)
                goal = _scenario(item.scenario) or batch_goal
            except CallerError as exc:
                errors.append(f"recipients[{index}] {_shown(entry)}: {exc}")
                continue
            except ValueError:
                errors.append(f"recipients[{index}] {_shown(entry)}: expected an E.164 string or {{phone_number, scenario}}.")
                continue
            script = build_script(description, goal)
            requests.append(BatchRecipientRequest(phone_number=item.phone_number, client_data=script.client_data()))
            summary.append({"phone_number": item.phone_number, "scenario": goal})
        if errors:
            listed = "\n".join(f"- {e}" for e in errors[:MAX_LISTED_ERRORS])
            more = f"\n- … and {len(errors) - MAX_LISTED_ERRORS} more" if len(errors) > MAX_LISTED_ERRORS else ""
            raise InvalidInput(
                f"{len(errors)} of {len(recipients)} recipients are invalid; nothing was sent. Fix them and "
                f"submit again:\n{listed}{more}"
            )

        return _PreparedBatch(config=config, name=name, requests=requests, summary=summary)

    def batch_question(
        self,
        recipients: list[str | RecipientInput | dict],
        call_name: str | None = None,
        business_description: str | None = None,
        scenario: str | None = None,
        scheduled_time_unix: int | None = None,
    ) -> str | None:
        """The question to ask the person before :meth:`submit_batch` submits, or ``None`` when
        it would not submit (a check fails). Never raises."""
        try:
            batch = self._prepare_batch(recipients, call_name, business_description, scenario, scheduled_time_unix)
            self._check_caps(len(batch.requests), batch=True)
        except CallerError:
            return None
        numbers = ", ".join(r.phone_number for r in batch.requests[:5]) + (" …" if len(batch.requests) > 5 else "")
        goals = sorted({entry["scenario"] for entry in batch.summary})
        return (
            f"Submit {len(batch.requests):,} {'sandbox' if batch.config.is_sandbox else 'REAL, paid'} phone calls "
            f"(batch '{batch.name}') to {numbers}?\nScenario{'s' if len(goals) > 1 else ''}: "
            f"{_clip('; '.join(goals), 300)}"
        )

    async def submit_batch(
        self,
        recipients: list[str | RecipientInput | dict],
        call_name: str | None = None,
        business_description: str | None = None,
        scenario: str | None = None,
        scheduled_time_unix: int | None = None,
        *,
        dry_run: bool = False,
        confirmed: bool = True,
    ) -> SubmitBatchResult:
        """Submit one batch call: every recipient gets its own prompt and first message.

        Every entry is checked first; if any is bad, nothing is sent and the error names each bad
        entry by index and value.

        Args:
            recipients: E.164 strings, or objects with ``phone_number`` and optional ``scenario``
                and ``business_description``.
            call_name: the batch's name; generated when absent.
            business_description, scenario: defaults for recipients that give none (then the
                stored context, then seed 002's default scenario).
            scheduled_time_unix: when to start (Unix seconds); ``None`` starts now.
            dry_run, confirmed: as for :meth:`place_call` (the question: :meth:`batch_question`).
        Returns:
            The batch id, name, status and count of scheduled calls (or the request, on a dry run).
        Raises:
            InvalidInput: a bad entry or argument (nothing was sent).
            ConfigError, PolicyViolation, CapExceeded, NotConfirmed, ProviderError: as for
            :meth:`place_call`.
        """
        batch = self._prepare_batch(recipients, call_name, business_description, scenario, scheduled_time_unix)
        config, name, requests, summary = batch.config, batch.name, batch.requests, batch.summary
        self._check_caps(len(requests), batch=True)
        provider = self.provider()
        submission = BatchSubmission(call_name=name, recipients=requests, scheduled_time_unix=scheduled_time_unix)
        if dry_run:
            request = provider.preview_batch(submission)
            shown = request["body"]["recipients"]
            request["body"]["recipients"] = shown[:MAX_DRY_RUN_RECIPIENTS]
            request["recipients_not_shown"] = max(0, len(shown) - MAX_DRY_RUN_RECIPIENTS)
            return SubmitBatchResult(
                batch_id=None,
                name=name,
                status="dry_run",
                total_calls_scheduled=len(requests),
                scheduled_time_unix=scheduled_time_unix,
                provider=config.name,
                dry_run=True,
                request=request,
                note=self._note(),
            )
        if not confirmed:
            raise NotConfirmed("Not submitted: the person did not confirm the batch.")
        local_id = f"batch_{uuid.uuid4().hex[:20]}"
        self._store.record_batch_intent(
            local_id=local_id, provider=config.name, name=name, recipients=summary, scheduled_time_unix=scheduled_time_unix
        )
        created = await _recorded(
            provider.submit_batch(submission),
            lambda status, error: self._store.record_batch_outcome(local_id, status=status, error=error),
            f"The submission is recorded locally as {local_id}. Check the provider's batch list before "
            "submitting again, or the numbers may ring twice.",
        )
        self._store.record_batch_outcome(local_id, status=created.status, batch_id=created.batch_id)
        return SubmitBatchResult(
            batch_id=created.batch_id,
            name=created.name or name,
            status=created.status,
            total_calls_scheduled=created.total_calls_scheduled or len(requests),
            scheduled_time_unix=created.scheduled_time_unix if created.scheduled_time_unix else scheduled_time_unix,
            provider=config.name,
            note=self._note(),
        )

    async def list_calls(
        self,
        limit: int = 20,
        status: str | None = None,
        to_number: str | None = None,
        since: str | float | None = None,
    ) -> CallListResult:
        """The local call history from the store, newest first; no provider request.

        Rows show the last status the provider reported (``get_call``, ``get_batch_status``);
        batch recipients' calls appear once ``get_batch_status`` has seen their conversations.

        Args:
            limit: 1 to :data:`MAX_LIST_LIMIT`.
            status: only this status (``dialling``, ``initiated``, ``done``, ``failed``,
                ``outcome_unknown`` …).
            to_number: only calls to this E.164 number.
            since: only calls created since then: Unix seconds, or ISO 8601 (UTC when no offset).
        Raises:
            InvalidInput: a bad filter.
        """
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}.")
        if to_number is not None:
            check_e164(to_number)
        records = self._store.list_calls(
            limit, status=_text(status, "status", 40), to_number=to_number, since=_since(since)
        )
        return CallListResult(
            calls=[
                CallRecordResult(
                    call_id=r.call_id,
                    to_number=r.to_number,
                    scenario=r.scenario,
                    status=r.status,
                    conversation_id=r.conversation_id,
                    batch_id=r.batch_id,
                    outcome=r.outcome,
                    created_at=iso(r.created_at),
                    error=r.error,
                )
                for r in records
            ],
            count=len(records),
        )

    # -- call outcomes -------------------------------------------------------------------------

    async def get_call(
        self, call_id: str, wait_seconds: float = 0, *, progress: ProgressFn | None = None
    ) -> CallResult:
        """A call's status, outcome and transcript, from ``GET /v1/convai/conversations/{id}``.

        Args:
            call_id: a local ``call_id`` (``place_call``, ``list_calls``) or a provider
                ``conversation_id`` (``get_batch_status``).
            wait_seconds: 0 to read once; up to :data:`MAX_WAIT_SECS` to keep reading, with pauses
                growing from :data:`FIRST_POLL_DELAY_SECS` by :data:`POLL_BACKOFF` to at most
                :data:`MAX_POLL_DELAY_SECS`, until the call is ``done`` or ``failed`` or the time is up.
            progress: called before each pause with (seconds waited, ``wait_seconds``, status text).
        Returns:
            The normalised status (``queued | ringing | in_progress | processing | done |
            failed``; ``unknown`` for a local record whose outcome is unknown) with the provider's
            own value, outcome, summary, evaluation and data-collection results, cost, and the
            transcript cut to :data:`~caller_mcp.outcomes.MAX_TRANSCRIPT_CHARS` (``transcript_uri``
            names the whole one). The store's row is updated with what the provider reported.
        Raises:
            InvalidInput: a malformed id or wait. NotFound: neither the store nor the provider
                knows the id. ConfigError, ProviderError: as for :meth:`place_call`.
        """
        wait = _wait(wait_seconds)
        record, conversation_id = self._locate_call(call_id)
        if conversation_id is None:  # refused, interrupted or outcome unknown: nothing to ask about
            return self._record_result(record)  # type: ignore[arg-type]
        start = self._monotonic()
        deadline = start + wait
        delay = FIRST_POLL_DELAY_SECS
        while True:
            conversation = await self._read_conversation(conversation_id, known=record is not None)
            status = call_status(conversation.status) if conversation is not None else "queued"
            now = self._monotonic()
            if status in FINAL_STATUSES or now >= deadline:
                break
            pause = min(delay, deadline - now)
            if progress is not None:
                await progress(
                    round(now - start, 1), wait, f"{status.replace('_', ' ')} after {now - start:.0f} s; next check in {pause:.1f} s"
                )
            await self._sleep(pause)
            delay = min(delay * POLL_BACKOFF, MAX_POLL_DELAY_SECS)
        waited = round(self._monotonic() - start, 1)
        if conversation is None:
            answer = self._record_result(record)  # type: ignore[arg-type]
            answer.waited_secs = waited
            answer.error = (
                f"The provider does not show conversation {conversation_id} yet: a call just placed appears "
                "within seconds. "
                + (
                    "The built-in sandbox keeps calls in memory, so a call placed by an earlier server process "
                    "never appears."
                    if self.provider_config().is_sandbox
                    else "If it was placed long ago, check the provider's call history."
                )
            )
            return answer
        record = self._remember(record, conversation)
        return self._conversation_result(record, conversation, waited)

    def _locate_call(self, call_id: object) -> tuple[CallRecord | None, str | None]:
        """The store's record of a call named by its local id or its conversation id, and the
        conversation id to ask the provider about (``None`` when the call never got one).

        Raises:
            InvalidInput: a malformed id. NotFound: a local ``call_…`` id the store does not know.
        """
        key = _identifier(call_id, "call_id", "a call_id from place_call or list_calls, or a conversation_id")
        record = self._store.find_call(key)
        if record is None and key.startswith("call_"):
            raise NotFound(
                f"No call {key} in this server's records. Use a call_id from place_call or list_calls, "
                "or a conversation_id from get_batch_status."
            )
        return record, (record.conversation_id if record is not None else key)

    async def _read_conversation(self, conversation_id: str, *, known: bool) -> Conversation | None:
        """The conversation, or ``None`` when the provider does not show it yet but the store
        knows the call (a call just placed, a batch recipient just dispatched).

        Raises:
            NotFound: neither knows it.
        """
        try:
            return await self.provider().get_conversation(conversation_id)
        except ProviderStatusError as exc:
            if exc.status != 404:
                raise
            if known:
                return None
            raise NotFound(
                f"No conversation {conversation_id} exists for this {self.provider_config().name} account "
                f"(the provider said: {exc.detail}). Use a call_id from place_call or list_calls, or a "
                "conversation_id from get_batch_status."
            ) from exc

    def _remember(self, record: CallRecord | None, conversation: Conversation) -> CallRecord | None:
        """Write the provider's report to the store; a conversation of a batch this server
        submitted that the store did not know yet is recorded first. Returns the row, if any."""
        if record is None and conversation.batch_id:
            self._record_batch_calls(
                conversation.batch_id,
                [
                    {
                        "conversation_id": conversation.conversation_id,
                        "to_number": conversation.to_number or "",
                        "status": call_status(conversation.status),
                        "provider_status": conversation.status,
                        "created_at": conversation.start_time_unix or time.time(),
                    }
                ],
            )
            record = self._store.get_call(conversation.conversation_id)
        if record is not None:
            self._store.record_provider_report(
                record.call_id,
                status=call_status(conversation.status),
                provider_status=conversation.status,
                outcome=conversation.call_successful,
                termination_reason=conversation.termination_reason,
                duration_secs=conversation.duration_secs,
                started_at=conversation.start_time_unix,
            )
        return record

    def _record_result(self, record: CallRecord) -> CallResult:
        """A get_call answer from the local record alone (no conversation to read)."""
        return CallResult(
            call_id=record.call_id,
            conversation_id=record.conversation_id,
            status=record_status(record.status),
            provider_status=record.provider_status,
            to_number=record.to_number,
            scenario=record.scenario or None,
            batch_id=record.batch_id,
            error=record.error,
            provider=record.provider,
            note=self._note(),
        )

    def _conversation_result(self, record: CallRecord | None, conversation: Conversation, waited: float) -> CallResult:
        lines, truncated = bounded_transcript(conversation.transcript)
        shown_id = record.call_id if record is not None else conversation.conversation_id
        spoken = bool(conversation.transcript or conversation.summary or conversation.data_collection_results)
        return CallResult(
            call_id=record.call_id if record is not None else None,
            conversation_id=conversation.conversation_id,
            status=call_status(conversation.status),
            provider_status=conversation.status,
            to_number=(record.to_number if record is not None and record.to_number else None) or conversation.to_number,
            scenario=(record.scenario or None) if record is not None else None,
            batch_id=conversation.batch_id or (record.batch_id if record is not None else None),
            started_at=iso(conversation.start_time_unix) if conversation.start_time_unix is not None else None,
            duration_secs=conversation.duration_secs,
            termination_reason=conversation.termination_reason,
            outcome=conversation.call_successful,
            summary=conversation.summary,
            evaluation_results=evaluation_results(conversation.evaluation_criteria_results),
            data_collected=collected_values(conversation.data_collection_results),
            cost=conversation.cost,
            transcript=lines,
            transcript_turns=len(conversation.transcript),
            transcript_truncated=truncated,
            transcript_uri=f"caller://calls/{shown_id}/transcript" if conversation.transcript else None,
            untrusted=("The " + UNTRUSTED_NOTE) if spoken else None,
            waited_secs=waited,
            provider=self.provider_config().name,
            note=self._note(),
        )

    async def transcript(self, call_id: str) -> str:
        """The whole transcript of a call as text (the ``caller://calls/{call_id}/transcript`` resource).

        Raises:
            InvalidInput, NotFound, ConfigError, ProviderError: as for :meth:`get_call`.
        """
        record, conversation_id = self._locate_call(call_id)
        key = record.call_id if record is not None else conversation_id
        if conversation_id is None:
            return (
                f"Call {key} has no conversation (status {record.status if record else 'unknown'}): "
                "nothing was said.\n"
            )
        conversation = await self._read_conversation(conversation_id, known=record is not None)
        if conversation is None:
            return f"Call {key}: the provider has no conversation yet (it has not started); try again shortly.\n"
        self._remember(record, conversation)
        to_number = (record.to_number if record is not None else None) or conversation.to_number or "unknown number"
        header = (
            f"Transcript of call {key} (conversation {conversation.conversation_id}) to {to_number}: "
            f"status {call_status(conversation.status)}, {len(conversation.transcript)} turns. "
            "caller = the AI caller; business = the line under test."
        )
        return transcript_text(header, conversation.transcript)

    def context_json(self) -> str:
        """The stored business context as JSON (the ``caller://context`` resource, shaped like
        ``set_business_context``'s answer), or a JSON object saying none is set."""
        context = self._store.get_context()
        if context is None:
            return json.dumps({"description": None, "message": "No business context is set; call set_business_context."})
        return _context_result(context, "The context place_call and submit_batch use by default.").model_dump_json()

    # -- batch progress ------------------------------------------------------------------------

    async def get_batch_status(
        self,
        batch_id: str,
        status: str | None = None,
        offset: int = 0,
        limit: int = DEFAULT_RECIPIENT_PAGE,
    ) -> BatchStatusResult:
        """A batch's progress and one page of its recipients.

        Args:
            batch_id: the provider's batch id.
            status: only recipients in these statuses (comma-separated, e.g. ``failed,voicemail``).
            offset, limit: the page of matching recipients (``limit`` 1 to :data:`MAX_RECIPIENT_PAGE`).
        Returns:
            Status, ``progress`` (finished / scheduled recipients, 0-1), counts per recipient
            status, the page (number, status, conversation id), how many match, and the next
            page's offset (``None`` on the last page). Recipients' calls are recorded in the store.
        Raises:
            InvalidInput: a malformed id, status or page. NotFound: the provider does not know
                the batch. ConfigError, ProviderError: as for :meth:`place_call`.
        """
        wanted = _recipient_statuses(status)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidInput("offset must be 0 or more (the next_offset of the previous answer).")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RECIPIENT_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_RECIPIENT_PAGE}.")
        batch = await self._batch_call("get_batch", batch_id)
        counts = dict.fromkeys(RECIPIENT_STATUSES, 0)
        for recipient in batch.recipients:
            counts[recipient.status] = counts.get(recipient.status, 0) + 1
        matching = [r for r in batch.recipients if wanted is None or r.status in wanted]
        page = matching[offset : offset + limit]
        scheduled = batch.total_calls_scheduled or len(batch.recipients)
        finished = sum(n for s, n in counts.items() if s in FINISHED_RECIPIENT_STATUSES)
        self._store.update_batch_status(batch.batch_id, batch.status)
        if any(r.conversation_id for r in batch.recipients):  # else nothing to record: skip the lookup
            now = time.time()
            self._record_batch_calls(
                batch.batch_id,
                [
                    {
                        "conversation_id": r.conversation_id,
                        "to_number": r.phone_number or "",
                        "status": recipient_call_status(r.status),
                        "provider_status": r.status,
                        "created_at": float(r.created_at_unix or now),
                    }
                    for r in batch.recipients
                ],
            )
        return BatchStatusResult(
            batch_id=batch.batch_id,
            name=batch.name,
            status=batch.status,
            progress=round(min(1.0, finished / scheduled), 3) if scheduled else 0.0,
            total_calls_scheduled=batch.total_calls_scheduled,
            total_calls_dispatched=batch.total_calls_dispatched,
            counts={status: n for status, n in counts.items() if n},
            recipients=[
                RecipientResult(phone_number=r.phone_number, status=r.status, conversation_id=r.conversation_id)
                for r in page
            ],
            recipients_matching=len(matching),
            next_offset=offset + limit if offset + limit < len(matching) else None,
            provider=self.provider_config().name,
            note=self._note(),
        )

    def _record_batch_calls(self, batch_id: str, calls: list[dict[str, Any]]) -> None:
        """Record the calls of a batch this server submitted (no-op for any other batch).

        Args:
            calls: in recipient order, each with ``conversation_id`` (``None`` while the provider
                has not named it: skipped), ``to_number``, ``status`` (normalised),
                ``provider_status`` and ``created_at`` (Unix seconds). The n-th call to a number
                gets the n-th scenario submitted for that number.
        """
        submitted = self._store.batch_recipients(batch_id)
        if not submitted:
            return
        scenarios: dict[str, deque[str]] = defaultdict(deque)
        for entry in submitted:
            scenarios[entry.get("phone_number", "")].append(entry.get("scenario") or "")
        rows = []
        for call in calls:
            goals = scenarios.get(call["to_number"])
            scenario = goals.popleft() if goals else ""
            if call["conversation_id"]:
                rows.append({**call, "scenario": scenario})
        self._store.record_batch_calls(batch_id, self.provider_config().name, rows)

    async def list_batches(self, limit: int = 20) -> BatchListResult:
        """The batches this server submitted (store) merged with the workspace's batch list
        (``GET /v1/convai/batch-calling/workspace``, paged with ``last_doc``), newest first.

        When the provider cannot be read, the store's batches are returned with a ``warning``.

        Args:
            limit: 1 to :data:`MAX_BATCH_LIST`.
        Raises:
            InvalidInput: a bad limit. ConfigError: the configuration is incomplete.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_BATCH_LIST:
            raise InvalidInput(f"limit must be between 1 and {MAX_BATCH_LIST}.")
        provider = self.provider()
        remote: list[BatchCall] = []
        warning = None
        last_doc: str | None = None
        try:
            while len(remote) < limit:
                page = await provider.list_batches(min(WORKSPACE_PAGE_SIZE, limit - len(remote)), last_doc)
                remote.extend(page.batch_calls)
                if not page.has_more or not page.next_doc or page.next_doc == last_doc:
                    break
                last_doc = page.next_doc
        except ProviderError as exc:
            warning = f"The provider's batch list could not be read ({exc}); showing this server's records only."
        entries: list[tuple[float, BatchSummary]] = []
        seen: set[str] = set()
        for batch in remote[:limit]:
            local = self._store.get_batch(batch.batch_id)
            if local is not None:
                self._store.update_batch_status(batch.batch_id, batch.status)
            seen.add(batch.batch_id)
            created = float(batch.created_at_unix or (local.created_at if local else 0))
            entries.append(
                (
                    created,
                    BatchSummary(
                        batch_id=batch.batch_id,
                        name=batch.name,
                        status=batch.status,
                        total_calls_scheduled=batch.total_calls_scheduled,
                        total_calls_dispatched=batch.total_calls_dispatched,
                        created_at=iso(created) if created else None,
                        submitted_here=local is not None,
                        local_id=local.local_id if local else None,
                    ),
                )
            )
        for local in self._store.list_batches(limit):
            if local.batch_id is not None and local.batch_id in seen:
                continue
            entries.append(
                (
                    local.created_at,
                    BatchSummary(
                        batch_id=local.batch_id,
                        name=local.name,
                        status=local.status,
                        total_calls_scheduled=local.total_recipients,
                        created_at=iso(local.created_at),
                        submitted_here=True,
                        local_id=local.local_id,
                        error=local.error,
                    ),
                )
            )
        entries.sort(key=lambda item: item[0], reverse=True)
        batches = [summary for _, summary in entries[:limit]]
        return BatchListResult(
            batches=batches,
            count=len(batches),
            warning=warning,
            provider=self.provider_config().name,
            note=self._note(),
        )

    async def cancel_batch(self, batch_id: str) -> CancelBatchResult:
        """Cancel a batch call: recipients not yet called are set to ``cancelled``.

        Raises:
            InvalidInput, NotFound, ConfigError, ProviderError: as for :meth:`get_batch_status`.
        """
        batch = await self._batch_call("cancel_batch", batch_id)
        self._store.update_batch_status(batch.batch_id, batch.status)
        return CancelBatchResult(
            batch_id=batch.batch_id,
            name=batch.name,
            status=batch.status,
            provider=self.provider_config().name,
            note=self._note(),
        )

    # -- batch retry ---------------------------------------------------------------------------

    async def _retry_plan(self, batch_id: str) -> tuple[BatchCall, list[str]]:
        """The batch and the numbers a retry would call again, each checked by the dial policy.

        Raises:
            PolicyViolation: a number the policy refuses (the batch may come from elsewhere).
            InvalidInput, NotFound, ConfigError, ProviderError: as for :meth:`get_batch_status`.
        """
        batch = await self._batch_call("get_batch", batch_id)
        numbers = [r.phone_number or "" for r in batch.recipients if r.status in RETRIED_RECIPIENT_STATUSES]
        policy = self.policy()
        refused = []
        for number in numbers:
            try:
                policy.check(number)
            except CallerError as exc:
                refused.append(f"- {number}: {exc}")
        if refused:
            raise PolicyViolation(
                f"Not retried: {len(refused)} of the {len(numbers)} recipients to call again may not be dialled:\n"
                + "\n".join(refused[:MAX_LISTED_ERRORS])
            )
        return batch, numbers

    async def retry_question(self, batch_id: str) -> str | None:
        """The question to ask the person before :meth:`retry_batch` dials again, or ``None``
        when it would not dial (nothing to retry, or a check fails). Never raises."""
        try:
            batch, numbers = await self._retry_plan(batch_id)
            if not numbers:
                return None
            self._check_caps(len(numbers), batch=True)
        except CallerError:
            return None
        shown = ", ".join(numbers[:5]) + (" …" if len(numbers) > 5 else "")
        kind = "sandbox" if self.provider_config().is_sandbox else "REAL, paid"
        return f"Call {len(numbers):,} recipients of batch '{batch.name}' again ({kind} calls): {shown}?"

    async def retry_batch(self, batch_id: str, *, confirmed: bool = True) -> RetryBatchResult:
        """Call a batch's failed and voicemail recipients again
        (``POST /v1/convai/batch-calling/{id}/retry``, ``003_…``).

        The batch is read first: the recipients to call again go through the dial policy and
        count towards the hourly cap; with none, nothing is sent. The retry is recorded before
        the request and, like every dialling request, never re-sent once it may have arrived.

        Args:
            confirmed: ``False`` when the person was asked (:meth:`retry_question`) and declined.
        Returns:
            The batch's new status and how many recipients will be called again.
        Raises:
            PolicyViolation, CapExceeded, NotConfirmed, InvalidInput, NotFound, ConfigError,
            ProviderError (``OutcomeUnknown`` when the retry may have been received).
        """
        batch, numbers = await self._retry_plan(batch_id)
        name = self.provider_config().name
        if not numbers:
            return RetryBatchResult(
                batch_id=batch.batch_id,
                name=batch.name,
                status=batch.status,
                recipients_retried=0,
                message="Nothing to retry: no recipient has failed or reached voicemail. Nothing was sent.",
                provider=name,
                note=self._note(),
            )
        self._check_caps(len(numbers), batch=True)
        if not confirmed:
            raise NotConfirmed("Not retried: the person did not confirm.")
        retry_id = self._store.record_retry_intent(batch.batch_id, len(numbers))
        retried = await _recorded(
            self.provider().retry_batch(batch.batch_id),
            lambda status, error: self._store.record_retry_outcome(retry_id, status=status, error=error),
            "Check get_batch_status before retrying again, or the numbers may ring twice.",
        )
        self._store.record_retry_outcome(retry_id, status="retried")
        self._store.update_batch_status(retried.batch_id, retried.status)
        return RetryBatchResult(
            batch_id=retried.batch_id,
            name=retried.name or batch.name,
            status=retried.status,
            recipients_retried=len(numbers),
            message=f"{len(numbers):,} recipients (failed or voicemail) will be called again. Follow with get_batch_status.",
            provider=name,
            note=self._note(),
        )

    async def _batch_call(self, method: str, batch_id: str) -> BatchCall:
        batch_id = _identifier(batch_id, "batch_id", "the id submit_batch or list_batches returned")
        provider = self.provider()
        try:
            return await getattr(provider, method)(batch_id)
        except ProviderStatusError as exc:
            if exc.status == 404:
                raise NotFound(
                    f"No batch {batch_id} exists for this {self.provider_config().name} account "
                    f"(the provider said: {exc.detail}). Use the batch_id that submit_batch or list_batches returned."
                ) from exc
            raise


async def _recorded(request: Awaitable[T], record: Callable[[str, str], Any], unknown_advice: str) -> T:
    """Await a dialling request and record its failure before re-raising it.

    A refusal or an unreachable provider is recorded as ``failed`` (nothing was dialled); a lost
    answer, a cancellation or a crash mid-request as ``outcome_unknown`` (it may have been).

    Args:
        request: the provider call.
        record: ``record(status, error)`` writes the outcome to the store.
        unknown_advice: appended to an :class:`OutcomeUnknown` message: where the record is and
            what to check before trying again.
    Raises:
        Whatever ``request`` raises; ``OutcomeUnknown`` with ``unknown_advice`` added.
    """
    try:
        return await request
    except OutcomeUnknown as exc:
        record("outcome_unknown", str(exc))
        raise OutcomeUnknown(f"{exc} {unknown_advice}") from exc
    except CallerError as exc:
        record("failed", str(exc))
        raise
    except BaseException as exc:
        record(
            "outcome_unknown",
            f"The request was interrupted ({type(exc).__name__}: client timeout, cancellation or shutdown) "
            "after it may have reached the provider; check the provider's call history before calling again.",
        )
        raise


def _context_result(stored: BusinessContext, message: str) -> BusinessContextResult:
    """A stored business context as a tool answer; an unset scenario shows seed 002's default."""
    return BusinessContextResult(
        description=stored.description,
        scenario=stored.scenario or DEFAULT_SCENARIO,
        scenario_is_default=stored.scenario is None,
        updated_at=iso(stored.updated_at),
        message=message,
    )


def _identifier(value: object, field: str, what: str) -> str:
    """A provider or local id, trimmed: letters, digits, ``_`` and ``-``, at most 128 characters.

    Raises:
        InvalidInput: anything else (it never reaches a URL).
    """
    if not isinstance(value, str) or not _ID.fullmatch(value.strip()):
        raise InvalidInput(f"{field} must be {what} (letters, digits, '_' and '-'); got {_shown(value)}.")
    return value.strip()


def _wait(value: object) -> float:
    """``wait_seconds`` checked: a number from 0 to :data:`MAX_WAIT_SECS`.

    Raises:
        InvalidInput: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_WAIT_SECS:
        raise InvalidInput(
            f"wait_seconds must be between 0 and {MAX_WAIT_SECS:g} (MCP clients give up on a tool call at about "
            "60 s); call get_call again to keep waiting."
        )
    return float(value)


def _recipient_statuses(value: str | None) -> set[str] | None:
    """A comma-separated recipient status filter as a set; ``None`` for no filter.

    Raises:
        InvalidInput: a status the provider does not use.
    """
    text = _text(value, "status", 200)
    if text is None:
        return None
    wanted = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(wanted - set(RECIPIENT_STATUSES))
    if unknown:
        raise InvalidInput(
            f"Unknown recipient status {', '.join(unknown)}; use one or more of {', '.join(RECIPIENT_STATUSES)} "
            "(comma-separated)."
        )
    return wanted or None


def _text(value: str | None, field: str, limit: int) -> str | None:
    """Trim an optional text argument; ``None`` when blank.

    Raises:
        InvalidInput: longer than ``limit`` characters, or contains a control character or a
            lone surrogate.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string.")
    if len(value) > limit:
        raise InvalidInput(f"{field} is {len(value):,} characters long; the limit is {limit:,}.")
    bad = _FORBIDDEN_CHARS.search(value)
    if bad:
        raise InvalidInput(
            f"{field} contains the control or invalid character U+{ord(bad.group()):04X} at position "
            f"{bad.start()}; remove it (line breaks and tabs are fine)."
        )
    return value.strip() or None


def _description(value: str | None, field: str) -> str | None:
    return normalize_description(_text(value, field, MAX_DESCRIPTION_CHARS))


def _scenario(value: str | None) -> str | None:
    return normalize_scenario(_text(value, "scenario", MAX_SCENARIO_CHARS))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _since(value: str | float | None) -> float | None:
    """Unix seconds from a number, a numeric text or an ISO 8601 text (naive = UTC).

    Raises:
        InvalidInput: none of these.
    """
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"since must be Unix seconds or ISO 8601 like 2026-11-21T09:00:00Z; got {_shown(value)}.") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _shown(value: object) -> str:
    """A short, quoted rendering of a user value for an error message."""
    if isinstance(value, dict) and "phone_number" in value:
        value = value["phone_number"]
    elif isinstance(value, RecipientInput):
        value = value.phone_number
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"
