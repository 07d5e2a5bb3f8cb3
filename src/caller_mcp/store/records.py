"""The rows the store hands back: the business context, a call, a batch. Times are Unix seconds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BusinessContext:
    """The stored business context (seed 002 ``/api/context``): description, default scenario, when set."""

    description: str
    scenario: str | None
    updated_at: float


@dataclass(frozen=True)
class CallRecord:
    """One row of the ``calls`` table (see the module docstring for ``status``)."""

    call_id: str
    created_at: float
    updated_at: float
    provider: str
    to_number: str
    scenario: str
    business_description: str
    status: str
    phone_provider: str | None
    conversation_id: str | None
    call_sid: str | None
    error: str | None
    owner: str | None = None
    pid: int | None = None
    batch_id: str | None = None
    provider_status: str | None = None
    outcome: str | None = None
    termination_reason: str | None = None
    duration_secs: float | None = None
    started_at: float | None = None


@dataclass(frozen=True)
class BatchRecord:
    """One row of the ``batches`` table; ``batch_id`` is the provider's id, ``None`` until known."""

    local_id: str
    batch_id: str | None
    created_at: float
    updated_at: float
    provider: str
    name: str
    status: str
    total_recipients: int
    scheduled_time_unix: int | None
    error: str | None
