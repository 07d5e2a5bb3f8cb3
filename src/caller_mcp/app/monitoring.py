"""Following calls: a call's status, outcome and transcript (waiting for its end if asked), the
whole transcript, and the local call history."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import anyio

from ..domain import inputs
from ..domain.calls import CALL_STATUSES, CallReport, RECORD_STATUSES, record_status
from ..domain.webhooks import report_from_json
from ..domain.caps import iso
from ..domain.policy import check_e164
from ..domain.transcript import (
    MAX_SUMMARY_CHARS,
    bounded_results,
    bounded_transcript,
    clip,
    collected_values,
    evaluation_results,
    transcript_text,
)
from ..errors import InvalidInput, NotFound, ProviderError, ProviderStatusError
from ..ports import Provider
from ..store import CallRecord
from .recording import remember_report
from .results import CallListResult, CallRecordResult, CallResult, TranscriptLine
from .services import LOCAL_PRINCIPAL, Services

#: ``get_call`` polling: first pause, growth factor and longest pause between two reads, seconds.
FIRST_POLL_DELAY_SECS = 1.0
POLL_BACKOFF = 1.5
MAX_POLL_DELAY_SECS = 5.0
#: The statuses a call row can have (what ``list_calls(status=…)`` can filter on).
LISTED_STATUSES = tuple(dict.fromkeys((*RECORD_STATUSES, *CALL_STATUSES)))
#: Longest local call history ``list_calls`` returns.
MAX_LIST_LIMIT = inputs.MAX_LIST_LIMIT
#: The local call ids ``place_call`` gives (``call_`` + 20 hex digits); another ``call_…`` id may
#: be a provider's (TalkifAI's callIds look like ``call_abc123``).
LOCAL_CALL_ID = re.compile(r"call_[0-9a-f]{20}")
#: ``progress(elapsed_secs, total_secs, message)``: how a wait reports progress (MCP notifications).
ProgressFn = Callable[[float, float, str], Awaitable[None]]


async def _locate(services: Services, call_id: object) -> tuple[CallRecord | None, str | None]:
    """The store's record of a call named by its local id or its provider reference, and the
    reference to ask the provider about (``None`` when the call never got one).

    Raises:
        InvalidInput: a malformed id. NotFound: a local ``call_…`` id the store does not know.
    """
    key = inputs.identifier(call_id, "call_id", "a call_id from place_call or list_calls, or a conversation_id")
    record = await services.store.find_call(key)
    if record is None and key.startswith("call_") and (LOCAL_CALL_ID.fullmatch(key) or not _reads_foreign_ids(services)):
        raise NotFound(
            f"No call {key} in this server's records. Use a call_id from place_call or list_calls, "
            "or a conversation_id from get_batch_status."
        )
    return record, (_reference(record) if record is not None else key)


def _reference(record: CallRecord) -> str | None:
    """What to ask the provider about a recorded call: the provider's own call id once a webhook
    named it (TalkifAI's ``callId``, which ``GET /calls/{callId}`` reads), else the dial's reference."""
    return record.provider_call_id or record.conversation_id


def _readable(provider: Provider, record: CallRecord) -> bool:
    """Whether ``provider`` can be asked about ``record``: it reads calls, and by the reference its
    dials give or by a call id a webhook has since named."""
    capabilities = provider.capabilities
    return capabilities.read_call and (capabilities.read_dialled_call or record.provider_call_id is not None)


def _reads_foreign_ids(services: Services) -> bool:
    """Whether the default provider reads calls by ids its dials do not give (TalkifAI's callId,
    ``call_…``, from a webhook or Studio), so an unknown ``call_…`` id may be one of those."""
    capabilities = services.provider().capabilities
    return capabilities.read_call and not capabilities.read_dialled_call


async def _read(provider: Provider, provider_ref: str, *, known: bool) -> CallReport | None:
    """The provider's report, or ``None`` when it does not show the call yet but the store knows
    it (a call just placed, a batch recipient just dispatched).

    Raises:
        NotFound: neither knows it.
    """
    try:
        return await provider.get_call(provider_ref)
    except ProviderStatusError as exc:
        if exc.status != 404:
            raise
        if known:
            return None
        raise NotFound(
            f"No conversation {provider_ref} exists for this {provider.name} account "
            f"(the provider said: {exc.detail}). Use a call_id from place_call or list_calls, or a "
            "conversation_id from get_batch_status."
        ) from exc


class _Budget:
    """The whole ``get_call``'s time, reads included: it ends by ``start + inputs.MAX_TOOL_SECS``
    (on the services' clock). Remembers the longest provider read so far, so that no pause is
    taken and no read started that would end past the budget."""

    def __init__(self, services: Services, start: float) -> None:
        self.services = services
        self.end = start + inputs.MAX_TOOL_SECS
        self.longest_read = 0.0
        self.ran_out = False

    def allows(self, pause: float) -> bool:
        """Whether a pause of ``pause`` s and then a read as long as the longest so far fit."""
        fits = self.services.monotonic() + pause + self.longest_read < self.end
        self.ran_out |= not fits
        return fits

    async def read(self, provider: Provider, provider_ref: str, *, known: bool) -> CallReport | None:
        """:func:`_read`, abandoned when it outlasts the time left.

        Raises:
            ProviderError: the read was abandoned (nothing was changed; read again later).
            NotFound, ProviderError: as :func:`_read`.
        """
        began = self.services.monotonic()
        with anyio.move_on_after(max(0.0, self.end - began)) as scope:
            report = await _read(provider, provider_ref, known=known)
        self.longest_read = max(self.longest_read, self.services.monotonic() - began)
        if scope.cancelled_caught:
            raise ProviderError(
                f"{provider.name} did not answer the read of {provider_ref} within the {inputs.MAX_TOOL_SECS:g} s "
                "a tool call may take (MCP clients give up at about 60 s). Nothing was changed: call get_call "
                "again, with a smaller wait_seconds if the provider stays this slow."
            )
        return report


def resume_hint(status: str, waited: float, slow_read: float | None = None) -> str:
    """What a ``get_call`` answer says when its wait ended before the call did; ``slow_read``: the
    longest provider read, seconds, when reads that slow ended the wait early."""
    slow = (
        f" (ended early: a provider read took {slow_read:.0f} s, and the tool call must end within "
        f"{inputs.MAX_TOOL_SECS:g} s)"
        if slow_read is not None
        else ""
    )
    return (
        f"Still {status.replace('_', ' ')} after waiting {waited:.0f} s{slow}: call get_call again with "
        f"wait_seconds={inputs.MAX_WAIT_SECS:g} to keep waiting."
    )


async def get_call(
    services: Services, call_id: str, wait_seconds: float = 0, *, progress: ProgressFn | None = None
) -> CallResult:
    """A call's status, outcome and transcript, read from the provider.

    Args:
        call_id: a local ``call_id`` (``place_call``, ``list_calls``) or a provider reference
            (``conversation_id`` from ``get_batch_status``).
        wait_seconds: 0 to read once; up to ``inputs.MAX_WAIT_SECS`` to keep reading, with pauses
            growing from :data:`FIRST_POLL_DELAY_SECS` by :data:`POLL_BACKOFF` to at most
            :data:`MAX_POLL_DELAY_SECS`, until the call is ``done`` or ``failed`` or the time is up.
            The whole call, provider reads included, ends within ``inputs.MAX_TOOL_SECS``: no
            pause is taken that a read as slow as the slowest so far would carry past it, and a
            read under way is abandoned when it would.
        progress: called before each pause with (seconds waited, ``wait_seconds``, status text).
    Returns:
        The normalised status with the provider's own value, outcome, summary, evaluation and
        data-collection results, cost with its unit, and the transcript bounded for a model's
        context (``transcript_uri`` names the whole one); ``resume`` says how to keep waiting
        when the wait ended before the call did. The store's row is updated.
    Raises:
        InvalidInput: a malformed id or wait. NotFound: neither the store nor the provider
        knows the id. NotSupported: the provider cannot read calls. ConfigError, ProviderError
        (also when a read is abandoned at the time limit).
    """
    wait = inputs.wait_seconds(wait_seconds)
    record, provider_ref = await _locate(services, call_id)
    provider = services.provider(record.provider if record is not None else None)
    start = services.monotonic()
    deadline = start + wait
    delay = FIRST_POLL_DELAY_SECS
    key = record.call_id if record is not None else None
    # A dial still under way (TalkifAI's request holds until answered, sent in the background):
    # its outcome lands in the store, so follow the store until it does or the wait is over.
    while record is not None and record.status == "dialling" and (now := services.monotonic()) < deadline:
        pause = min(delay, deadline - now)
        if progress is not None:
            await progress(round(now - start, 1), wait, f"dialling (ringing) after {now - start:.0f} s; next check in {pause:.1f} s")
        await services.pause(pause, key)
        delay = min(delay * POLL_BACKOFF, MAX_POLL_DELAY_SECS)
        record = await services.store.get_call(record.call_id)
        provider_ref = _reference(record) if record is not None else None
    if (pushed := _pushed(record)) is not None and pushed.final:
        # A signed webhook already said how the call ended: answer from it, without asking.
        return _report_result(services, provider, record, pushed, round(services.monotonic() - start, 1))
    if provider_ref is None:  # dialling, refused, interrupted, outcome unknown or unanswered: nothing to ask about
        answer = _record_result(services, provider, record)  # type: ignore[arg-type]
        answer.waited_secs = round(services.monotonic() - start, 1) if wait else answer.waited_secs
        return answer
    if record is not None and not _readable(provider, record):
        # A provider that cannot read calls, or whose dials give a reference it cannot be read by
        # (TalkifAI: the room_name; GET /calls/{callId} needs a callId, and nothing documents how one
        # maps to the other): its webhooks are the only news; wait for one, then the local record,
        # saying what it does and does not hold.
        listening = provider.name in services.webhooks_received
        while listening and (now := services.monotonic()) < deadline and not (pushed is not None and pushed.final):
            if progress is not None:
                await progress(round(now - start, 1), wait, f"{record.status} after {now - start:.0f} s; waiting for the provider's webhook")
            # Woken at once by a webhook this process receives; the store is read again now and
            # then for one another replica received (no provider request either way).
            await services.pause(min(delay, deadline - now), key)
            delay = min(delay * POLL_BACKOFF, MAX_POLL_DELAY_SECS)
            record = await services.store.get_call(record.call_id) or record
            pushed = _pushed(record)
        if pushed is not None:
            return _report_result(services, provider, record, pushed, round(services.monotonic() - start, 1))
        answer = _record_result(services, provider, record)
        answer.waited_secs = round(services.monotonic() - start, 1) if wait else answer.waited_secs
        answer.own(error=unreadable_call_note(provider, record, provider_ref))
        return answer
    services.require(provider, "read_call")
    budget = _Budget(services, start)
    while True:
        report = await budget.read(provider, provider_ref, known=record is not None)
        status = report.status if report is not None else "queued"
        now = services.monotonic()
        if (report is not None and report.final) or now >= deadline:
            break
        pause = min(delay, deadline - now)
        if not budget.allows(pause):
            break
        if progress is not None:
            await progress(
                round(now - start, 1), wait, f"{status.replace('_', ' ')} after {now - start:.0f} s; next check in {pause:.1f} s"
            )
        if await services.pause(pause, key) and record is not None:
            # Woken by a webhook: its report is in the store; answer from it if the call is over.
            record = await services.store.get_call(record.call_id) or record
            if (pushed := _pushed(record)) is not None and pushed.final:
                return _report_result(services, provider, record, pushed, round(services.monotonic() - start, 1))
        delay = min(delay * POLL_BACKOFF, MAX_POLL_DELAY_SECS)
    waited = round(services.monotonic() - start, 1)
    slow = budget.longest_read if budget.ran_out else None
    resume = resume_hint(status, waited, slow) if wait and not (report is not None and report.final) else None
    if report is None:
        answer = _record_result(services, provider, record)  # type: ignore[arg-type]
        answer.waited_secs = waited
        answer.resume = resume
        answer.own(error=(
            f"The provider does not show conversation {provider_ref} yet: a call just placed appears "
            "within seconds. "
            + (
                "The built-in sandbox keeps calls in memory, so a call placed by an earlier server process "
                "never appears."
                if provider.sandbox
                else "If it was placed long ago, check the provider's call history."
            )
        ))
        return answer
    record = await remember_report(services.store, provider.name, record, report)
    answer = _report_result(services, provider, record, report, waited)
    answer.resume = resume
    return answer


def _pushed(record: CallRecord | None) -> CallReport | None:
    """The report the provider's webhooks pushed for ``record``, if any."""
    return report_from_json(record.report_json) if record is not None else None


def unreadable_call_note(provider: Provider, record: CallRecord, provider_ref: str) -> str:
    """What a ``get_call`` answer says about a call its provider cannot be asked about (see
    :func:`get_call`): what is known from the dial or the batch, what is not, and why."""
    if not provider.capabilities.read_call:
        return (
            f"{provider.name} cannot be asked about this call (its reference {provider_ref} is not a call id "
            "it can be read by): this is the local record of what the dial answered; no later status, "
            "duration or transcript is known until its webhooks reach this server (serve --transport http)."
        )
    known = (
        f"the batch contact's status ({record.provider_status or record.status}) as get_batch_status last read it"
        if record.batch_id
        else f"the dial's answer ({record.status}: the callee {'answered' if record.status == 'answered' else 'did not answer' if record.status == 'no_answer' else 'was not reached'})"
    )
    return (
        f"This is the local record of the call: {provider.name} reads calls only by a callId, which its "
        f"outbound call and batch contacts do not give (they give the room name {provider_ref}, and nothing "
        f"documents how one maps to the other). Known: {known}. Not known: how the call went after that, "
        "its duration, end, transcript, recording and cost. A callId from a "
        f"{provider.name} webhook or Studio can be passed to get_call to read that call; its webhooks update "
        "this record once they reach this server (serve --transport http)."
    )


def _record_result(services: Services, provider: Provider, record: CallRecord) -> CallResult:
    """A get_call answer from the local record alone (no conversation to read)."""
    return CallResult(
        call_id=record.call_id,
        conversation_id=record.conversation_id,
        status=record_status(record.status),
        provider_status=record.provider_status,
        to_number=record.to_number,
        scenario=record.scenario or None,
        batch_id=record.batch_id,
        recipient_id=record.recipient_id,
        controls=record.controls() or None,
        error=record.error,
        provider=record.provider,
        sandbox=provider.sandbox,
        note=services.note(provider),
    )


def _report_result(
    services: Services, provider: Provider, record: CallRecord | None, report: CallReport, waited: float
) -> CallResult:
    lines, truncated = bounded_transcript(report.transcript)
    evaluations, collected, omitted = bounded_results(
        evaluation_results(report.evaluations), collected_values(report.data_collected)
    )
    shown_id = record.call_id if record is not None else report.provider_ref
    return CallResult(
        call_id=record.call_id if record is not None else None,
        conversation_id=report.provider_ref,
        status=report.status,
        provider_status=report.provider_status,
        to_number=(record.to_number if record is not None and record.to_number else None) or report.to_number,
        scenario=(record.scenario or None) if record is not None else None,
        batch_id=report.batch_id or (record.batch_id if record is not None else None),
        recipient_id=record.recipient_id if record is not None else None,
        controls=(record.controls() or None) if record is not None else None,
        started_at=iso(report.started_at) if report.started_at is not None else None,
        duration_secs=report.duration_secs,
        termination_reason=report.termination_reason,
        outcome=report.outcome,
        summary=clip(report.summary, MAX_SUMMARY_CHARS) if report.summary else None,
        summary_truncated=True if report.summary and len(report.summary) > MAX_SUMMARY_CHARS else None,
        evaluation_results=evaluations,
        data_collected=collected,
        results_omitted=omitted or None,
        cost=report.cost.amount if report.cost else None,
        cost_unit=report.cost.unit if report.cost else None,
        cost_usd=report.cost_usd,
        transcript=[TranscriptLine(role=t.role, message=t.message, secs=t.secs) for t in lines],
        transcript_turns=len(report.transcript),
        transcript_truncated=truncated,
        transcript_uri=(
            f"caller://calls/{shown_id}/transcript"
            if report.transcript or (report.summary and len(report.summary) > MAX_SUMMARY_CHARS) or omitted
            else None
        ),
        recording_url=report.recording_url,
        waited_secs=waited,
        **services.answered_by(provider),
    )


async def transcript(services: Services, call_id: str) -> str:
    """The whole transcript of a call as text (the ``caller://calls/{call_id}/transcript`` resource).

    Raises:
        InvalidInput, NotFound, NotSupported, ConfigError, ProviderError: as for :func:`get_call`.
    """
    record, provider_ref = await _locate(services, call_id)
    key = record.call_id if record is not None else provider_ref
    if provider_ref is None:
        return f"Call {key} has no conversation (status {record.status if record else 'unknown'}): nothing was said.\n"
    provider = services.provider(record.provider if record is not None else None)
    if record is not None and provider.capabilities.read_call and not _readable(provider, record):
        return f"Call {key} has no transcript here. {unreadable_call_note(provider, record, provider_ref)}\n"
    services.require(provider, "read_call")
    report = await _read(provider, provider_ref, known=record is not None)
    if report is None:
        return f"Call {key}: the provider has no conversation yet (it has not started); try again shortly.\n"
    await remember_report(services.store, provider.name, record, report)
    to_number = (record.to_number if record is not None else None) or report.to_number or "unknown number"
    header = (
        f"Transcript of call {key} (conversation {report.provider_ref}) to {to_number}: "
        f"status {report.status}, {len(report.transcript)} turns. "
        "caller = the AI caller; business = the line under test."
    )
    return transcript_text(
        header, report.transcript, summary=report.summary, evaluations=report.evaluations, collected=report.data_collected
    )


async def list_calls(
    services: Services,
    limit: int = 20,
    status: str | None = None,
    to_number: str | None = None,
    since: str | float | None = None,
    *,
    principal: str = LOCAL_PRINCIPAL,
) -> CallListResult:
    """``principal``'s calls (its batches' included) from the store, newest first; no provider
    request. Any call's id, whoever placed it, can be read with :func:`get_call`.

    Rows show the last status the provider reported (``get_call``, ``get_batch_status``);
    batch recipients' calls appear once ``get_batch_status`` has seen them.

    Args:
        limit: 1 to :data:`MAX_LIST_LIMIT`.
        status: only this status (``dialling``, ``initiated``, ``done``, ``failed``, ``outcome_unknown`` …).
        to_number: only calls to this E.164 number.
        since: only calls created since then: Unix seconds, or ISO 8601 (UTC when no offset).
    Raises:
        InvalidInput: a bad filter.
    """
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}.")
    if to_number is not None:
        check_e164(to_number)
    wanted = inputs.text(status, "status", 40)
    if wanted is not None and wanted not in LISTED_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(LISTED_STATUSES)}; got {inputs.shown(status)}.")
    records = await services.store.list_calls(
        limit, status=wanted, to_number=to_number, since=inputs.since(since),
        principal=principal,
    )
    return CallListResult(
        calls=[
            CallRecordResult(
                call_id=r.call_id,
                to_number=r.to_number,
                scenario=r.scenario,
                status=r.status,
                provider=r.provider,
                conversation_id=r.conversation_id,
                batch_id=r.batch_id,
                recipient_id=r.recipient_id,
                outcome=r.outcome,
                created_at=iso(r.created_at),
                error=r.error,
            )
            for r in records
        ],
        count=len(records),
    )
