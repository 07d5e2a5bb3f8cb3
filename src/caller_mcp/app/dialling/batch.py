"""Dialling many numbers at once: plan → confirm → submit one batch call."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import anyio

from ...domain import inputs
from ...domain.batches import MAX_BATCH_RECIPIENTS, BatchRecipientRequest, BatchReport, BatchRequest
from ...domain.caps import CAP_WINDOW_SECS
from ...domain.overrides import NO_OVERRIDES, CallOverrides
from ...domain.overrides import overrides as check_overrides
from ...domain.policy import DialPolicy
from ...domain.script import CallerScript, build_script
from ...errors import CallerError, CapExceeded, InvalidInput, NotConfirmed, NotSupported
from ...ports import CAPABILITY_WORDS, Provider
from ...store import BatchRecord
from ..context import NO_DESCRIPTION_ERROR, defaults
from ..costs import estimate, estimate_line
from ..recording import kept, recorded
from ..results import RecipientInput, SubmitBatchResult
from ..services import LOCAL_PRINCIPAL, Services
from .common import (
    LOCAL_BATCH_PREFIX, MAX_LISTED_ERRORS, check_hourly, fingerprint, guard_since, kind, require_overrides, script_not_sent,
)

#: Recipients shown in a batch dry run's request; the rest are counted.
MAX_DRY_RUN_RECIPIENTS = 3
#: How far in the past a ``scheduled_time_unix`` may be (clock skew), seconds.
SCHEDULE_SKEW_SECS = 60
#: Latest ``scheduled_time_unix`` accepted (year 3000).
MAX_SCHEDULED_TIME_UNIX = 32_503_680_000
#: Recipients checked per step on a worker thread; between steps the event loop answers other
#: requests, progress is reported and a cancellation is noticed.
PLAN_CHUNK = 2_500
#: The fields of a recipient object, for the message refusing an unknown one.
RECIPIENT_FIELDS = ", ".join(RecipientInput.model_fields)
#: ``target_concurrency_limit`` bounds: calls at once.
MAX_CONCURRENCY_LIMIT = 1_000

#: ``progress(done, total, message)``: recipients checked so far, of how many (the tool's
#: ``ctx.report_progress``).
Progress = Callable[[float, float, str], Awaitable[None]]


@dataclass(frozen=True)
class BatchPlan:
    """A batch, every recipient checked, ready to submit.

    Attributes:
        provider: who submits it. request: the recipients, each with its (shared) caller script.
        fingerprint: of the whole request, shown in the confirmation question.
        recipients_key: what the duplicate guard compares (:func:`recipients_key`).
        principal: who asked for it (the batch and its calls are recorded under it).
    """

    provider: Provider
    request: BatchRequest
    fingerprint: str
    recipients_key: str = ""
    principal: str = LOCAL_PRINCIPAL

    @property
    def summary(self) -> list[dict[str, Any]]:
        """``{"phone_number", "scenario"}`` per recipient, plus ``id`` (the caller's own) and
        ``overrides`` (its controls, the batch's ring timeout included) when set, as recorded in
        the store (built on demand: the plan itself holds one script per distinct script)."""
        ring = self.request.ring_timeout_secs
        controls: dict[int, dict[str, Any] | None] = {}
        rows = []
        for r in self.request.recipients:
            if id(r.script) not in controls:
                shown = r.script.overrides.as_dict()
                if ring is not None:
                    shown["ring_timeout_secs"] = ring
                controls[id(r.script)] = shown or None
            row: dict[str, Any] = {"phone_number": r.phone_number, "scenario": r.script.scenario}
            if r.recipient_id is not None:
                row["id"] = r.recipient_id
            if controls[id(r.script)]:
                row["overrides"] = controls[id(r.script)]
            rows.append(row)
        return rows

    def scripts(self) -> list[CallerScript]:
        """The distinct caller scripts of the batch."""
        return list({id(r.script): r.script for r in self.request.recipients}.values())

    def question(self, cost: str = "") -> str:
        """What the person is asked before this batch is submitted: numbers, scenarios, the
        controls (language, voice, variables, ring time), the concurrency limit and ``cost`` (the
        estimate's line)."""
        recipients = self.request.recipients
        numbers = ", ".join(r.phone_number for r in recipients[:5]) + (" …" if len(recipients) > 5 else "")
        goals = sorted({r.script.scenario for r in recipients})
        controls = sorted({s.overrides.describe() for s in self.scripts()} - {""})
        ring = self.request.ring_timeout_secs
        if ring is not None:
            controls = [f"{c}, rings {ring} s" for c in controls] or [f"rings {ring} s"]
        limit = self.request.target_concurrency_limit
        return (
            f"Submit {len(recipients):,} {kind(self.provider)} phone calls "
            f"(batch '{self.request.name}') to {numbers}?\nScenario{'s' if len(goals) > 1 else ''}: "
            f"{inputs.clip('; '.join(goals), 300)}\n"
            + (f"Controls: {inputs.clip('; '.join(controls), 300)}\n" if controls else "")
            + (f"At most {limit} calls at once.\n" if limit is not None else "")
            + (f"{cost}\n" if cost else "")
            + f"(plan {self.fingerprint})"
        )


@dataclass
class _Checker:
    """Checks recipients one chunk at a time (on a worker thread) and keeps what they share.

    Recipients with the same description, scenario and controls (variables compared with their
    JSON types: ``1``, ``1.0`` and ``true`` differ) share one :class:`CallerScript`
    (one prompt, one first message): a batch holds one per distinct script, not one per recipient.
    A recipient's controls are put over the batch's ``default``; their ring timeouts are
    collected in :attr:`rings` (a batch has one); recipient ids must be unique.
    """

    policy: DialPolicy
    description: str | None
    goal: str
    provider: Provider
    default: CallOverrides = NO_OVERRIDES
    scripts: dict[tuple[str, str, CallOverrides, str], CallerScript] = field(default_factory=dict)
    requests: list[BatchRecipientRequest] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)
    rings: set[int | None] = field(default_factory=set)
    #: The script of a bare number (the batch's description, scenario and controls), once one is planned.
    default_script: CallerScript | None = None

    def check(self, recipients: list[Any], start: int, stop: int) -> None:
        """Check ``recipients[start:stop]``: the planned ones go to :attr:`requests`, the
        invalid ones to :attr:`errors` (by index and value)."""
        for index in range(start, stop):
            entry = recipients[index]
            recipient_id = None
            if isinstance(entry, str) and self.default_script is not None:  # the common case, once the first is planned
                try:
                    self.policy.check(entry)
                except CallerError as exc:
                    self.errors.append(f"recipients[{index}] {inputs.shown(entry)}: {exc}")
                    continue
                self.requests.append(BatchRecipientRequest(phone_number=entry, script=self.default_script))
                continue
            try:
                if isinstance(entry, str):  # the common case: a bare number with the batch's script
                    number, description, goal, controls = entry, self.description, self.goal, self.default
                    self.policy.check(number)
                else:
                    item = RecipientInput.model_validate(entry)
                    if item.model_extra:
                        raise InvalidInput(
                            f"unknown field {', '.join(sorted(item.model_extra))}; a recipient takes {RECIPIENT_FIELDS}."
                        )
                    number = item.phone_number
                    self.policy.check(number)
                    description = inputs.description(item.business_description, "business_description") or self.description
                    goal = self.goal if description is None else inputs.scenario(item.scenario) or self.goal
                    own = check_overrides(
                        language_code=item.language, voice=item.voice_id, variables=item.dynamic_variables,
                        ring_timeout_secs=item.ring_timeout_secs,
                    )
                    require_overrides(self.provider, own)
                    controls = own.over(self.default)
                    if item.id is not None:
                        if not self.provider.capabilities.recipient_ids:
                            raise NotSupported(
                                f"The {self.provider.name} provider does not support {CAPABILITY_WORDS['recipient_ids']}; "
                                "leave id out."
                            )
                        recipient_id = inputs.recipient_id(item.id)
                        if recipient_id in self.ids:
                            raise InvalidInput(
                                f"id {recipient_id!r} is already used by recipients[{self.ids[recipient_id]}]; ids must be unique."
                            )
                        self.ids[recipient_id] = index
                if description is None:
                    raise InvalidInput(NO_DESCRIPTION_ERROR)
            except CallerError as exc:
                self.errors.append(f"recipients[{index}] {inputs.shown(entry)}: {exc}")
                continue
            except ValueError as exc:
                self.errors.append(f"recipients[{index}] {inputs.shown(entry)}: {_shape_error(exc)}")
                continue
            self.rings.add(controls.ring_timeout_secs)
            shared = controls.without_ring_timeout() if controls.ring_timeout_secs is not None else controls
            # 1, 1.0 and True are equal (and hash alike) in Python, not in JSON: the variables'
            # repr keeps recipients whose values differ only in type from sharing one script.
            key = (description, goal, shared, repr(shared.dynamic_variables) if shared.dynamic_variables else "")
            script = self.scripts.get(key)
            if script is None:
                script = self.scripts[key] = build_script(description, goal, shared)
            if isinstance(entry, str):
                self.default_script = script  # every later bare number gets it (and the same ring timeout)
            self.requests.append(BatchRecipientRequest(phone_number=number, script=script, recipient_id=recipient_id))


def _shape_error(exc: ValueError) -> str:
    """A recipient object's shape error in a sentence, naming the mistyped field."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        for error in errors():
            where = ".".join(str(part) for part in error.get("loc", ()))
            if where:
                return f"{where}: {error.get('msg', 'invalid')}."
    return "expected an E.164 string or {phone_number, scenario}."


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
    language: str | None = None,
    voice_id: str | None = None,
    dynamic_variables: dict | None = None,
    ring_timeout_secs: int | None = None,
    target_concurrency_limit: int | None = None,
    provider_name: str | None = None,
) -> BatchPlan:
    """Check every recipient and build the batch request; nothing is written or sent.
    Descriptions and scenarios default to ``principal``'s business context.

    ``provider_name`` picks the provider (default: ``CALLER_MCP_PROVIDER``'s).

    Sizes are checked before any per-recipient work. The recipients are checked on a worker
    thread, :data:`PLAN_CHUNK` at a time, so the event loop keeps answering meanwhile; after
    each chunk ``progress(checked, total, message)`` is awaited (when given). Recipients with the
    same description, scenario and controls share one caller script.

    Args:
        language, voice_id, dynamic_variables, ring_timeout_secs: the batch's default controls;
            a recipient's own win (its variables are merged over the batch's).
        target_concurrency_limit: most calls at once (1 to :data:`MAX_CONCURRENCY_LIMIT`).
    Raises:
        InvalidInput: naming every bad entry by index and field (nothing is sent): a bad number,
            control or id, a recipient id used twice, or ring timeouts that differ (a batch has one).
        NotSupported: a control, a concurrency limit or recipient ids the provider cannot send.
        CapExceeded: more recipients than ``CALLER_MCP_MAX_BATCH_SIZE`` or
            :data:`~caller_mcp.domain.batches.MAX_BATCH_RECIPIENTS` (checked before any recipient is).
        ConfigError, PolicyViolation: as for :func:`plan_call`.
    """
    if not isinstance(recipients, list) or not recipients:
        raise InvalidInput("recipients must be a non-empty list of E.164 numbers or {phone_number, scenario} objects.")
    if len(recipients) > MAX_BATCH_RECIPIENTS:
        raise CapExceeded(
            f"{len(recipients):,} recipients; a batch takes at most {MAX_BATCH_RECIPIENTS:,}. Split them into "
            "batches; nothing was sent."
        )
    if scheduled_time_unix is not None and not 0 <= scheduled_time_unix <= MAX_SCHEDULED_TIME_UNIX:
        raise InvalidInput("scheduled_time_unix must be Unix seconds (e.g. 1767225600), or omitted to start now.")
    if scheduled_time_unix is not None and scheduled_time_unix < services.now() - SCHEDULE_SKEW_SECS:
        raise InvalidInput(
            f"scheduled_time_unix {scheduled_time_unix} is in the past (now is {int(services.now())}); give a future "
            "Unix time, or omit it to start now. Nothing was sent."
        )
    if target_concurrency_limit is not None and (
        isinstance(target_concurrency_limit, bool)
        or not isinstance(target_concurrency_limit, int)
        or not 1 <= target_concurrency_limit <= MAX_CONCURRENCY_LIMIT
    ):
        raise InvalidInput(
            f"target_concurrency_limit must be a whole number of calls at once from 1 to {MAX_CONCURRENCY_LIMIT}; "
            f"got {target_concurrency_limit!r}."
        )
    name = inputs.text(call_name, "call_name", inputs.MAX_CALL_NAME_CHARS) or (
        # The day and the count, not the time: the name is part of the plan's fingerprint, and a
        # tool call planned twice (the stateless protocol replans after a question) must give one
        # plan; list_batches shows when each was created.
        f"caller-mcp batch {datetime.now(timezone.utc):%Y-%m-%d}, {len(recipients):,} "
        f"call{'s' if len(recipients) != 1 else ''}"
    )
    default = check_overrides(
        language_code=language, voice=voice_id, variables=dynamic_variables, ring_timeout_secs=ring_timeout_secs
    )
    provider = services.provider(provider_name)
    services.require(provider, "batches")
    require_overrides(provider, default)
    if target_concurrency_limit is not None:
        services.require(provider, "batch_concurrency")
    total = len(recipients)
    services.caps(provider).check_size(total, batch=True)
    checker = _Checker(
        services.policy(provider), *await defaults(services, business_description, scenario, principal),
        provider=provider, default=default,
    )
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
    if len(checker.rings) > 1:
        rings = sorted(checker.rings, key=lambda r: -1 if r is None else r)
        raise InvalidInput(
            f"ring_timeout_secs differs between recipients ({', '.join('none' if r is None else f'{r} s' for r in rings)}); "
            "nothing was sent. A batch rings every recipient for the same time (the provider takes one "
            "telephony_call_config per batch): give one ring_timeout_secs for the batch, or submit separate batches."
        )
    ring = next(iter(checker.rings)) if checker.rings else None
    request = BatchRequest(
        name=name,
        recipients=tuple(checker.requests),
        scheduled_time_unix=scheduled_time_unix,
        ring_timeout_secs=ring,
        target_concurrency_limit=target_concurrency_limit,
    )
    scripts = sorted((s.prompt, s.first_message) for s in checker.scripts.values())
    controls = sorted(str(s.overrides.as_dict()) for s in checker.scripts.values() if not s.overrides.empty)
    options = [ring, target_concurrency_limit, controls] if ring or target_concurrency_limit or controls else []

    def digests() -> tuple[str, str]:
        summary = [(r.phone_number, r.script.scenario, r.recipient_id) for r in request.recipients] if checker.ids else [
            (r.phone_number, r.script.scenario) for r in request.recipients
        ]
        return (
            fingerprint([provider.name, name, scheduled_time_unix, summary, scripts, *options]),
            recipients_key(provider.name, request),
        )

    plan_digest, key = await anyio.to_thread.run_sync(digests)
    return BatchPlan(provider=provider, request=request, fingerprint=plan_digest, recipients_key=key, principal=principal)


def recipients_key(provider_name: str, request: BatchRequest) -> str:
    """What makes two batches the same for the duplicate guard: SHA-256 over the provider, the
    recipients as a set (a number with its scenario and caller script, controls included) and the
    batch's ring timeout — not the name, the order or the start time, so a resubmitted batch (a
    client's time-out, a second client) matches.

    The set is digested without sorting it: the sum of its entries' SHA-256 values (mod 2**256),
    one short step per entry, so a 50,000-recipient key never holds the interpreter for long
    (it is computed once per plan, on a worker thread: :func:`plan_batch`).
    """
    digests: dict[int, str] = {}  # by script object: recipients with one script share it
    entries = set()
    for recipient in request.recipients:
        script = recipient.script
        digest = digests.get(id(script))
        if digest is None:
            digest = digests[id(script)] = fingerprint([script.prompt, script.first_message, repr(script.overrides)])
        entries.add((recipient.phone_number, script.scenario, digest))
    total = 0
    for entry in entries:
        total += int.from_bytes(hashlib.sha256("\x1f".join(entry).encode()).digest(), "big")
    ring = "" if request.ring_timeout_secs is None else str(request.ring_timeout_secs)
    return hashlib.sha256(f"{provider_name}\x1f{total % 2**256:064x}\x1f{ring}".encode()).hexdigest()


async def _earlier_batch(services: Services, plan: BatchPlan, allow_resubmit: bool) -> BatchRecord | None:
    """The earlier batch the duplicate guard would return instead of submitting ``plan`` (read only)."""
    since = guard_since(services, services.now(), opt_out=allow_resubmit)
    return None if since is None else await services.store.recent_batch(plan.recipients_key, since)


def _duplicate_answer(services: Services, plan: BatchPlan, earlier: BatchRecord) -> SubmitBatchResult:
    """The answer that returns an earlier batch instead of submitting the same one again."""
    age = max(0, int(services.now() - earlier.created_at))
    shown = earlier.batch_id or earlier.local_id
    return SubmitBatchResult(
        batch_id=earlier.batch_id,
        name=earlier.name,
        status=earlier.status,
        total_calls_scheduled=earlier.total_recipients,
        scheduled_time_unix=earlier.scheduled_time_unix,
        duplicate_of=shown,
        message=(
            f"Not submitted again: the same recipients, scenarios and script were submitted {age} s ago as "
            f"batch {shown} ({earlier.status}). Follow it with get_batch_status; pass allow_resubmit=true "
            "only if every number should really ring again."
        ),
        **services.answered_by(plan.provider),
    )


async def batch_question(services: Services, plan: BatchPlan, *, allow_resubmit: bool = False) -> str | None:
    """The question to ask before :func:`submit_batch` submits ``plan``, or ``None`` when it would
    not submit (the duplicate guard returns an earlier batch, or a cap refuses). Never raises."""
    try:
        if await _earlier_batch(services, plan, allow_resubmit) is not None:
            return None
        await check_hourly(services, plan.provider, len(plan.request.recipients), batch=True)
    except CallerError:
        return None
    cost = await estimate(services, plan.provider, plan.scripts(), len(plan.request.recipients))
    return plan.question(estimate_line(cost))


async def submit_batch(
    services: Services, plan: BatchPlan, *, dry_run: bool = False, confirmed: bool = True, allow_resubmit: bool = False
) -> SubmitBatchResult:
    """Submit ``plan`` as one batch call: every recipient with its own prompt and first message.

    The duplicate guard, the hourly cap and the ``submitting`` intent are decided in one store
    transaction: a batch whose recipients (as a set, with their scenarios and scripts) match one
    submitted within ``CALLER_MCP_REDIAL_GUARD_SECS`` is not submitted again; that batch is
    returned with ``duplicate_of``.

    Args:
        allow_resubmit: submit even if the same batch was submitted within the guard window.
        dry_run: check everything and return the request (first recipients), submitting nothing.
        confirmed: ``False`` when the person was asked (:func:`batch_question`) and declined.
    Returns:
        The batch id, name, status and count of scheduled calls (or the request, on a dry run).
    Raises:
        CapExceeded, NotConfirmed, ShuttingDown, ProviderError: as for :func:`place_call`.
    """
    provider, request = plan.provider, plan.request
    dials = len(request.recipients)
    if dry_run:
        await check_hourly(services, provider, dials, batch=True)
        preview = provider.preview_batch(request)
        # The body's list of recipients: ElevenLabs' "recipients", TalkifAI's "contacts".
        key = next(k for k, v in preview["body"].items() if isinstance(v, list))
        shown = preview["body"][key]
        preview["body"][key] = shown[:MAX_DRY_RUN_RECIPIENTS]
        preview["recipients_not_shown"] = max(0, len(shown) - MAX_DRY_RUN_RECIPIENTS)
        return SubmitBatchResult(
            name=request.name,
            status="dry_run",
            total_calls_scheduled=dials,
            scheduled_time_unix=request.scheduled_time_unix,
            dry_run=True,
            request=preview,
            message=script_not_sent(provider) or None,
            cost_estimate=await estimate(services, provider, plan.scripts(), dials),
            **services.answered_by(provider),
        )
    if not confirmed:
        earlier = await _earlier_batch(services, plan, allow_resubmit)
        if earlier is not None:
            return _duplicate_answer(services, plan, earlier)
        await check_hourly(services, provider, dials, batch=True)
        raise NotConfirmed("Not submitted: the person did not confirm the batch.")
    with services.stopping.dialling():  # a stopping server refuses here: nothing is written or sent
        return await _submit(services, plan, allow_resubmit=allow_resubmit)


async def _submit(services: Services, plan: BatchPlan, *, allow_resubmit: bool) -> SubmitBatchResult:
    """Write the intent of ``plan``, submit it and write its outcome (:func:`submit_batch`'s dial)."""
    provider, request = plan.provider, plan.request
    dials = len(request.recipients)
    caps = services.caps(provider)
    now = services.now()
    local_id = f"{LOCAL_BATCH_PREFIX}{uuid.uuid4().hex[:20]}"
    store = services.store
    summary = await anyio.to_thread.run_sync(lambda: plan.summary)  # 50,000 dicts: not on the loop
    earlier, new = await store.reserve_batch(
        local_id=local_id,
        provider=provider.name,
        name=request.name,
        recipients=summary,
        scheduled_time_unix=request.scheduled_time_unix,
        principal=plan.principal,
        cap_window_start=now - CAP_WINDOW_SECS,
        check_cap=lambda recent: caps.check_hourly(recent, dials, now, batch=True),
        recipients_key=plan.recipients_key,
        guard_since=guard_since(services, now, opt_out=allow_resubmit),
    )
    if not new:
        return _duplicate_answer(services, plan, earlier)
    created = await recorded(
        provider.submit_batch(request),
        lambda status, error: store.record_batch_outcome(local_id, status=status, error=error),
        f"The submission is recorded locally as {local_id}. Check the provider's batch list before "
        "submitting again, or the numbers may ring twice.",
    )
    pending = await kept(store.record_batch_outcome(local_id, status=created.status, batch_id=created.batch_id))
    answer = SubmitBatchResult(
        record_pending=pending,
        batch_id=created.batch_id,
        name=created.name or request.name,
        status=created.status,
        total_calls_scheduled=created.total_calls_scheduled or dials,
        scheduled_time_unix=created.scheduled_time_unix if created.scheduled_time_unix else request.scheduled_time_unix,
        estimate=_estimate(created),
        message=script_not_sent(provider) or None,
        **services.answered_by(provider),
    )
    return answer.quoting("name") if created.name else answer  # the name as the provider echoed it


def _estimate(created: BatchReport) -> str | None:
    """The provider's own estimate of a batch's cost and duration, as it worded them."""
    parts = [f"cost {created.estimated_cost}" if created.estimated_cost else "",
             f"duration {created.estimated_duration}" if created.estimated_duration else ""]
    shown = " and ".join(p for p in parts if p)
    return f"The provider estimates {shown}." if shown else None
