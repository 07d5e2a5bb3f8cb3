"""The answers of the use cases (and the one structured tool argument, a batch recipient).

Pydantic models: the MCP layer sends them as structured content (without null fields; no output
schema is published, see :class:`~caller_mcp.mcp.sdk.StrictTool`), and the CLI reads them too. Kept lean on purpose: every field description
is paid for in each conversation's context. ``sandbox: true`` means the provider's emulator
answered and no real phone rang.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidatorFunctionWrapHandler, WrapValidator, computed_field
from pydantic_core import PydanticCustomError

from ..domain.batches import MAX_BATCH_RECIPIENTS
from ..domain.transcript import untrusted_note


class ProviderText(BaseModel):
    """A model some of whose fields may carry free text the provider or the phone line under test
    produced (:attr:`provider_text`): a transcript, a summary, a termination reason, a
    rationale, a batch name from the workspace, an error body. What an :class:`Answer`'s
    ``untrusted`` note names."""

    #: The fields whose text comes from the provider. A list of :class:`ProviderText` entries is
    #: named by its entries' fields (``recipients[].error``) and needs no entry here.
    provider_text: ClassVar[tuple[str, ...]] = ()
    _own: set[str] = PrivateAttr(default_factory=set)
    _quoting: set[str] = PrivateAttr(default_factory=set)

    def own(self, **fields: Any) -> Self:
        """Set ``fields`` to text of caller-mcp's own (not marked, even if declared provider text)."""
        for name, value in fields.items():
            setattr(self, name, value)
            self._own.add(name)
        return self

    def quoting(self, *fields: str) -> Self:
        """Mark ``fields`` as quoting the provider in this answer (an undeclared field such as a
        ``message`` or ``note`` that carries the provider's words this time)."""
        self._quoting.update(fields)
        return self

    def provider_fields(self) -> list[str]:
        """The names of the non-empty fields that carry provider text, in declaration order."""
        names: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, list) and value and isinstance(value[0], ProviderText):
                inner = dict.fromkeys(field for entry in value for field in entry.provider_fields())
                names += [f"{name}[].{field}" for field in inner]
            elif value not in (None, "", [], {}) and (
                (name in self.provider_text and name not in self._own) or name in self._quoting
            ):
                names.append(name)
        return names


class Answer(ProviderText):
    """A tool's answer: ``untrusted`` names the fields that carry provider text, whenever any is
    non-empty (computed when the answer is sent, so fields set late count too)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def untrusted(self) -> str | None:
        """Which fields are the provider's or the phone line's text: untrusted content."""
        return untrusted_note(self.provider_fields())


class RecipientInput(BaseModel):
    """One batch recipient: its E.164 number and, optionally, an ``id`` of the caller's own (sent as
    the provider's recipient id, reported back by ``get_batch_status`` and ``list_calls``), its own
    goal and business description, and its own controls (``domain.overrides``), which win over the
    batch's. An unknown field is refused when the batch is planned, so a misspelt control never
    goes unnoticed."""

    # Unknown fields are kept (``model_extra``) so that planning refuses them by name, in a
    # sentence, with the entry's index; the schema leaves ``additionalProperties`` out.
    model_config = ConfigDict(extra="allow", json_schema_extra=lambda schema: schema.pop("additionalProperties", None))

    phone_number: str
    id: str | None = None
    scenario: str | None = None
    business_description: str | None = None
    language: str | None = None
    voice_id: str | None = None
    dynamic_variables: dict[str, Any] | None = None
    ring_timeout_secs: int | None = None


def _bounded(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Refuse a recipient list longer than :data:`MAX_BATCH_RECIPIENTS` before any entry is
    validated (pydantic's own ``max_length`` on a list is checked while the items are validated,
    so a 100,000-entry list would cost 50,000 recipient models first)."""
    if isinstance(value, list) and len(value) > MAX_BATCH_RECIPIENTS:
        raise PydanticCustomError(
            "too_many_recipients",
            "{count} recipients; a batch takes at most {most}. Split them into batches; nothing was sent.",
            {"count": f"{len(value):,}", "most": f"{MAX_BATCH_RECIPIENTS:,}"},
        )
    return handler(value)


#: ``submit_batch``'s recipients: E.164 strings or :class:`RecipientInput` objects, at most
#: :data:`MAX_BATCH_RECIPIENTS` of them, the count checked before the entries.
Recipients = Annotated[list[str | RecipientInput], WrapValidator(_bounded)]


class BusinessContextResult(BaseModel):
    """The stored business context."""

    description: str
    scenario: str = Field(description="Default caller goal for calls that name none.")
    scenario_is_default: bool = Field(description="True when no scenario was set and the built-in one applies.")
    updated_at: str = Field(description="ISO 8601, UTC.")
    message: str


class CostEstimateResult(Answer):
    """An approximate price before dialling: the LLM part only, in USD (seed ``003_…``)."""

    provider_text = ("llm",)

    llm: str | None = Field(default=None, description="The agent's LLM.")
    usd_per_minute: float | None = Field(default=None, description="LLM price per minute, USD, as the provider gives it.")
    prompt_length: int | None = Field(default=None, description="Characters of caller prompt the price is for.")
    calls: int
    expected_minutes: float
    estimated_usd: float | None = Field(default=None, description="usd_per_minute × expected_minutes × calls.")
    basis: str | None = None
    provider: str
    sandbox: bool = False
    note: str | None = None


class PlaceCallResult(Answer):
    """A placed call (seed 002 ``/api/call`` answer, plus local bookkeeping), an earlier call
    returned by the duplicate guard (``duplicate_of``), or a dry run (``dry_run``, ``request``)."""

    provider_text = ("raw",)

    ok: bool
    status: str
    message: str
    to_number: str
    scenario: str
    call_sid: str | None = Field(default=None, description="Twilio callSid or SIP trunk sip_call_id.")
    conversation_id: str | None = Field(default=None, description="Provider conversation id.")
    call_id: str | None = Field(default=None, description="Local id of the call record.")
    provider: str
    sandbox: bool = False
    phone_provider: str | None = None
    duplicate_of: str | None = Field(default=None, description="Set when not dialled again: the earlier call_id.")
    record_pending: str | None = Field(
        default=None, description="Set when the call was placed but the store could not record it yet: why and where it is kept."
    )
    dry_run: bool = False
    request: dict[str, Any] | None = Field(default=None, description="Dry run: the exact request.")
    cost_estimate: CostEstimateResult | None = Field(default=None, description="Dry run: the approximate LLM cost.")
    note: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, description="The provider's answer, as received.")


class SubmitBatchResult(Answer):
    """A submitted batch call, or a dry run (``dry_run``, ``request``; nothing submitted)."""

    provider_text = ("estimate",)

    batch_id: str | None = None
    name: str
    status: str
    total_calls_scheduled: int
    scheduled_time_unix: int | None = Field(default=None, description="Unix seconds; null = start now.")
    provider: str
    sandbox: bool = False
    dry_run: bool = False
    request: dict[str, Any] | None = Field(default=None, description="Dry run: the request (first recipients).")
    cost_estimate: CostEstimateResult | None = Field(default=None, description="Dry run: the approximate LLM cost.")
    duplicate_of: str | None = Field(default=None, description="Set when not submitted again: the earlier batch.")
    estimate: str | None = Field(default=None, description="The provider's cost and duration estimate, in its words.")
    message: str | None = Field(default=None, description="Why not submitted again; what the provider does not take.")
    record_pending: str | None = Field(default=None, description="As place_call's: submitted, not recorded yet.")
    note: str | None = None


class RecipientResult(ProviderText):
    """One batch recipient: its number, your id for it, status and conversation id (for get_call)."""

    provider_text = ("error",)

    phone_number: str | None = None
    id: str | None = Field(default=None, description="The recipient id given to submit_batch.")
    status: str
    conversation_id: str | None = None
    provider_status: str | None = Field(default=None, description="The provider's own status, where it differs.")
    duration_secs: float | None = Field(default=None, description="Where the provider reports it per recipient.")
    error: str | None = None


class BatchStatusResult(Answer):
    """Progress of a batch call with one page of its recipients."""

    provider_text = ("name",)

    batch_id: str
    name: str
    status: str
    progress: float = Field(description="Finished / scheduled recipients, 0-1.")
    total_calls_scheduled: int
    total_calls_dispatched: int
    scheduled_time_unix: int | None = Field(default=None, description="When the batch starts (started), Unix seconds.")
    last_updated_at_unix: int | None = Field(default=None, description="The provider's last change to the batch, Unix seconds.")
    cost: float | None = Field(default=None, description="Sum over the calls read with get_call, in cost_unit.")
    cost_unit: str | None = None
    cost_usd: float | None = Field(default=None, description="Sum of their USD costs, where reported.")
    costed_calls: int | None = Field(default=None, description="How many calls the sums cover.")
    counts: dict[str, int] = Field(description="Recipients per status; statuses with none are left out.")
    provider_counts: dict[str, int] | None = Field(default=None, description="The provider's own breakdown (TalkifAI).")
    recipients: list[RecipientResult]
    recipients_matching: int
    next_offset: int | None = None
    provider: str
    sandbox: bool = False
    note: str | None = None
    warning: str | None = Field(default=None, description="Why the recipients are not all of the batch's.")


class BatchSummary(ProviderText):
    """One batch in list_batches."""

    provider_text = ("name", "error")

    batch_id: str | None = None
    name: str
    status: str
    total_calls_scheduled: int
    total_calls_dispatched: int | None = None
    created_at: str | None = None
    submitted_here: bool
    local_id: str | None = None
    error: str | None = None
    provider: str | None = None


class BatchListResult(Answer):
    """Batches, newest first."""

    provider_text = ("warning",)

    batches: list[BatchSummary]
    count: int
    warning: str | None = None
    stopped_early: bool | None = Field(
        default=None, description="True when the provider's list was still paging at the page or time budget."
    )
    provider: str
    sandbox: bool = False
    note: str | None = None


class RetryBatchResult(Answer):
    """A batch after a retry of its failed and unanswered recipients."""

    provider_text = ("name",)

    batch_id: str
    name: str
    status: str
    recipients_retried: int
    message: str
    duplicate_of: str | None = Field(default=None, description="Set when not sent again: the earlier retry_id.")
    record_pending: str | None = Field(default=None, description="As place_call's: sent, not recorded yet.")
    provider: str
    sandbox: bool = False
    note: str | None = None


class CancelBatchResult(Answer):
    """A batch call after cancellation."""

    provider_text = ("name",)

    batch_id: str
    name: str
    status: str
    provider: str
    sandbox: bool = False
    note: str | None = None


class CallRecordResult(ProviderText):
    """One call from the local history."""

    provider_text = ("error",)

    call_id: str
    to_number: str
    scenario: str
    status: str
    provider: str | None = None
    conversation_id: str | None = None
    batch_id: str | None = None
    recipient_id: str | None = Field(default=None, description="Your id of the batch recipient.")
    outcome: str | None = None
    created_at: str
    error: str | None = None


class CallListResult(Answer):
    """Local call history, newest first."""

    calls: list[CallRecordResult]
    count: int


class TranscriptLine(BaseModel):
    """One turn: ``caller`` is the AI caller, ``business`` the line under test."""

    role: str
    message: str
    secs: float | None = None


class CriterionResult(BaseModel):
    """An evaluation criterion's result (success / failure / unknown)."""

    id: str
    result: str | None = None
    rationale: str | None = None


class CollectedValue(BaseModel):
    """A data-collection result; a list or object value is sent as its JSON text."""

    id: str
    value: str | int | float | bool | None = None
    rationale: str | None = None


class CallResult(Answer):
    """A call's state, outcome and (bounded) transcript."""

    provider_text = ("termination_reason", "summary", "evaluation_results", "data_collected", "transcript", "error")

    call_id: str | None = None
    conversation_id: str | None = None
    status: str
    provider_status: str | None = None
    to_number: str | None = None
    scenario: str | None = None
    batch_id: str | None = None
    recipient_id: str | None = None
    controls: dict[str, Any] | None = Field(default=None, description="language, voice_id, dynamic_variables, ring_timeout_secs sent.")
    started_at: str | None = None
    duration_secs: float | None = None
    termination_reason: str | None = None
    outcome: str | None = None
    summary: str | None = None
    summary_truncated: bool | None = Field(default=None, description="The summary was cut; the whole is at transcript_uri.")
    evaluation_results: list[CriterionResult] = Field(default_factory=list)
    data_collected: list[CollectedValue] = Field(default_factory=list)
    results_omitted: int | None = Field(default=None, description="Evaluation/collected entries left out; all are at transcript_uri.")
    cost: float | None = None
    cost_unit: str | None = None
    cost_usd: float | None = None
    transcript: list[TranscriptLine] = Field(default_factory=list)
    transcript_turns: int = 0
    transcript_truncated: bool = False
    transcript_uri: str | None = None
    recording_url: str | None = Field(default=None, description="Where the provider keeps the audio.")
    waited_secs: float = 0
    resume: str | None = Field(default=None, description="Set when the wait ended before the call did: how to keep waiting.")
    error: str | None = None
    provider: str
    sandbox: bool = False
    note: str | None = None
