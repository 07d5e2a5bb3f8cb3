"""The rows the store hands back: the business context, a call, a batch. Times are Unix seconds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BusinessContext:
    """The stored business context (seed 002 ``/api/context``): description, default scenario, when set."""

    description: str
    scenario: str | None
    updated_at: float


@dataclass(frozen=True)
class CallRecord:
    """One row of the ``calls`` table (see ``sqlite.py``'s docstring for ``status``).

    ``overrides`` is the JSON of the call's controls; ``recipient_id`` the caller's own id of a
    batch recipient; ``cost`` is in ``cost_unit`` (``credits`` for ElevenLabs), ``cost_usd`` in USD.
    """

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
    overrides: str | None = None
    recipient_id: str | None = None
    cost: float | None = None
    cost_unit: str | None = None
    cost_usd: float | None = None
    principal: str | None = None
    report_json: str | None = None
    provider_call_id: str | None = None

    def controls(self) -> dict[str, Any]:
        """The call's recorded controls (language, voice_id, dynamic_variables, ring_timeout_secs); ``{}`` when none."""
        return json.loads(self.overrides) if self.overrides else {}


@dataclass(frozen=True)
class RetryRecord:
    """One row of the ``batch_retries`` table: a retry of a batch's failed recipients
    (``status``: ``retrying``, ``retried``, ``failed``, ``outcome_unknown``)."""

    retry_id: str
    batch_id: str
    created_at: float
    updated_at: float
    recipients: int
    status: str
    error: str | None


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
    principal: str | None = None
