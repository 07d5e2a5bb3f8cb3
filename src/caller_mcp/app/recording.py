"""Records of what was dialled and what the provider reported: the write-ahead rule and the
copying of provider reports into the store.

A dial writes its intent before the request (``store.reserve_*``) and its outcome after it;
:func:`recorded` writes the outcome of a request that failed, telling a refusal (nothing was
dialled) from a lost answer (it may have been).
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..domain.batches import recipient_call_status
from ..domain.calls import CallReport
from ..errors import CallerError, OutcomeUnknown
from ..ports import Store
from ..store import CallRecord

T = TypeVar("T")


async def recorded(request: Awaitable[T], record: Callable[[str, str], Awaitable[Any]], unknown_advice: str) -> T:
    """Await a dialling request and record its failure before re-raising it.

    A refusal or an unreachable provider is recorded as ``failed`` (nothing was dialled); a lost
    answer, a cancellation or a crash mid-request as ``outcome_unknown`` (it may have been).

    Args:
        request: the provider call.
        record: ``await record(status, error)`` writes the outcome to the store.
        unknown_advice: appended to an :class:`OutcomeUnknown` message: where the record is and
            what to check before trying again.
    Raises:
        Whatever ``request`` raises; ``OutcomeUnknown`` with ``unknown_advice`` added.
    """
    try:
        return await request
    except OutcomeUnknown as exc:
        await record("outcome_unknown", str(exc))
        raise OutcomeUnknown(f"{exc} {unknown_advice}") from exc
    except CallerError as exc:
        await record("failed", str(exc))
        raise
    except BaseException as exc:
        await record(
            "outcome_unknown",
            f"The request was interrupted ({type(exc).__name__}: client timeout, cancellation or shutdown) "
            "after it may have reached the provider; check the provider's call history before calling again.",
        )
        raise


async def record_batch_calls(store: Store, provider: str, batch_id: str, calls: list[dict[str, Any]]) -> None:
    """Record the calls of a batch this server submitted (no-op for any other batch).

    Args:
        calls: in recipient order, each with ``conversation_id`` (``None`` while the provider
            has not named it: skipped), ``to_number``, ``status`` (normalised),
            ``provider_status`` and ``created_at`` (Unix seconds). The n-th call to a number
            gets the n-th scenario submitted for that number.
    """
    submitted = await store.batch_recipients(batch_id)
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
    await store.record_batch_calls(batch_id, provider, rows)


async def remember_report(store: Store, provider: str, record: CallRecord | None, report: CallReport) -> CallRecord | None:
    """Write a provider's report on a call to the store; a call of a batch this server submitted
    that the store did not know yet is recorded first. Returns the call's row, if any."""
    if record is None and report.batch_id:
        await record_batch_calls(
            store,
            provider,
            report.batch_id,
            [
                {
                    "conversation_id": report.provider_ref,
                    "to_number": report.to_number or "",
                    "status": report.status,
                    "provider_status": report.provider_status,
                    "created_at": report.started_at or time.time(),
                }
            ],
        )
        record = await store.get_call(report.provider_ref)
    if record is not None:
        await store.record_provider_report(
            record.call_id,
            status=report.status,
            provider_status=report.provider_status,
            outcome=report.outcome,
            termination_reason=report.termination_reason,
            duration_secs=report.duration_secs,
            started_at=report.started_at,
            cost=report.cost.amount if report.cost else None,
            cost_unit=report.cost.unit if report.cost else None,
            cost_usd=report.cost_usd,
        )
    return record


def recipient_rows(recipients: Any, now: float) -> list[dict[str, Any]]:
    """Batch recipients as :func:`record_batch_calls` rows (normalised status, provider's status)."""
    return [
        {
            "conversation_id": r.call_ref,
            "to_number": r.phone_number or "",
            "status": recipient_call_status(r.status),
            "provider_status": r.provider_status or r.status,
            "created_at": float(r.created_at or now),
        }
        for r in recipients
    ]
