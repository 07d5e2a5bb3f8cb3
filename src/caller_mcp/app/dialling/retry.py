"""Dialling a batch's failed and voicemail recipients again: plan → confirm → retry."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from ...domain.batches import RETRIED_RECIPIENT_STATUSES, BatchReport
from ...domain.caps import CAP_WINDOW_SECS
from ...errors import CallerError, NotConfirmed, PolicyViolation, StoreUnavailable
from ...ports import Provider
from ..batches import batch_provider, read_batch
from ..recording import kept, recorded
from ..results import RetryBatchResult
from ..services import Services
from ...store import RetryRecord
from .common import MAX_LISTED_ERRORS, check_hourly, fingerprint, guard_since, kind


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
            f"({kind(self.provider)} calls): {shown}?\n(plan {self.fingerprint})"
        )


async def plan_retry(services: Services, batch_id: str) -> RetryPlan:
    """Read the batch and check the numbers a retry would call again; nothing is written or sent.

    Raises:
        PolicyViolation: a number the policy refuses (the batch may come from elsewhere).
        NotSupported: the provider cannot retry batches.
        InvalidInput, NotFound, ConfigError, ProviderError: as for ``get_batch_status``.
    """
    provider = await batch_provider(services, batch_id)
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


def _duplicate_answer(services: Services, plan: RetryPlan, earlier: RetryRecord) -> RetryBatchResult:
    """The answer that returns a retry of the same batch sent within the guard window."""
    age = max(0, int(services.now() - earlier.created_at))
    return RetryBatchResult(
        batch_id=plan.batch.batch_id,
        name=plan.batch.name,
        status=plan.batch.status,
        recipients_retried=earlier.recipients,
        duplicate_of=earlier.retry_id,
        message=(
            f"Not sent again: retry {earlier.retry_id} of this batch was sent {age} s ago ({earlier.status}, "
            f"{earlier.recipients:,} recipients). Follow with get_batch_status."
        ),
        **services.answered_by(plan.provider),
    )


async def _earlier_retry(services: Services, plan: RetryPlan) -> RetryRecord | None:
    since = guard_since(services, services.now())
    return None if since is None else await services.store.recent_retry(plan.batch.batch_id, since)


async def retry_question(services: Services, plan: RetryPlan) -> str | None:
    """The question to ask before :func:`retry_batch` dials again, or ``None`` when it would not
    dial (nothing to retry, a retry of the batch was just sent, or a cap refuses). Never raises."""
    if not plan.numbers:
        return None
    try:
        if await _earlier_retry(services, plan) is not None:
            return None
        await check_hourly(services, plan.provider, len(plan.numbers), batch=True)
    except CallerError:
        return None
    return plan.question()


async def retry_batch(services: Services, plan: RetryPlan, *, confirmed: bool = True) -> RetryBatchResult:
    """Call a batch's failed and voicemail recipients again
    (``POST /v1/convai/batch-calling/{id}/retry``, ``003_…``).

    The recipients to call again count towards the hourly cap; with none, nothing is sent. The
    retry guard (a retry of the same batch within ``CALLER_MCP_REDIAL_GUARD_SECS`` that may have
    dialled: that one is answered, with ``duplicate_of``), the cap and the intent are decided in
    one store transaction, so concurrent retries of one batch send one request. The retry is
    recorded before the request and, like every dialling request, never re-sent once it may
    have arrived.

    Raises:
        CapExceeded, NotConfirmed, ShuttingDown (the server is stopping; nothing was sent),
        ProviderError (``OutcomeUnknown`` when the retry may have been received).
    """
    provider, batch, numbers = plan.provider, plan.batch, plan.numbers
    if not numbers:
        return RetryBatchResult(
            batch_id=batch.batch_id,
            name=batch.name,
            status=batch.status,
            recipients_retried=0,
            message="Nothing to retry: no recipient has failed or reached voicemail. Nothing was sent.",
            **services.answered_by(provider),
        )
    caps = services.caps(provider)
    caps.check_size(len(numbers), batch=True)
    if not confirmed:
        earlier = await _earlier_retry(services, plan)
        if earlier is not None:
            return _duplicate_answer(services, plan, earlier)
        await check_hourly(services, provider, len(numbers), batch=True)
        raise NotConfirmed("Not retried: the person did not confirm.")
    with services.stopping.dialling():  # a stopping server refuses here: nothing is written or sent
        return await _retry(services, plan)


async def _retry(services: Services, plan: RetryPlan) -> RetryBatchResult:
    """Write the intent of retrying ``plan``, send it and write its outcome (:func:`retry_batch`'s dial)."""
    provider, batch, numbers = plan.provider, plan.batch, plan.numbers
    caps = services.caps(provider)
    now = services.now()
    store = services.store
    reserved, new = await store.reserve_retry(
        batch.batch_id,
        len(numbers),
        cap_window_start=now - CAP_WINDOW_SECS,
        check_cap=lambda recent: caps.check_hourly(recent, len(numbers), now, batch=True),
        guard_since=guard_since(services, now),
    )
    if not new:
        return _duplicate_answer(services, plan, reserved)
    retry_id = reserved.retry_id
    retried = await recorded(
        provider.retry_batch(batch.batch_id),
        lambda status, error: store.record_retry_outcome(retry_id, status=status, error=error),
        "Check get_batch_status before retrying again, or the numbers may ring twice.",
    )
    pending = await kept(store.record_retry_outcome(retry_id, status="retried"))
    if pending is None:
        with contextlib.suppress(StoreUnavailable):  # a cached status: the retry was sent all the same
            await store.update_batch_status(retried.batch_id, retried.status)
    return RetryBatchResult(
        batch_id=retried.batch_id,
        name=retried.name or batch.name,
        status=retried.status,
        recipients_retried=len(numbers),
        message=f"{len(numbers):,} recipients (failed or voicemail) will be called again. Follow with get_batch_status.",
        record_pending=pending,
        **services.answered_by(provider),
    )
