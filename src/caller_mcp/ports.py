"""The ports: what the use cases (``app/``) need from a telephony provider and from the store.

Providers (``providers/…``) and stores (``store/…``) implement these Protocols; the app sees
nothing else of them. Every provider method raises :class:`~caller_mcp.errors.ProviderError`
subclasses only: ``ProviderStatusError`` for an error answer, ``ProviderUnreachable`` when the
request never left, ``OutcomeUnknown`` when a call-placing request may have been received.

Every :class:`Store` method is a coroutine: no store wait (another process holding the write
lock, a slow disk, a remote database) ever blocks the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .domain.batches import BatchPage, BatchReport, BatchRequest
from .domain.calls import CallReport, CallRequest, LlmPrice, PlacedCall
from .domain.script import CallerScript
from .domain.webhooks import WebhookEvent

if TYPE_CHECKING:
    from .store.records import BatchRecord, BusinessContext, CallRecord, RetryRecord

#: ``check_cap(dials)``: given ``(created_at, number of dials)`` for every dial of the cap window,
#: oldest first, raises ``CapExceeded`` to refuse; runs inside the store's reserving transaction.
CapCheck = Callable[[list[tuple[float, int]]], None]


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do; a tool that needs a missing capability answers ``NotSupported``.

    Attributes:
        per_call_script: the caller's prompt and first message are sent with each call.
        batches: batch calls (submit, status, list, cancel).
        batch_retry: a batch's failed recipients can be called again.
        read_call: a call's status, outcome and transcript can be read back by the provider's id.
        read_dialled_call: with ``read_call``, the reference a dial or batch recipient gets is
            that id, so the calls placed here can be read back (ElevenLabs' conversation id); False
            when it is not (TalkifAI's room name).
        cost_estimate: a price can be estimated before dialling.
        webhooks: the provider pushes signed results.
        dial_blocks: the call-placing request is held until the callee answers (TalkifAI: up to
            60 s), so the app sends it in the background and answers ``dialling`` at once.
        call_language: a per-call ``language`` for the caller (ISO 639-1).
        call_voice: a per-call ``voice_id`` for the caller.
        dynamic_variables: per-call ``dynamic_variables`` filled into the agent's ``{{name}}`` placeholders.
        ring_timeout: a per-call (per-batch) ``ring_timeout_secs``.
        batch_concurrency: a batch's ``target_concurrency_limit``.
        recipient_ids: a batch recipient ``id`` of the caller's own, reported back per recipient.
    """

    per_call_script: bool = False
    batches: bool = False
    batch_retry: bool = False
    read_call: bool = False
    read_dialled_call: bool = True
    cost_estimate: bool = False
    webhooks: bool = False
    dial_blocks: bool = False
    call_language: bool = False
    call_voice: bool = False
    dynamic_variables: bool = False
    ring_timeout: bool = False
    batch_concurrency: bool = False
    recipient_ids: bool = False

    def missing(self, *names: str) -> list[str]:
        """The capability names among ``names`` that this provider lacks."""
        return [name for name in names if not getattr(self, name)]


#: What each capability means, for ``NotSupported`` messages.
CAPABILITY_WORDS = {
    "per_call_script": "a caller script sent with each call",
    "batches": "batch calls",
    "batch_retry": "retrying a batch's failed recipients",
    "read_call": "reading a call's status and transcript",
    "read_dialled_call": "reading back the calls it places",
    "cost_estimate": "a cost estimate before dialling",
    "webhooks": "signed webhooks",
    "call_language": "a per-call language (language)",
    "call_voice": "a per-call voice (voice_id)",
    "dynamic_variables": "dynamic variables (dynamic_variables)",
    "ring_timeout": "a ringing timeout (ring_timeout_secs)",
    "batch_concurrency": "a batch concurrency limit (target_concurrency_limit)",
    "recipient_ids": "recipient ids of your own (recipients[].id)",
}


@runtime_checkable
class Dialer(Protocol):
    """Places single calls.

    Attributes:
        name: the provider's name (``elevenlabs``), reported in every answer.
        sandbox: True when the provider is its emulator: no real phone can ring.
        capabilities: what else it can do.
    """

    name: str
    sandbox: bool
    capabilities: Capabilities

    async def place_call(self, call: CallRequest) -> PlacedCall:
        """Place one call: one call-placing request, never re-sent once it may have arrived."""
        ...

    async def preview_call(self, call: CallRequest) -> dict[str, Any]:
        """The request :meth:`place_call` would send (``method``, ``url``, ``headers`` without
        secrets, ``body``): a dry run. May read (never dial)."""
        ...

    async def aclose(self) -> None:
        """Release the HTTP client."""
        ...


class BatchDialer(Protocol):
    """Submits and follows batch calls (capability ``batches``)."""

    def preview_batch(self, batch: BatchRequest) -> dict[str, Any]:
        """The request :meth:`submit_batch` would send, as :meth:`Dialer.preview_call`."""
        ...

    async def submit_batch(self, batch: BatchRequest) -> BatchReport:
        """Submit a batch: one call-placing request."""
        ...

    async def get_batch(self, batch_id: str) -> BatchReport:
        """Read a batch with all its recipients."""
        ...

    async def cancel_batch(self, batch_id: str) -> BatchReport:
        """Cancel a batch; answers it with its new status."""
        ...

    async def retry_batch(self, batch_id: str) -> BatchReport:
        """Call a batch's failed and unanswered recipients again (capability ``batch_retry``).
        Places calls: never re-sent once it may have arrived."""
        ...

    async def list_batches(self, limit: int, cursor: str | None = None) -> BatchPage:
        """One page of the workspace's batches, newest first."""
        ...


class CostEstimator(Protocol):
    """Prices a call before it is placed (capability ``cost_estimate``)."""

    async def llm_price(self, script: CallerScript) -> LlmPrice:
        """The per-minute price of the agent's LLM for a call with ``script`` (the LLM part of a
        call's price only). Reads only; may be cached per process.

        Raises:
            ProviderError: the agent or the price list could not be read, or it does not price the
                agent's LLM.
        """
        ...


class CallReader(Protocol):
    """Reads a call back (capability ``read_call``)."""

    async def get_call(self, provider_ref: str) -> CallReport:
        """Status, transcript, analysis and cost of the call the provider knows as ``provider_ref``.

        Raises:
            ProviderStatusError: 404 when the provider does not know it (yet).
        """
        ...


class WebhookParser(Protocol):
    """Verifies and reads a provider's signed webhook requests (``providers/<name>/webhooks.py``).

    Attributes:
        provider: the provider's name, as in the store's rows.
    """

    provider: str

    def parse(self, body: bytes, headers: Mapping[str, str], now: float) -> WebhookEvent:
        """Verify the signature of the raw ``body`` (constant time, with the provider's freshness
        window measured against ``now``, Unix seconds) and read the event.

        Raises:
            WebhookRejected: missing, wrong or stale signature (nothing may be stored).
            InvalidInput: a correctly signed body that is not a readable event.
        """
        ...


class Provider(Dialer, BatchDialer, CallReader, CostEstimator, Protocol):
    """A provider with every port; one that lacks a capability raises ``NotSupported`` from the
    methods behind it (the app checks :class:`Capabilities` first)."""


@runtime_checkable
class Store(Protocol):
    """The records: the business context, every call, batch and batch retry (``store/``).

    Implementations: :class:`~caller_mcp.store.ThreadedStore` around the SQLite store (its
    blocking work runs on a worker thread); a PostgreSQL store may implement it natively. Times
    are Unix seconds (float). Statuses are those described in ``store/sqlite.py``.

    The ``reserve_*`` methods are the guards: each decides them and writes the intent in one
    transaction, so any number of processes (or replicas) sharing the store behave as one.
    Every method may raise ``ConfigError`` when the store cannot be opened, and the store's own
    errors (e.g. ``sqlite3.OperationalError``) when a read or write fails.
    """

    async def get_context(self, principal: str = "local") -> BusinessContext | None:
        """``principal``'s business context, or ``None`` if it never set one."""
        ...

    async def set_context(self, description: str, scenario: str | None, principal: str = "local") -> BusinessContext:
        """Replace ``principal``'s business context (no other's); returns what was stored."""
        ...

    async def reserve_call(
        self,
        *,
        call_id: str,
        provider: str,
        to_number: str,
        scenario: str,
        business_description: str,
        guard_since: float | None,
        cap_window_start: float,
        check_cap: CapCheck,
        overrides: str | None = None,
        principal: str = "local",
    ) -> tuple[CallRecord, bool]:
        """Redial guard + hourly cap + ``dialling`` intent in one transaction (``overrides``: the
        call's caller controls as canonical JSON, stored with it).

        Returns ``(new record, True)``, or ``(the earlier call to the same E.164 number and
        scenario created since ``guard_since``, False)``; raises what ``check_cap`` raises."""
        ...

    async def record_call_outcome(
        self,
        call_id: str,
        *,
        status: str,
        conversation_id: str | None = None,
        call_sid: str | None = None,
        phone_provider: str | None = None,
        error: str | None = None,
    ) -> CallRecord:
        """Write a dial's outcome; returns the row. Raises ``KeyError`` for an unknown id."""
        ...

    async def get_call(self, call_id: str) -> CallRecord | None:
        """The call with this local id, or ``None``."""
        ...

    async def find_call(self, call_or_conversation_id: str) -> CallRecord | None:
        """The call whose local id or provider conversation id is given, or ``None``."""
        ...

    async def record_provider_report(
        self,
        call_id: str,
        *,
        status: str,
        provider_status: str | None,
        outcome: str | None = None,
        termination_reason: str | None = None,
        duration_secs: float | None = None,
        started_at: float | None = None,
        cost: float | None = None,
        cost_unit: str | None = None,
        cost_usd: float | None = None,
    ) -> None:
        """Store what the provider last reported on a call, its cost in ``cost_unit`` and in USD
        included (unknown id: no-op)."""
        ...

    async def apply_webhook(
        self,
        *,
        provider: str,
        event_key: str,
        received_at: float,
        refs: tuple[str, ...],
        to_number: str | None,
        merge: Callable[[str | None], tuple[str, dict[str, Any]]],
        bind_window_secs: float = 0,
    ) -> tuple[str, CallRecord | None]:
        """Replay check + finding the call + writing the merged report, in one transaction.
        Returns ``("replay" | "unknown", None)`` or ``("applied", updated record)``."""
        ...

    async def record_batch_calls(self, batch_id: str, provider: str, calls: list[dict[str, Any]]) -> int:
        """Record or update a batch's recipients' calls keyed by conversation id; returns rows written."""
        ...

    async def batch_call_statuses(self, batch_id: str) -> dict[str, str | None]:
        """``{conversation id: provider status}`` of the calls recorded for a batch's recipients."""
        ...

    async def list_calls(
        self,
        limit: int = 20,
        *,
        status: str | None = None,
        to_number: str | None = None,
        since: float | None = None,
        principal: str | None = None,
    ) -> list[CallRecord]:
        """The newest calls first, at most ``limit``, optionally filtered."""
        ...

    async def recent_call(self, to_number: str, scenario: str, since: float) -> CallRecord | None:
        """The newest call to ``to_number`` with ``scenario`` since ``since`` that may have rung, else
        the newest batch of that time with them among its recipients (``call_id`` = its local
        ``batch_…`` id, ``batch_id`` = the provider's)."""
        ...

    async def dials_since(self, since: float) -> list[tuple[float, int]]:
        """``(created_at, dials)`` of every call, batch and retry since ``since`` that may have dialled."""
        ...

    async def reserve_batch(
        self,
        *,
        local_id: str,
        provider: str,
        name: str,
        recipients: list[dict[str, Any]],
        scheduled_time_unix: int | None,
        cap_window_start: float,
        check_cap: CapCheck,
        principal: str = "local",
        recipients_key: str | None = None,
        guard_since: float | None = None,
    ) -> tuple[BatchRecord, bool]:
        """Batch duplicate guard + hourly cap + ``submitting`` intent in one transaction.

        ``recipients_key`` identifies the batch (a digest of its recipients as a set, their
        scenarios and scripts). Returns ``(new record, True)``, or ``(the batch with the same key
        created since ``guard_since`` that may have dialled, False)``; raises what ``check_cap``
        raises."""
        ...

    async def recent_batch(self, recipients_key: str, since: float) -> BatchRecord | None:
        """What :meth:`reserve_batch`'s duplicate guard would return (read only)."""
        ...

    async def record_batch_outcome(
        self, local_id: str, *, status: str, batch_id: str | None = None, error: str | None = None
    ) -> BatchRecord:
        """Write a submission's outcome (the provider's batch id and status, or the error)."""
        ...

    async def update_batch_status(self, batch_id: str, status: str) -> None:
        """Record the provider's last status of a batch submitted here (no-op otherwise)."""
        ...

    async def get_batch(self, batch_id: str) -> BatchRecord | None:
        """The batch with this provider id, or ``None`` if it was not submitted here."""
        ...

    async def batch_costs(self, batch_id: str) -> dict[str, Any]:
        """The summed costs of a batch's recorded calls: ``calls``, ``cost`` in ``cost_unit``,
        ``calls_usd``, ``cost_usd`` (USD)."""
        ...

    async def batch_recipients(self, batch_id: str) -> list[dict[str, Any]]:
        """The ``{"phone_number", "scenario"}`` list recorded at submission (empty if not submitted here)."""
        ...

    async def batch_recipient_entries(
        self, batch_id: str, *, numbers: Sequence[str] = (), ids: Sequence[str] = ()
    ) -> list[dict[str, Any]] | None:
        """The entries of :meth:`batch_recipients` with one of these numbers or caller's ids, in
        submission order (``None`` if the batch was not submitted here)."""
        ...

    async def list_batches(self, limit: int = 20, *, principal: str | None = None) -> list[BatchRecord]:
        """The batches submitted here, newest first, at most ``limit``."""
        ...

    async def reserve_retry(
        self,
        batch_id: str,
        recipients: int,
        *,
        cap_window_start: float,
        check_cap: CapCheck,
        guard_since: float | None = None,
    ) -> tuple[RetryRecord, bool]:
        """Retry guard + hourly cap + ``retrying`` intent in one transaction.

        Returns ``(new retry, True)``, or ``(the retry of the same batch created since
        ``guard_since`` that may have dialled, False)``; raises what ``check_cap`` raises."""
        ...

    async def recent_retry(self, batch_id: str, since: float) -> RetryRecord | None:
        """What :meth:`reserve_retry`'s guard would return (read only)."""
        ...

    async def record_retry_outcome(self, retry_id: str, *, status: str, error: str | None = None) -> None:
        """Write a retry's outcome: ``retried``, ``failed`` or ``outcome_unknown``."""
        ...

    async def aclose(self) -> None:
        """Close the store; every write is already committed."""
        ...
