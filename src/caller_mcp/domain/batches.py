"""A batch call in caller-mcp's own terms: recipient statuses, progress, the request and the report.

Pure data and rules, no I/O. The recipient vocabulary is ElevenLabs' (``003_…`` plus
``dispatched``, which current SDKs add — ``shared/reference/README.md``); another provider maps
its own statuses onto it and keeps the original in ``provider_status``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from .script import CallerScript

#: Most recipients one batch may have, whatever ``CALLER_MCP_MAX_BATCH_SIZE`` says: the largest
#: batch measured end to end (``benchmarks/batch_scale.py``); a longer list is refused before any
#: recipient is looked at (the tool's schema says ``maxItems``).
MAX_BATCH_RECIPIENTS = 50_000
#: Recipient statuses of a batch call.
RECIPIENT_STATUSES = (
    "pending",
    "dispatched",
    "initiated",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
    "voicemail",
)
#: Batch statuses (``003_…`` ``BatchCallStatus``).
BATCH_STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")
#: Recipient statuses that count as finished for a batch's ``progress``.
FINISHED_RECIPIENT_STATUSES = frozenset({"completed", "failed", "voicemail", "cancelled"})
#: Recipients a retry calls again: failed, and answered by voicemail (no one responded).
RETRIED_RECIPIENT_STATUSES = ("failed", "voicemail")
#: Local batch record statuses before the provider reports (``store/``).
BATCH_RECORD_STATUSES = ("submitting", "failed", "outcome_unknown")

#: Batch recipient status → normalised status of its call (``domain.calls.CALL_STATUSES``).
_RECIPIENT_CALL_STATUS = {
    "pending": "queued",
    "dispatched": "queued",
    "initiated": "ringing",
    "in_progress": "in_progress",
    "completed": "done",
    "voicemail": "done",
    "failed": "failed",
    "cancelled": "failed",
}


def recipient_call_status(recipient_status: str) -> str:
    """The normalised status of a recipient's call (``voicemail`` → ``done``; unknown → ``processing``)."""
    return _RECIPIENT_CALL_STATUS.get(recipient_status, "processing")


@dataclass(frozen=True)
class BatchRecipientRequest:
    """One recipient to submit: its E.164 number, its caller script (shared by recipients with the
    same description, scenario and overrides; the script's overrides carry no ring timeout, which
    is the batch's) and the caller's own id for it (``None``: the provider makes one)."""

    phone_number: str
    script: CallerScript
    recipient_id: str | None = None


@dataclass(frozen=True)
class BatchRequest:
    """A batch call to submit.

    Attributes:
        name: the batch's name. scheduled_time_unix: start time (Unix seconds), ``None`` = now.
        recipients: in submission order.
        ring_timeout_secs: seconds every recipient's line rings (one value per batch: ElevenLabs'
            ``telephony_call_config`` is per submit), ``None`` = the provider's default.
        target_concurrency_limit: most calls at once, ``None`` = the provider's default (ElevenLabs:
            70 % of the workspace's concurrency).
    """

    name: str
    recipients: tuple[BatchRecipientRequest, ...]
    scheduled_time_unix: int | None = None
    ring_timeout_secs: int | None = None
    target_concurrency_limit: int | None = None


@dataclass(frozen=True)
class RecipientReport:
    """One recipient as the provider reports it.

    Attributes:
        status: :data:`RECIPIENT_STATUSES`. provider_status: the provider's own value.
        call_ref: the provider's reference for the recipient's call (conversation id), once named.
        created_at, updated_at: Unix seconds.
        duration_secs: the call's length in seconds, when the provider reports it per recipient.
        error: why the recipient's call failed, in the provider's words (untrusted text).
    """

    status: str
    phone_number: str | None = None
    recipient_id: str | None = None
    call_ref: str | None = None
    provider_status: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    duration_secs: float | None = None
    error: str | None = None


#: A recipient's state as a poll compares it: ``(status, provider_status, call_ref, phone_number,
#: recipient_id)`` (the :class:`RecipientReport` fields of the same names).
RecipientState = tuple[str, "str | None", "str | None", "str | None", "str | None"]


class LazyRecipients(Sequence[RecipientReport]):
    """A provider's recipients kept as its decoded JSON objects: each becomes a
    :class:`RecipientReport` only when read, and :meth:`states` gives every recipient's state as a
    plain tuple. A 50,000-recipient poll shows one page; building 50,000 objects for it cost more
    than decoding the answer.

    Args:
        raw: the provider's recipient objects, in its order.
        build: one raw object → its :class:`RecipientReport`.
        states: every raw object's :data:`RecipientState`, equal to ``build``'s fields, in order
            (computed here, once: on the worker thread that decodes a large answer).
    """

    __slots__ = ("_build", "_raw", "_states")

    def __init__(
        self,
        raw: list[Any],
        build: Callable[[Any], RecipientReport],
        states: Callable[[list[Any]], list[RecipientState]],
    ) -> None:  # noqa: D107 - documented above
        self._raw = raw
        self._build = build
        self._states = states(raw)

    def states(self) -> list[RecipientState]:
        """Every recipient's :data:`RecipientState`, in order (the list itself: do not change it)."""
        return self._states

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, index: int) -> RecipientReport: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[RecipientReport, ...]: ...
    def __getitem__(self, index: int | slice) -> RecipientReport | tuple[RecipientReport, ...]:
        if isinstance(index, slice):
            return tuple(self._build(r) for r in self._raw[index])
        return self._build(self._raw[index])

    def __iter__(self) -> Iterator[RecipientReport]:
        return (self._build(r) for r in self._raw)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like a list: compared by content

    def __repr__(self) -> str:
        return f"LazyRecipients({len(self)} recipients)"


def recipient_states(recipients: Sequence[RecipientReport]) -> list[RecipientState]:
    """Every recipient's :data:`RecipientState`: :meth:`LazyRecipients.states` when the provider
    gave one, else read from the objects."""
    if isinstance(recipients, LazyRecipients):
        return recipients.states()
    return [(r.status, r.provider_status, r.call_ref, r.phone_number, r.recipient_id) for r in recipients]


@dataclass(frozen=True)
class BatchReport:
    """A batch as the provider reports it; ``recipients`` only from a single-batch read.

    Times are Unix seconds. ``estimated_cost`` and ``estimated_duration`` are the provider's own
    words at submission, where it gives them (TalkifAI: ``"$3.50"``, ``"15 minutes"``).
    ``status_breakdown`` counts recipients per status in the provider's own vocabulary, where it
    reports one (TalkifAI's ``statusBreakdown``). ``recipients`` is a tuple, or a
    :class:`LazyRecipients` for a large answer. ``incomplete`` says why ``recipients`` is not all
    of them when the provider's pages were not all read (a page or time budget ran out).
    """

    batch_id: str
    name: str
    status: str
    created_at: float | None = None
    scheduled_time_unix: int | None = None
    last_updated_at: float | None = None
    total_calls_scheduled: int = 0
    total_calls_dispatched: int = 0
    recipients: Sequence[RecipientReport] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    estimated_cost: str | None = None
    estimated_duration: str | None = None
    status_breakdown: dict[str, int] = field(default_factory=dict)
    incomplete: str | None = None


@dataclass(frozen=True)
class BatchPage:
    """One page of a workspace's batches, newest first.

    Attributes:
        cursor: pass back to read the next page; ``None`` on the last page.
    """

    batches: tuple[BatchReport, ...]
    cursor: str | None = None


def status_counts(recipients: Sequence[RecipientReport]) -> dict[str, int]:
    """Recipients per status, statuses with none left out, in :data:`RECIPIENT_STATUSES` order
    (statuses outside it after them)."""
    return state_counts(recipient_states(recipients))


def state_counts(states: Sequence[RecipientState]) -> dict[str, int]:
    """:func:`status_counts` of recipients given as :data:`RecipientState` tuples."""
    counts = dict.fromkeys(RECIPIENT_STATUSES, 0)
    for status, n in Counter(state[0] for state in states).items():
        counts[status] = counts.get(status, 0) + n
    return {status: n for status, n in counts.items() if n}


def progress(counts: dict[str, int], scheduled: int) -> float:
    """Finished recipients / scheduled ones, 0 to 1, rounded to 3 places; 0 when none scheduled."""
    if not scheduled:
        return 0.0
    finished = sum(n for status, n in counts.items() if status in FINISHED_RECIPIENT_STATUSES)
    return round(min(1.0, finished / scheduled), 3)
