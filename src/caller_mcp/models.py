"""The pydantic models the tools take and return; each becomes part of a tool's input or output schema.

Kept lean on purpose: every field description is paid for in each conversation's context.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class RecipientInput(BaseModel):
    """One batch recipient with its own goal or business description."""

    phone_number: str = Field(description="E.164, e.g. +15551234567.")
    scenario: str | None = Field(default=None, description="This recipient's caller goal.")
    business_description: str | None = None


class BusinessContextResult(BaseModel):
    """The stored business context."""

    description: str
    scenario: str = Field(description="Default caller goal for calls that name none.")
    scenario_is_default: bool = Field(description="True when no scenario was set and the built-in one applies.")
    updated_at: str = Field(description="ISO 8601, UTC.")
    message: str


class PlaceCallResult(BaseModel):
    """A placed call (seed 002 ``/api/call`` answer, plus local bookkeeping), an earlier call
    returned by the duplicate guard (``duplicate_of``), or a dry run (``dry_run``, ``request``)."""

    ok: bool
    status: str
    message: str
    to_number: str
    scenario: str
    call_sid: str | None = Field(description="Twilio callSid or SIP trunk sip_call_id.")
    conversation_id: str | None = Field(description="Provider conversation id.")
    call_id: str | None = Field(description="Local id of the call record.")
    provider: str = Field(description="elevenlabs, or sandbox (no real phone rang).")
    phone_provider: str | None = None
    duplicate_of: str | None = Field(default=None, description="Set when not dialled again: the earlier call_id.")
    dry_run: bool = False
    request: dict[str, Any] | None = Field(default=None, description="Dry run: the exact request.")
    note: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, description="The provider's answer, as received.")


class SubmitBatchResult(BaseModel):
    """A submitted batch call, or a dry run (``dry_run``, ``request``; nothing submitted)."""

    batch_id: str | None
    name: str
    status: str
    total_calls_scheduled: int
    scheduled_time_unix: int | None = Field(description="Unix seconds; null = start now.")
    provider: str
    dry_run: bool = False
    request: dict[str, Any] | None = Field(default=None, description="Dry run: the request (first recipients).")
    note: str | None = None


class RecipientCounts(BaseModel):
    """Number of recipients in each status."""

    pending: int = 0
    dispatched: int = 0
    initiated: int = 0
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    voicemail: int = 0


class ProblemRecipient(BaseModel):
    """A recipient whose call failed or reached voicemail."""

    phone_number: str | None
    status: str
    conversation_id: str | None


class BatchStatusResult(BaseModel):
    """Progress of a batch call, without a dump of every recipient."""

    batch_id: str
    name: str
    status: str
    total_calls_scheduled: int
    total_calls_dispatched: int
    counts: RecipientCounts
    problem_recipients: list[ProblemRecipient] = Field(description="Failed or voicemail recipients, first ones.")
    problem_recipients_omitted: int = Field(description="Problem recipients left out of the list.")
    provider: str
    note: str | None = None


class CancelBatchResult(BaseModel):
    """A batch call after cancellation."""

    batch_id: str
    name: str
    status: str
    provider: str
    note: str | None = None


class CallRecordResult(BaseModel):
    """One call from the local history."""

    call_id: str
    to_number: str
    scenario: str
    status: str
    conversation_id: str | None
    batch_id: str | None = None
    created_at: str = Field(description="ISO 8601, UTC.")
    error: str | None = None


class CallListResult(BaseModel):
    """Local call history, newest first."""

    calls: list[CallRecordResult]
    count: int
