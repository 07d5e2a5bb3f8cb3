"""Dialling: plan → confirm → execute, for a single call, a batch and a batch retry.

A dial is planned once (:func:`plan_call`, :func:`plan_batch`, :func:`plan_retry`): every check
that needs no write runs there — input, description, dial policy, batch size — and the plan holds
the exact provider request. The confirmation question is worded from the plan, and shows its
fingerprint; execution sends that same plan. The redial guard and the hourly cap are decided
together with writing the intent, in one store transaction (``store.reserve_*``).

The behaviour of ``place_call`` is seed 002's ``/api/call``: description from the argument, else
the stored context (else ``Provide a business description first.``); scenario from the argument,
else the context, else seed 002's default.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..domain import inputs
from ..domain.batches import RETRIED_RECIPIENT_STATUSES, BatchRecipientRequest, BatchReport, BatchRequest
from ..domain.caps import CAP_WINDOW_SECS
from ..domain.calls import CallRequest, PlacedCall
from ..domain.policy import check_e164
from ..domain.script import CallerScript, build_script
from ..errors import CallerError, InvalidInput, NotConfirmed, PolicyViolation
from ..ports import Provider
from ..store import CallRecord
from .batches import read_batch
from .context import NO_DESCRIPTION_ERROR, defaults
from .recording import recorded
from .results import PlaceCallResult, RecipientInput, RetryBatchResult, SubmitBatchResult
from .services import Services

logger = logging.getLogger(__name__)

#: Invalid recipients named one by one in a ``submit_batch`` error; the rest are counted.
MAX_LISTED_ERRORS = 20
#: Recipients shown in a batch dry run's request; the rest are counted.
MAX_DRY_RUN_RECIPIENTS = 3
#: Latest ``scheduled_time_unix`` accepted (year 3000).
MAX_SCHEDULED_TIME_UNIX = 32_503_680_000


def fingerprint(content: Any) -> str:
    """A short, stable digest of a plan's request: 12 hex characters of SHA-256 over its
    canonical JSON. Shown in the confirmation question, so an answer given to one plan never
    confirms another."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _kind(provider: Provider) -> str:
    return "sandbox" if provider.sandbox else "REAL, paid"


def script_not_sent(provider: Provider) -> str:
    """What a call answer, dry run and question say when ``provider`` takes no caller script
    (capability ``per_call_script``; TalkifAI, seed 004: the call carries no prompt); else ``""``."""
    if provider.capabilities.per_call_script:
        return ""
    return (
        f"The {provider.name} agent assigned to the calling number speaks with its own prompt (set in the "
        f"provider's studio); the business description and scenario were checked and recorded here but "
        f"not sent to {provider.name}'s agent."
    )


# -- single call ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallPlan:
    """One call, checked and ready to send.

    Attributes:
        provider: who places it. request: the number and caller script. fingerprint: of both.
    """

    provider: Provider
    request: CallRequest
    fingerprint: str

    @property
    def to_number(self) -> str:
        """The destination, E.164."""
        return self.request.to_number

    @property
    def scenario(self) -> str:
        """The caller's goal."""
        return self.request.script.scenario

    def question(self) -> str:
        """What the person is asked before this call is placed."""
        script = self.request.script
        return (
            f"Place a {_kind(self.provider)} phone call to {self.to_number}?\n"
            f"Scenario: {script.scenario}\nBusiness: {inputs.clip(script.business_description, 200)}\n"
            + (f"{unsent}\n" if (unsent := script_not_sent(self.provider)) else "")
            + f"(plan {self.fingerprint})"
        )


def plan_call(
    services: Services, to_number: str, business_description: str | None = None, scenario: str | None = None
) -> CallPlan:
    """Check one call and build its request; nothing is written or sent.

    Raises:
        InvalidInput: bad number (seed 002's E.164 text) or no description
            (``Provide a business description first.``).
        ConfigError: missing or invalid environment variables.
        PolicyViolation: the number must not be dialled.
    """
    description, goal = defaults(services, business_description, scenario)
    check_e164(to_number)
    if description is None:
        raise InvalidInput(NO_DESCRIPTION_ERROR)
    provider = services.provider()
    services.policy(provider).check(to_number)
    request = CallRequest(to_number=to_number, script=build_script(description, goal))
    script = request.script
    return CallPlan(
        provider=provider,
        request=request,
        fingerprint=fingerprint([provider.name, to_number, script.prompt, script.first_message]),
    )


def _earlier_call(services: Services, plan: CallPlan, allow_redial: bool) -> CallRecord | None:
    """The earlier call the redial guard would return instead of this one (read only)."""
    window = services.settings.caller_mcp_redial_guard_secs
    if allow_redial or window <= 0:
        return None
    return services.store.recent_call(plan.to_number, plan.scenario, services.now() - window)


def _check_hourly(services: Services, provider: Provider, dials: int, *, batch: bool) -> None:
    """Apply both caps to ``dials`` more dials (read only: the decision that counts is taken
    again when the intent is written).

    Raises:
        CapExceeded: a cap would be exceeded.
    """
    caps = services.caps(provider)
    caps.check_size(dials, batch=batch)
    now = services.now()
    caps.check_hourly(services.store.dials_since(now - CAP_WINDOW_SECS), dials, now, batch=batch)


def call_question(services: Services, plan: CallPlan, *, allow_redial: bool = False) -> str | None:
    """The question to ask before :func:`place_call` dials ``plan``, or ``None`` when it would not
    dial (the redial guard returns an earlier call, or a cap refuses). Never raises."""
    try:
        if _earlier_call(services, plan, allow_redial) is not None:
            return None
        _check_hourly(services, plan.provider, 1, batch=False)
    except CallerError:
        return None
    return plan.question()


def _duplicate_answer(services: Services, plan: CallPlan, earlier: CallRecord) -> PlaceCallResult:
    """The answer that returns an earlier call instead of dialling again."""
    age = max(0, int(services.now() - earlier.created_at))
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
        sandbox=plan.provider.sandbox,
        phone_provider=earlier.phone_provider,
        duplicate_of=earlier.call_id,
        note=services.note(plan.provider),
    )


async def place_call(
    services: Services, plan: CallPlan, *, allow_redial: bool = False, dry_run: bool = False, confirmed: bool = True
) -> PlaceCallResult:
    """Have the AI caller ring ``plan``'s number and play a customer (seed 002 ``/api/call``).

    The call is recorded as ``dialling`` before the request — in the same store transaction that
    decides the redial guard and the hourly cap — and updated with the outcome after it.

    Args:
        allow_redial: dial even if the same number was called with the same scenario within
            ``CALLER_MCP_REDIAL_GUARD_SECS`` (otherwise that earlier call is returned).
        dry_run: check everything and return the exact request, without dialling.
        confirmed: ``False`` when the person was asked (:func:`call_question`) and did not agree.
    Returns:
        Seed 002's answer (``ok``, ``status``, ``message`` = ``Call initiated.`` …) plus the
        local ``call_id`` and the provider; or the earlier call (``duplicate_of``); or the
        request (``dry_run``).
    Raises:
        CapExceeded: a cap is reached. NotConfirmed: the person declined.
        ProviderError: the provider refused, was unreachable, or the outcome is unknown.
    """
    provider = plan.provider
    if dry_run or not confirmed:
        earlier = _earlier_call(services, plan, allow_redial)
        if earlier is not None and not dry_run:
            return _duplicate_answer(services, plan, earlier)
        _check_hourly(services, provider, 1, batch=False)
        if not confirmed:
            raise NotConfirmed("Not dialled: the person did not confirm the call.")
        return PlaceCallResult(
            ok=True,
            status="dry_run",
            message="Dry run: every check passed and this is the exact request; nothing was dialled."
            + (f" Note: call {earlier.call_id} to the same number and scenario is recent." if earlier else "")
            + (f" {unsent}" if (unsent := script_not_sent(provider)) else ""),
            to_number=plan.to_number,
            scenario=plan.scenario,
            provider=provider.name,
            sandbox=provider.sandbox,
            dry_run=True,
            request=await provider.preview_call(plan.request),
            note=services.note(provider),
        )
    caps = services.caps(provider)
    caps.check_size(1, batch=False)
    now = services.now()
    window = services.settings.caller_mcp_redial_guard_secs
    call_id = f"call_{uuid.uuid4().hex[:20]}"
    record, new = services.store.reserve_call(
        call_id=call_id,
        provider=provider.name,
        to_number=plan.to_number,
        scenario=plan.scenario,
        business_description=plan.request.script.business_description,
        guard_since=None if allow_redial or window <= 0 else now - window,
        cap_window_start=now - CAP_WINDOW_SECS,
        check_cap=lambda recent: caps.check_hourly(recent, 1, now, batch=False),
    )
    if not new:
        return _duplicate_answer(services, plan, record)
    unsent = script_not_sent(provider)
    if provider.capabilities.dial_blocks and services.background is not None:
        # The request holds until the callee answers (TalkifAI: up to 60 s, past a tool call's
        # patience): send it in the background; get_call follows the record it writes.
        services.background.start_soon(_dial_in_background, services, provider, call_id, plan.request)
        return PlaceCallResult(
            ok=True,
            status="dialling",
            message=(
                f"Dialling: {provider.name} holds the request until the callee answers (up to a minute). "
                f"Follow with get_call(call_id={call_id!r}, wait_seconds=60): answered, no_answer or failed."
                + (f" {unsent}" if unsent else "")
            ),
            to_number=plan.to_number,
            scenario=plan.scenario,
            call_id=call_id,
            provider=provider.name,
            sandbox=provider.sandbox,
            note=services.note(provider),
        )
    placed = await _dial(services, provider, call_id, plan.request)
    status = placed.status or "initiated"
    message = placed.message if placed.status and placed.message else "Call initiated."
    return PlaceCallResult(
        ok=True,
        status=status,
        message=message + (f" {unsent}" if unsent else ""),
        to_number=plan.to_number,
        scenario=plan.scenario,
        call_sid=placed.telephony_ref,
        conversation_id=placed.provider_ref,
        call_id=call_id,
        provider=provider.name,
        sandbox=provider.sandbox,
        phone_provider=placed.line,
        note=services.note(provider),
        raw=placed.raw,
    )


async def _dial(services: Services, provider: Provider, call_id: str, request: CallRequest) -> PlacedCall:
    """Send the call-placing request of the ``dialling`` record ``call_id`` and write its outcome.

    Raises:
        ProviderError: as :meth:`Dialer.place_call` (its failure already recorded).
    """
    store = services.store
    placed = await recorded(
        provider.place_call(request),
        lambda status, error: store.record_call_outcome(call_id, status=status, error=error),
        f"It is recorded as call {call_id} with status outcome_unknown. Check the provider's call history "
        "before placing it again, or the number may ring twice.",
    )
    # A provider whose request blocks until the callee answers says how the call went
    # (TalkifAI: answered, or no_answer on its 408); the others only accepted it: initiated.
    status = placed.status or "initiated"
    store.record_call_outcome(
        call_id,
        status=status,
        conversation_id=placed.provider_ref,
        call_sid=placed.telephony_ref,
        phone_provider=placed.line,
    )
    logger.info("call %s %s (%s)", call_id, status, provider.name)
    return placed


async def _dial_in_background(services: Services, provider: Provider, call_id: str, request: CallRequest) -> None:
    """:func:`_dial` as a background task: its outcome is in the store; a failure is logged, never
    raised into the server's task group (that would stop the server)."""
    try:
        await _dial(services, provider, call_id, request)
    except CallerError as exc:
        logger.info("call %s did not go through: %s", call_id, exc)
    except Exception:
        logger.exception("call %s: unexpected failure in the background dial", call_id)


# -- batch ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchPlan:
    """A batch, every recipient checked, ready to submit.

    Attributes:
        summary: ``{"phone_number", "scenario"}`` per recipient, as recorded in the store.
    """

    provider: Provider
    request: BatchRequest
    summary: list[dict[str, Any]]
    fingerprint: str

    def question(self) -> str:
        """What the person is asked before this batch is submitted."""
        recipients = self.request.recipients
        numbers = ", ".join(r.phone_number for r in recipients[:5]) + (" …" if len(recipients) > 5 else "")
        goals = sorted({entry["scenario"] for entry in self.summary})
        return (
            f"Submit {len(recipients):,} {_kind(self.provider)} phone calls "
            f"(batch '{self.request.name}') to {numbers}?\nScenario{'s' if len(goals) > 1 else ''}: "
            f"{inputs.clip('; '.join(goals), 300)}\n(plan {self.fingerprint})"
        )


def plan_batch(
    services: Services,
    recipients: list[str | RecipientInput | dict],
    call_name: str | None = None,
    business_description: str | None = None,
    scenario: str | None = None,
    scheduled_time_unix: int | None = None,
) -> BatchPlan:
    """Check every recipient and build the batch request; nothing is written or sent.

    Sizes are checked before any per-recipient work. Recipients with the same description and
    scenario share one caller script.

    Raises:
        InvalidInput: naming every bad entry by index and value (nothing is sent).
        CapExceeded: more recipients than ``CALLER_MCP_MAX_BATCH_SIZE``.
        ConfigError, PolicyViolation: as for :func:`plan_call`.
    """
    if not isinstance(recipients, list) or not recipients:
        raise InvalidInput("recipients must be a non-empty list of E.164 numbers or {phone_number, scenario} objects.")
    if scheduled_time_unix is not None and not 0 <= scheduled_time_unix <= MAX_SCHEDULED_TIME_UNIX:
        raise InvalidInput("scheduled_time_unix must be Unix seconds (e.g. 1767225600), or omitted to start now.")
    name = inputs.text(call_name, "call_name", inputs.MAX_CALL_NAME_CHARS) or (
        "caller-mcp batch " + datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    )
    provider = services.provider()
    services.require(provider, "batches")
    services.caps(provider).check_size(len(recipients), batch=True)
    policy = services.policy(provider)
    batch_description, batch_goal = defaults(services, business_description, scenario)

    scripts: dict[tuple[str, str], CallerScript] = {}
    requests: list[BatchRecipientRequest] = []
    summary: list[dict[str, Any]] = []
    errors: list[str] = []
    for index, entry in enumerate(recipients):
        try:
            item = RecipientInput(phone_number=entry) if isinstance(entry, str) else RecipientInput.model_validate(entry)
            policy.check(item.phone_number)
            description = inputs.description(item.business_description, "business_description") or batch_description
            if description is None:
                raise InvalidInput(NO_DESCRIPTION_ERROR)
            goal = inputs.scenario(item.scenario) or batch_goal
        except CallerError as exc:
            errors.append(f"recipients[{index}] {inputs.shown(entry)}: {exc}")
            continue
        except ValueError:
            errors.append(f"recipients[{index}] {inputs.shown(entry)}: expected an E.164 string or {{phone_number, scenario}}.")
            continue
        script = scripts.get((description, goal))
        if script is None:
            script = scripts[(description, goal)] = build_script(description, goal)
        requests.append(BatchRecipientRequest(phone_number=item.phone_number, script=script))
        summary.append({"phone_number": item.phone_number, "scenario": goal})
    if errors:
        listed = "\n".join(f"- {e}" for e in errors[:MAX_LISTED_ERRORS])
        more = f"\n- … and {len(errors) - MAX_LISTED_ERRORS} more" if len(errors) > MAX_LISTED_ERRORS else ""
        raise InvalidInput(
            f"{len(errors)} of {len(recipients)} recipients are invalid; nothing was sent. Fix them and "
            f"submit again:\n{listed}{more}"
        )
    request = BatchRequest(name=name, recipients=tuple(requests), scheduled_time_unix=scheduled_time_unix)
    digest = fingerprint(
        [provider.name, name, scheduled_time_unix, summary, sorted((s.prompt, s.first_message) for s in scripts.values())]
    )
    return BatchPlan(provider=provider, request=request, summary=summary, fingerprint=digest)


def batch_question(services: Services, plan: BatchPlan) -> str | None:
    """The question to ask before :func:`submit_batch` submits ``plan``, or ``None`` when a cap
    would refuse it. Never raises."""
    try:
        _check_hourly(services, plan.provider, len(plan.request.recipients), batch=True)
    except CallerError:
        return None
    return plan.question()


async def submit_batch(
    services: Services, plan: BatchPlan, *, dry_run: bool = False, confirmed: bool = True
) -> SubmitBatchResult:
    """Submit ``plan`` as one batch call: every recipient with its own prompt and first message.

    Args:
        dry_run: check everything and return the request (first recipients), submitting nothing.
        confirmed: ``False`` when the person was asked (:func:`batch_question`) and declined.
    Returns:
        The batch id, name, status and count of scheduled calls (or the request, on a dry run).
    Raises:
        CapExceeded, NotConfirmed, ProviderError: as for :func:`place_call`.
    """
    provider, request = plan.provider, plan.request
    dials = len(request.recipients)
    if dry_run:
        _check_hourly(services, provider, dials, batch=True)
        preview = provider.preview_batch(request)
        shown = preview["body"]["recipients"]
        preview["body"]["recipients"] = shown[:MAX_DRY_RUN_RECIPIENTS]
        preview["recipients_not_shown"] = max(0, len(shown) - MAX_DRY_RUN_RECIPIENTS)
        return SubmitBatchResult(
            name=request.name,
            status="dry_run",
            total_calls_scheduled=dials,
            scheduled_time_unix=request.scheduled_time_unix,
            provider=provider.name,
            sandbox=provider.sandbox,
            dry_run=True,
            request=preview,
            note=services.note(provider),
        )
    if not confirmed:
        _check_hourly(services, provider, dials, batch=True)
        raise NotConfirmed("Not submitted: the person did not confirm the batch.")
    caps = services.caps(provider)
    now = services.now()
    local_id = f"batch_{uuid.uuid4().hex[:20]}"
    store = services.store
    store.reserve_batch(
        local_id=local_id,
        provider=provider.name,
        name=request.name,
        recipients=plan.summary,
        scheduled_time_unix=request.scheduled_time_unix,
        cap_window_start=now - CAP_WINDOW_SECS,
        check_cap=lambda recent: caps.check_hourly(recent, dials, now, batch=True),
    )
    created = await recorded(
        provider.submit_batch(request),
        lambda status, error: store.record_batch_outcome(local_id, status=status, error=error),
        f"The submission is recorded locally as {local_id}. Check the provider's batch list before "
        "submitting again, or the numbers may ring twice.",
    )
    store.record_batch_outcome(local_id, status=created.status, batch_id=created.batch_id)
    return SubmitBatchResult(
        batch_id=created.batch_id,
        name=created.name or request.name,
        status=created.status,
        total_calls_scheduled=created.total_calls_scheduled or dials,
        scheduled_time_unix=created.scheduled_time_unix if created.scheduled_time_unix else request.scheduled_time_unix,
        provider=provider.name,
        sandbox=provider.sandbox,
        note=services.note(provider),
    )


# -- batch retry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPlan:
    """A batch retry: the batch as last read and the numbers it would call again, each checked."""

    provider: Provider
    batch: BatchReport
    numbers: list[str]
    fingerprint: str

    def question(self) -> str:
        """What the person is asked before these recipients are called again."""
        shown = ", ".join(self.numbers[:5]) + (" …" if len(self.numbers) > 5 else "")
        return (
            f"Call {len(self.numbers):,} recipients of batch '{self.batch.name}' again "
            f"({_kind(self.provider)} calls): {shown}?\n(plan {self.fingerprint})"
        )


async def plan_retry(services: Services, batch_id: str) -> RetryPlan:
    """Read the batch and check the numbers a retry would call again; nothing is written or sent.

    Raises:
        PolicyViolation: a number the policy refuses (the batch may come from elsewhere).
        NotSupported: the provider cannot retry batches.
        InvalidInput, NotFound, ConfigError, ProviderError: as for ``get_batch_status``.
    """
    provider = services.provider()
    services.require(provider, "batches", "batch_retry")
    batch = await read_batch(services, provider, "get_batch", batch_id)
    numbers = [r.phone_number or "" for r in batch.recipients if r.status in RETRIED_RECIPIENT_STATUSES]
    policy = services.policy(provider)
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
    return RetryPlan(
        provider=provider, batch=batch, numbers=numbers, fingerprint=fingerprint([provider.name, batch.batch_id, numbers])
    )


def retry_question(services: Services, plan: RetryPlan) -> str | None:
    """The question to ask before :func:`retry_batch` dials again, or ``None`` when it would not
    dial (nothing to retry, or a cap refuses). Never raises."""
    if not plan.numbers:
        return None
    try:
        _check_hourly(services, plan.provider, len(plan.numbers), batch=True)
    except CallerError:
        return None
    return plan.question()


async def retry_batch(services: Services, plan: RetryPlan, *, confirmed: bool = True) -> RetryBatchResult:
    """Call a batch's failed and voicemail recipients again
    (``POST /v1/convai/batch-calling/{id}/retry``, ``003_…``).

    The recipients to call again count towards the hourly cap; with none, nothing is sent. The
    retry is recorded before the request and, like every dialling request, never re-sent once it
    may have arrived.

    Raises:
        CapExceeded, NotConfirmed, ProviderError (``OutcomeUnknown`` when the retry may have been received).
    """
    provider, batch, numbers = plan.provider, plan.batch, plan.numbers
    if not numbers:
        return RetryBatchResult(
            batch_id=batch.batch_id,
            name=batch.name,
            status=batch.status,
            recipients_retried=0,
            message="Nothing to retry: no recipient has failed or reached voicemail. Nothing was sent.",
            provider=provider.name,
            sandbox=provider.sandbox,
            note=services.note(provider),
        )
    caps = services.caps(provider)
    caps.check_size(len(numbers), batch=True)
    if not confirmed:
        _check_hourly(services, provider, len(numbers), batch=True)
        raise NotConfirmed("Not retried: the person did not confirm.")
    now = services.now()
    store = services.store
    retry_id = store.reserve_retry(
        batch.batch_id,
        len(numbers),
        cap_window_start=now - CAP_WINDOW_SECS,
        check_cap=lambda recent: caps.check_hourly(recent, len(numbers), now, batch=True),
    )
    retried = await recorded(
        provider.retry_batch(batch.batch_id),
        lambda status, error: store.record_retry_outcome(retry_id, status=status, error=error),
        "Check get_batch_status before retrying again, or the numbers may ring twice.",
    )
    store.record_retry_outcome(retry_id, status="retried")
    store.update_batch_status(retried.batch_id, retried.status)
    return RetryBatchResult(
        batch_id=retried.batch_id,
        name=retried.name or batch.name,
        status=retried.status,
        recipients_retried=len(numbers),
        message=f"{len(numbers):,} recipients (failed or voicemail) will be called again. Follow with get_batch_status.",
        provider=provider.name,
        sandbox=provider.sandbox,
        note=services.note(provider),
    )
