"""The provider protocol and the provider-neutral models the service layer works with.

Field meanings follow the ElevenLabs API documents in ``shared/reference`` (``001_…`` outbound
call, ``003_…`` batch calling); times are Unix seconds.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

#: Recipient statuses of a batch call. The ``003_…`` document lists all but ``dispatched``, which
#: current ElevenLabs SDKs add (``shared/reference/README.md``).
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


class OutboundCall(BaseModel):
    """What one call-placing request asks for.

    Attributes:
        to_number: destination, E.164.
        client_data: the ``conversation_initiation_client_data`` object (prompt, first message).
    """

    to_number: str
    client_data: dict[str, Any]


class OutboundCallResult(BaseModel):
    """The provider's answer to an outbound call.

    Attributes:
        message: the provider's message (``Outbound call initiated successfully.``).
        conversation_id: the provider's conversation id, when given.
        call_sid: Twilio ``callSid`` or SIP trunk ``sip_call_id``, when given.
        phone_provider: ``twilio`` or ``sip_trunk``: which endpoint placed the call.
        raw: the provider's JSON answer, as received.
    """

    message: str
    conversation_id: str | None = None
    call_sid: str | None = None
    phone_provider: Literal["twilio", "sip_trunk"]
    raw: dict[str, Any] = Field(default_factory=dict)


class BatchRecipientRequest(BaseModel):
    """One recipient of a batch submission: its number and its own client data."""

    phone_number: str
    client_data: dict[str, Any]


class BatchSubmission(BaseModel):
    """A batch call to submit (``POST /v1/convai/batch-calling/submit``)."""

    call_name: str
    recipients: list[BatchRecipientRequest]
    scheduled_time_unix: int | None = None


class BatchRecipient(BaseModel):
    """One recipient as the provider reports it (``OutboundCallRecipientResponseModel``)."""

    recipient_id: str | None = None
    phone_number: str | None = None
    status: str
    conversation_id: str | None = None
    created_at_unix: int | None = None
    updated_at_unix: int | None = None


class BatchCall(BaseModel):
    """A batch call as the provider reports it (``BatchCallResponse`` / ``BatchCallDetailedResponse``).

    ``recipients`` is filled only by :meth:`Provider.get_batch`.
    """

    batch_id: str
    name: str
    status: str
    agent_id: str | None = None
    phone_provider: str | None = None
    created_at_unix: int | None = None
    scheduled_time_unix: int | None = None
    last_updated_at_unix: int | None = None
    total_calls_scheduled: int = 0
    total_calls_dispatched: int = 0
    recipients: list[BatchRecipient] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class BatchPage(BaseModel):
    """One page of ``GET /v1/convai/batch-calling/workspace`` (``WorkspaceBatchCallsResponse``).

    Attributes:
        batch_calls: newest first, without recipients.
        next_doc: pass as ``last_doc`` to read the next page; ``None`` on the last page.
    """

    batch_calls: list[BatchCall]
    next_doc: str | None = None
    has_more: bool = False


#: Conversation statuses of ``GET /v1/convai/conversations/{id}`` (note the hyphen).
CONVERSATION_STATUSES = ("initiated", "in-progress", "processing", "done", "failed")


class TranscriptTurn(BaseModel):
    """One turn of a conversation's transcript.

    Attributes:
        role: the provider's role: ``agent`` is the AI caller, ``user`` the business line.
        message: what was said (tool-call turns without words are left out).
        time_in_call_secs: seconds from the start of the call.
    """

    role: str
    message: str
    time_in_call_secs: float | None = None


class Conversation(BaseModel):
    """A conversation as ``GET /v1/convai/conversations/{id}`` reports it (fields in
    ``shared/reference/README.md``); analysis fields are final only at status ``done``.

    Attributes:
        status: the provider's own value (:data:`CONVERSATION_STATUSES`).
        start_time_unix: ``metadata.start_time_unix_secs``, Unix seconds.
        duration_secs: ``metadata.call_duration_secs``, seconds.
        cost: ``metadata.cost`` (provider credits), when reported.
        call_successful: ``analysis.call_successful``: ``success``, ``failure`` or ``unknown``.
        summary: ``analysis.transcript_summary``.
        evaluation_criteria_results, data_collection_results: ``analysis``' objects, keyed by id.
        to_number: ``metadata.phone_call.external_number``, the line that was called.
        batch_id, batch_recipient_id: ``metadata.batch_call``, for a batch recipient's call.
    """

    conversation_id: str
    status: str
    agent_id: str | None = None
    to_number: str | None = None
    call_sid: str | None = None
    start_time_unix: int | None = None
    duration_secs: float | None = None
    termination_reason: str | None = None
    cost: float | None = None
    call_successful: str | None = None
    summary: str | None = None
    evaluation_criteria_results: dict[str, Any] = Field(default_factory=dict)
    data_collection_results: dict[str, Any] = Field(default_factory=dict)
    batch_id: str | None = None
    batch_recipient_id: str | None = None
    has_audio: bool | None = None
    transcript: list[TranscriptTurn] = Field(default_factory=list)


class Provider(Protocol):
    """What the service layer needs from a telephony provider.

    Every method raises :class:`~caller_mcp.errors.ProviderError` subclasses only:
    ``ProviderStatusError`` for an error answer, ``ProviderUnreachable`` when the request
    never left, ``OutcomeUnknown`` when a call-placing request may have been received.
    """

    name: str
    """``elevenlabs`` or ``sandbox``: reported in every tool answer."""

    async def place_call(self, call: OutboundCall) -> OutboundCallResult:
        """Place one outbound call; one HTTP request (plus at most one phone-number lookup per process)."""
        ...

    async def preview_call(self, call: OutboundCall) -> dict[str, Any]:
        """The request ``place_call`` would send (``method``, ``url``, ``headers`` without the key, ``body``)."""
        ...

    def preview_batch(self, batch: BatchSubmission) -> dict[str, Any]:
        """The request ``submit_batch`` would send, as :meth:`preview_call`."""
        ...

    async def submit_batch(self, batch: BatchSubmission) -> BatchCall:
        """Submit a batch call; one HTTP request."""
        ...

    async def get_batch(self, batch_id: str) -> BatchCall:
        """Read a batch call with all its recipients."""
        ...

    async def cancel_batch(self, batch_id: str) -> BatchCall:
        """Cancel a batch call; answers the batch with its new status."""
        ...

    async def retry_batch(self, batch_id: str) -> BatchCall:
        """Call a batch's failed and unanswered recipients again; answers the batch's new status.
        Places calls: never retried after it may have reached the provider."""
        ...

    async def list_batches(self, limit: int, last_doc: str | None = None) -> BatchPage:
        """One page of the workspace's batch calls, newest first."""
        ...

    async def get_conversation(self, conversation_id: str) -> Conversation:
        """Read one conversation: status, transcript, metadata and analysis."""
        ...

    async def aclose(self) -> None:
        """Release the HTTP client."""
        ...
