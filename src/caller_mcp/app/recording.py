"""Records of what was dialled and what the provider reported: the write-ahead rule and the
copying of provider reports into the store.

A dial writes its intent before the request (``store.reserve_*``) and its outcome after it;
:func:`recorded` writes the outcome of a request that failed, telling a refusal (nothing was
dialled) from a lost answer (it may have been).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from ..domain.batches import RecipientReport, recipient_call_status, recipient_states
from ..domain.calls import CallReport
from ..errors import CallerError, OutcomeUnknown
from ..ports import Store
from ..store import CallRecord, RecordPending
from ..store.sqlite import batch_call_id

T = TypeVar("T")
logger = logging.getLogger(__name__)


async def kept(write: Awaitable[Any]) -> str | None:
    """Await the write of a dial's outcome. ``None`` when it was written; when the store refused
    it, the :class:`~caller_mcp.store.RecordPending` message (the outcome is kept in the journal
    and written later), which the answer carries beside the provider's ids."""
    try:
        await write
    except RecordPending as exc:
        logger.warning("outcome not recorded yet: %s", exc)
        return str(exc)
    return None


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
        pending = await kept(record("outcome_unknown", str(exc)))
        raise OutcomeUnknown(f"{exc} {unknown_advice}" + (f" {pending}" if pending else "")) from exc
    except CallerError as exc:
        await kept(record("failed", str(exc)))
        raise
    except BaseException as exc:
        await kept(record(
            "outcome_unknown",
            f"The request was interrupted ({type(exc).__name__}: client timeout, cancellation or shutdown) "
            "after it may have reached the provider; check the provider's call history before calling again.",
        ))
        raise


async def record_batch_calls(store: Store, provider: str, batch_id: str, calls: list[dict[str, Any]]) -> None:
    """Record the calls of a batch this server submitted (no-op for any other batch).

    Args:
        calls: each with ``conversation_id`` (``None`` while the provider has not named it:
            skipped), ``to_number``, ``status`` (normalised), ``provider_status``,
            ``created_at`` (Unix seconds), ``recipient_id`` (the provider's recipient id, ``None``
            when unknown) and ``nth`` (how many earlier recipients of the batch have the same
            number; default 0).

    A call is matched to what was submitted by its recipient id when the submission gave one
    (the provider reports it back as the recipient's ``id``), never by its place; its scenario,
    controls and id are recorded with it. A recipient submitted without an id is matched by
    number: the n-th recipient with a number gets the n-th entry submitted for that number.
    """
    calls = [call for call in calls if call["conversation_id"]]
    if not calls:
        return
    # Only the submitted entries these calls may match (by id, or every entry with their number).
    submitted = await store.batch_recipient_entries(
        batch_id,
        numbers=sorted({call["to_number"] for call in calls}),
        ids=sorted({call["recipient_id"] for call in calls if call.get("recipient_id")}),
    )
    if submitted is None:
        return
    by_id = {entry["id"]: entry for entry in submitted if entry.get("id")}
    by_number: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in submitted:
        by_number[entry.get("phone_number", "")].append(entry)
    rows = []
    for call in calls:
        entry = by_id.get(call.get("recipient_id") or "")
        if entry is None:
            entries = by_number.get(call["to_number"], ())
            nth = call.get("nth", 0)
            entry = entries[nth] if nth < len(entries) else {}
        overrides = entry.get("overrides")
        rows.append(
            {
                **{k: v for k, v in call.items() if k != "nth"},
                "scenario": entry.get("scenario") or "",
                "recipient_id": entry.get("id"),
                "overrides": json.dumps(overrides, sort_keys=True, ensure_ascii=False) if overrides else None,
            }
        )
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
                    "recipient_id": report.batch_recipient_id,
                }
            ],
        )
        record = await store.get_call(batch_call_id(provider, report.provider_ref))
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


def recipient_rows(
    recipients: Sequence[RecipientReport], now: float, *, known: Mapping[str, str | None] | None = None
) -> list[dict[str, Any]]:
    """Batch recipients that have a conversation as :func:`record_batch_calls` rows (normalised
    status, the provider's status, ``nth``).

    Recipients are compared as :func:`~caller_mcp.domain.batches.recipient_states` tuples; only
    those written get a :class:`RecipientReport` built (a :class:`LazyRecipients` builds none for
    the others).

    Args:
        known: ``{conversation id: provider status}`` already recorded; recipients whose status
            is recorded unchanged are left out (``None``: every recipient with a conversation).
    """
    states = recipient_states(recipients)
    changed = [
        i for i, (status, provider_status, ref, _, _) in enumerate(states)
        if ref and (known is None or known.get(ref, _UNKNOWN) != (provider_status or status))
    ]
    if not changed:
        return []
    # nth: how many earlier recipients have the same number (counted for those numbers only).
    wanted = {states[i][3] or "" for i in changed}
    chosen = set(changed)
    nth: dict[int, int] = {}
    seen: Counter[str] = Counter()
    for i, state in enumerate(states):
        number = state[3] or ""
        if number in wanted:
            if i in chosen:
                nth[i] = seen[number]
            seen[number] += 1
    rows = []
    for i in changed:
        r = recipients[i]
        rows.append(
            {
                "conversation_id": r.call_ref,
                "to_number": r.phone_number or "",
                "status": recipient_call_status(r.status),
                "provider_status": r.provider_status or r.status,
                "created_at": float(r.created_at or now),
                "recipient_id": r.recipient_id,
                "nth": nth[i],
            }
        )
    return rows


#: Not in ``known``: a recipient whose call the store has not recorded.
_UNKNOWN = object()
