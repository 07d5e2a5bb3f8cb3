"""Dialling many numbers at once: plan → confirm → submit one batch call."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import anyio

from ...domain import inputs
from ...domain.batches import BatchRecipientRequest, BatchRequest
from ...domain.caps import CAP_WINDOW_SECS
from ...domain.policy import DialPolicy
from ...domain.script import CallerScript, build_script
from ...errors import CallerError, InvalidInput, NotConfirmed
from ...ports import Provider
from ..context import NO_DESCRIPTION_ERROR, defaults
from ..recording import recorded
from ..results import RecipientInput, SubmitBatchResult
from ..services import LOCAL_PRINCIPAL, Services
from .common import MAX_LISTED_ERRORS, check_hourly, fingerprint, kind

#: Recipients shown in a batch dry run's request; the rest are counted.
MAX_DRY_RUN_RECIPIENTS = 3
#: Latest ``scheduled_time_unix`` accepted (year 3000).
MAX_SCHEDULED_TIME_UNIX = 32_503_680_000
#: Recipients checked per step on a worker thread; between steps the event loop answers other
#: requests, progress is reported and a cancellation is noticed.
PLAN_CHUNK = 2_500

#: ``progress(done, total, message)``: recipients checked so far, of how many (the tool's
#: ``ctx.report_progress``).
Progress = Callable[[float, float, str], Awaitable[None]]


@dataclass(frozen=True)
class BatchPlan:
    """A batch, every recipient checked, ready to submit.

    Attributes:
        provider: who submits it. request: the recipients, each with its (shared) caller script.
        fingerprint: of the whole request, shown in the confirmation question.
        principal: who asked for it (the batch and its calls are recorded under it).
    """

    provider: Provider
    request: BatchRequest
    fingerprint: str
    principal: str = LOCAL_PRINCIPAL

    @property
    def summary(self) -> list[dict[str, Any]]:
        """``{"phone_number", "scenario"}`` per recipient, as recorded in the store (built on
        demand: the plan itself holds one script per distinct script, nothing per recipient)."""
        return [{"phone_number": r.phone_number, "scenario": r.script.scenario} for r in self.request.recipients]

    def question(self) -> str:
        """What the person is asked before this batch is submitted."""
        recipients = self.request.recipients
        numbers = ", ".join(r.phone_number for r in recipients[:5]) + (" …" if len(recipients) > 5 else "")
        goals = sorted({r.script.scenario for r in recipients})
        return (
            f"Submit {len(recipients):,} {kind(self.provider)} phone calls "
            f"(batch '{self.request.name}') to {numbers}?\nScenario{'s' if len(goals) > 1 else ''}: "
            f"{inputs.clip('; '.join(goals), 300)}\n(plan {self.fingerprint})"
        )


@dataclass
class _Checker:
    """Checks recipients one chunk at a time (on a worker thread) and keeps what they share.

    Recipients with the same description and scenario share one :class:`CallerScript` (one
    prompt, one first message): a batch holds one per distinct script, not one per recipient.
    """

    policy: DialPolicy
    description: str | None
    goal: str
    scripts: dict[tuple[str, str], CallerScript] = field(default_factory=dict)
    requests: list[BatchRecipientRequest] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def check(self, recipients: list[Any], start: int, stop: int) -> None:
        """Check ``recipients[start:stop]``: the planned ones go to :attr:`requests`, the
        invalid ones to :attr:`errors` (by index and value)."""
        for index in range(start, stop):
            entry = recipients[index]
            try:
                if isinstance(entry, str):  # the common case: a bare number with the batch's script
                    number, description, goal = entry, self.description, self.goal
                    self.policy.check(number)
                else:
                    item = RecipientInput.model_validate(entry)
                    number = item.phone_number
                    self.policy.check(number)
                    description = inputs.description(item.business_description, "business_description") or self.description
                    goal = self.goal if description is None else inputs.scenario(item.scenario) or self.goal
                if description is None:
                    raise InvalidInput(NO_DESCRIPTION_ERROR)
            except CallerError as exc:
                self.errors.append(f"recipients[{index}] {inputs.shown(entry)}: {exc}")
                continue
            except ValueError:
                self.errors.append(
                    f"recipients[{index}] {inputs.shown(entry)}: expected an E.164 string or {{phone_number, scenario}}."
                )
                continue
            key = (description, goal)
            script = self.scripts.get(key)
            if script is None:
                script = self.scripts[key] = build_script(description, goal)
            self.requests.append(BatchRecipientRequest(phone_number=number, script=script))


async def plan_batch(
    services: Services,
    recipients: list[str | RecipientInput | dict],
    call_name: str | None = None,
    business_description: str | None = None,
    scenario: str | None = None,
    scheduled_time_unix: int | None = None,
    *,
    principal: str = LOCAL_PRINCIPAL,
    progress: Progress | None = None,
) -> BatchPlan:
    """Check every recipient and build the batch request; nothing is written or sent.
    Descriptions and scenarios default to ``principal``'s business context.

    Sizes are checked before any per-recipient work. The recipients are checked on a worker
    thread, :data:`PLAN_CHUNK` at a time, so the event loop keeps answering meanwhile; after
    each chunk ``progress(checked, total, message)`` is awaited (when given). Recipients with the
    same description and scenario share one caller script.

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
    total = len(recipients)
    services.caps(provider).check_size(total, batch=True)
    checker = _Checker(services.policy(provider), *await defaults(services, business_description, scenario, principal))
    for start in range(0, total, PLAN_CHUNK):
        stop = min(start + PLAN_CHUNK, total)
        await anyio.to_thread.run_sync(checker.check, recipients, start, stop)
        if progress is not None and total > PLAN_CHUNK:
            await progress(stop, total, f"Checked {stop:,} of {total:,} recipients.")
    errors = checker.errors
    if errors:
        listed = "\n".join(f"- {e}" for e in errors[:MAX_LISTED_ERRORS])
        more = f"\n- … and {len(errors) - MAX_LISTED_ERRORS} more" if len(errors) > MAX_LISTED_ERRORS else ""
        raise InvalidInput(
            f"{len(errors)} of {total} recipients are invalid; nothing was sent. Fix them and "
            f"submit again:\n{listed}{more}"
        )
    request = BatchRequest(name=name, recipients=tuple(checker.requests), scheduled_time_unix=scheduled_time_unix)
    scripts = sorted((s.prompt, s.first_message) for s in checker.scripts.values())

    def digest() -> str:
        summary = [(r.phone_number, r.script.scenario) for r in request.recipients]
        return fingerprint([provider.name, name, scheduled_time_unix, summary, scripts])

    return BatchPlan(
        provider=provider, request=request, fingerprint=await anyio.to_thread.run_sync(digest), principal=principal
    )


async def batch_question(services: Services, plan: BatchPlan) -> str | None:
    """The question to ask before :func:`submit_batch` submits ``plan``, or ``None`` when a cap
    would refuse it. Never raises."""
    try:
        await check_hourly(services, plan.provider, len(plan.request.recipients), batch=True)
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
        await check_hourly(services, provider, dials, batch=True)
        preview = provider.preview_batch(request)
        shown = preview["body"]["recipients"]
        preview["body"]["recipients"] = shown[:MAX_DRY_RUN_RECIPIENTS]
        preview["recipients_not_shown"] = max(0, len(shown) - MAX_DRY_RUN_RECIPIENTS)
        return SubmitBatchResult(
            name=request.name,
            status="dry_run",
            total_calls_scheduled=dials,
            scheduled_time_unix=request.scheduled_time_unix,
            dry_run=True,
            request=preview,
            **services.answered_by(provider),
        )
    if not confirmed:
        await check_hourly(services, provider, dials, batch=True)
        raise NotConfirmed("Not submitted: the person did not confirm the batch.")
    caps = services.caps(provider)
    now = services.now()
    local_id = f"batch_{uuid.uuid4().hex[:20]}"
    store = services.store
    await store.reserve_batch(
        local_id=local_id,
        provider=provider.name,
        name=request.name,
        recipients=plan.summary,
        scheduled_time_unix=request.scheduled_time_unix,
        principal=plan.principal,
        cap_window_start=now - CAP_WINDOW_SECS,
        check_cap=lambda recent: caps.check_hourly(recent, dials, now, batch=True),
    )
    created = await recorded(
        provider.submit_batch(request),
        lambda status, error: store.record_batch_outcome(local_id, status=status, error=error),
        f"The submission is recorded locally as {local_id}. Check the provider's batch list before "
        "submitting again, or the numbers may ring twice.",
    )
    await store.record_batch_outcome(local_id, status=created.status, batch_id=created.batch_id)
    return SubmitBatchResult(
        batch_id=created.batch_id,
        name=created.name or request.name,
        status=created.status,
        total_calls_scheduled=created.total_calls_scheduled or dials,
        scheduled_time_unix=created.scheduled_time_unix if created.scheduled_time_unix else request.scheduled_time_unix,
        **services.answered_by(provider),
    )
