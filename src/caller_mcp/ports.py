"""The ports: what the use cases (``app/``) need from a telephony provider and from the store.

Providers (``providers/…``) and stores (``store/…``) implement these Protocols; the app sees
nothing else of them. Every provider method raises :class:`~caller_mcp.errors.ProviderError`
subclasses only: ``ProviderStatusError`` for an error answer, ``ProviderUnreachable`` when the
request never left, ``OutcomeUnknown`` when a call-placing request may have been received.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .domain.batches import BatchPage, BatchReport, BatchRequest
from .domain.calls import CallReport, CallRequest, PlacedCall


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do; a tool that needs a missing capability answers ``NotSupported``.

    Attributes:
        per_call_script: the caller's prompt and first message are sent with each call.
        batches: batch calls (submit, status, list, cancel).
        batch_retry: a batch's failed recipients can be called again.
        read_call: a call's status, outcome and transcript can be read back.
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
    "cost_estimate": "a cost estimate",
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


class CallReader(Protocol):
    """Reads a call back (capability ``read_call``)."""

    async def get_call(self, provider_ref: str) -> CallReport:
        """Status, transcript, analysis and cost of the call the provider knows as ``provider_ref``.

        Raises:
            ProviderStatusError: 404 when the provider does not know it (yet).
        """
        ...


class Provider(Dialer, BatchDialer, CallReader, Protocol):
    """A provider with every port; one that lacks a capability raises ``NotSupported`` from the
    methods behind it (the app checks :class:`Capabilities` first)."""
