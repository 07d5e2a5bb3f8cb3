"""Dialling one number: plan → confirm → execute (seed 002 ``/api/call``).

The description comes from the argument, else the stored context (else ``Provide a business
description first.``); the scenario from the argument, else the context, else seed 002's default.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from ...domain import inputs
from ...domain.caps import CAP_WINDOW_SECS
from ...domain.calls import CallRequest, PlacedCall
from ...domain.overrides import overrides as check_overrides
from ...domain.policy import check_e164
from ...domain.script import build_script
from ...errors import CallerError, InvalidInput, NotConfirmed
from ...ports import Provider
from ...store import CallRecord
from ..context import NO_DESCRIPTION_ERROR, defaults
from ..costs import estimate, estimate_line
from ..recording import kept, recorded
from ..results import PlaceCallResult
from ..services import LOCAL_PRINCIPAL, Services
from .common import (
    LOCAL_BATCH_PREFIX, check_hourly, controls_json, fingerprint, guard_since, kind, require_overrides, script_not_sent,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallPlan:
    """One call, checked and ready to send.

    Attributes:
        provider: who places it. request: the number and caller script. fingerprint: of both.
        principal: who asked for it (the call is recorded under it).
    """

    provider: Provider
    request: CallRequest
    fingerprint: str
    principal: str = LOCAL_PRINCIPAL

    @property
    def to_number(self) -> str:
        """The destination, E.164."""
        return self.request.to_number

    @property
    def scenario(self) -> str:
        """The caller's goal."""
        return self.request.script.scenario

    def question(self, cost: str = "") -> str:
        """What the person is asked before this call is placed (``cost``: the estimate's line)."""
        script = self.request.script
        return (
            f"Place a {kind(self.provider)} phone call to {self.to_number}?\n"
            f"Scenario: {script.scenario}\nBusiness: {inputs.clip(script.business_description, 200)}\n"
            + (f"Controls: {controls}\n" if (controls := script.overrides.describe()) else "")
            + (f"{unsent}\n" if (unsent := script_not_sent(self.provider)) else "")
            + (f"{cost}\n" if cost else "")
            + f"(plan {self.fingerprint})"
        )


async def plan_call(
    services: Services,
    to_number: str,
    business_description: str | None = None,
    scenario: str | None = None,
    *,
    language: str | None = None,
    voice_id: str | None = None,
    dynamic_variables: dict | None = None,
    ring_timeout_secs: int | None = None,
    principal: str = LOCAL_PRINCIPAL,
    provider_name: str | None = None,
) -> CallPlan:
    """Check one call and build its request; nothing is written or sent.

    Args:
        language, voice_id, dynamic_variables, ring_timeout_secs: the call's controls
            (:mod:`caller_mcp.domain.overrides`); ``None`` = the agent's own.
        principal: who asks; the description and scenario default to its business context.
        provider_name: the provider (default: ``CALLER_MCP_PROVIDER``'s); the dial policy, caps
            and guards are the same for every provider.
    Raises:
        InvalidInput: bad number (seed 002's E.164 text), no description
            (``Provide a business description first.``), or a bad control (named).
        NotSupported: a control the provider cannot send.
        ConfigError: missing or invalid environment variables.
        PolicyViolation: the number must not be dialled.
    """
    description, goal = await defaults(services, business_description, scenario, principal)
    check_e164(to_number)
    if description is None:
        raise InvalidInput(NO_DESCRIPTION_ERROR)
    controls = check_overrides(
        language_code=language, voice=voice_id, variables=dynamic_variables, ring_timeout_secs=ring_timeout_secs
    )
    provider = services.provider(provider_name)
    require_overrides(provider, controls)
    services.policy(provider).check(to_number)
    request = CallRequest(to_number=to_number, script=build_script(description, goal, controls))
    script = request.script
    return CallPlan(
        provider=provider,
        request=request,
        fingerprint=fingerprint(
            [provider.name, to_number, script.prompt, script.first_message] + ([] if controls.empty else [controls.as_dict()])
        ),
        principal=principal,
    )


async def _earlier_call(services: Services, plan: CallPlan, allow_redial: bool) -> CallRecord | None:
    """The earlier call the redial guard would return instead of this one (read only)."""
    since = guard_since(services, services.now(), opt_out=allow_redial)
    if since is None:
        return None
    return await services.store.recent_call(plan.to_number, plan.scenario, since)


async def call_question(services: Services, plan: CallPlan, *, allow_redial: bool = False) -> str | None:
    """The question to ask before :func:`place_call` dials ``plan``, or ``None`` when it would not
    dial (the redial guard returns an earlier call, or a cap refuses). Never raises."""
    try:
        if await _earlier_call(services, plan, allow_redial) is not None:
            return None
        await check_hourly(services, plan.provider, 1, batch=False)
    except CallerError:
        return None
    return plan.question(estimate_line(await estimate(services, plan.provider, [plan.request.script], 1)))


def _duplicate_answer(services: Services, plan: CallPlan, earlier: CallRecord) -> PlaceCallResult:
    """The answer that returns an earlier call (or the batch that has this number and scenario
    among its recipients) instead of dialling again."""
    age = max(0, int(services.now() - earlier.created_at))
    if earlier.call_id.startswith(LOCAL_BATCH_PREFIX):  # a batch recipient not yet seen as a call
        batch = earlier.batch_id or earlier.call_id
        return PlaceCallResult(
            ok=True,
            status=earlier.status,
            message=(
                f"Not dialled again: {earlier.to_number} is a recipient of batch {batch} submitted {age} s ago "
                f"with the same scenario ({earlier.status}). Follow it with get_batch_status(batch_id={batch!r}); "
                "pass allow_redial=true only if a separate call is really wanted."
            ),
            to_number=earlier.to_number,
            scenario=earlier.scenario,
            provider=earlier.provider,
            sandbox=plan.provider.sandbox,
            duplicate_of=batch,
            note=services.note(plan.provider),
        )
    return PlaceCallResult(
        ok=True,
        status=earlier.status,
        message=(
            f"Not dialled again: {earlier.to_number} was called with the same scenario {age} s ago "
            f"(call {earlier.call_id}, {earlier.status}). Pass allow_redial=true only if a second "
            "call is really wanted."
        ),
        to_number=earlier.to_number,
        scenario=earlier.scenario,
        call_sid=earlier.call_sid,
        conversation_id=earlier.conversation_id,
        call_id=earlier.call_id,
        provider=earlier.provider,
        sandbox=plan.provider.sandbox,
        phone_provider=earlier.phone_provider,
        duplicate_of=earlier.call_id,
        note=services.note(plan.provider),
    )


async def place_call(
    services: Services, plan: CallPlan, *, allow_redial: bool = False, dry_run: bool = False, confirmed: bool = True
) -> PlaceCallResult:
    """Have the AI caller ring ``plan``'s number and play a customer (seed 002 ``/api/call``).

    The call is recorded as ``dialling`` before the request — in the same store transaction that
    decides the redial guard and the hourly cap — and updated with the outcome after it.

    Args:
        allow_redial: dial even if the same number was called with the same scenario within
            ``CALLER_MCP_REDIAL_GUARD_SECS`` (otherwise that earlier call is returned).
        dry_run: check everything and return the exact request, without dialling.
        confirmed: ``False`` when the person was asked (:func:`call_question`) and did not agree.
    Returns:
        Seed 002's answer (``ok``, ``status``, ``message`` = ``Call initiated.`` …) plus the
        local ``call_id`` and the provider; or the earlier call (``duplicate_of``); or the
        request (``dry_run``).
    Raises:
        CapExceeded: a cap is reached. NotConfirmed: the person declined.
        ShuttingDown: the server is stopping (nothing was written or dialled).
        ProviderError: the provider refused, was unreachable, or the outcome is unknown.
    """
    provider = plan.provider
    if dry_run or not confirmed:
        earlier = await _earlier_call(services, plan, allow_redial)
        if earlier is not None and not dry_run:
            return _duplicate_answer(services, plan, earlier)
        await check_hourly(services, provider, 1, batch=False)
        if not confirmed:
            raise NotConfirmed("Not dialled: the person did not confirm the call.")
        return PlaceCallResult(
            ok=True,
            status="dry_run",
            message="Dry run: every check passed and this is the exact request; nothing was dialled."
            + (f" Note: {earlier.call_id} to the same number and scenario is recent." if earlier else "")
            + (f" {unsent}" if (unsent := script_not_sent(provider)) else ""),
            to_number=plan.to_number,
            scenario=plan.scenario,
            dry_run=True,
            request=await provider.preview_call(plan.request),
            cost_estimate=await estimate(services, provider, [plan.request.script], 1),
            **services.answered_by(provider),
        )
    caps = services.caps(provider)
    caps.check_size(1, batch=False)
    services.stopping.begin()  # a stopping server refuses here: nothing is written or sent
    handed_off = False
    try:
        result, handed_off = await _place(services, plan, allow_redial=allow_redial)
    finally:
        if not handed_off:
            services.stopping.end()
    return result


async def _place(services: Services, plan: CallPlan, *, allow_redial: bool) -> tuple[PlaceCallResult, bool]:
    """Write the intent of ``plan``, send it and write its outcome (:func:`place_call`'s dial).

    Returns:
        The answer, and True when the dial went on in the background (which then ends the dial's
        hold on the stop state, :meth:`GracefulStop.end`).
    """
    provider = plan.provider
    caps = services.caps(provider)
    now = services.now()
    call_id = f"call_{uuid.uuid4().hex[:20]}"
    record, new = await services.store.reserve_call(
        call_id=call_id,
        provider=provider.name,
        to_number=plan.to_number,
        scenario=plan.scenario,
        business_description=plan.request.script.business_description,
        overrides=controls_json(plan.request.script.overrides),
        principal=plan.principal,
        guard_since=guard_since(services, now, opt_out=allow_redial),
        cap_window_start=now - CAP_WINDOW_SECS,
        check_cap=lambda recent: caps.check_hourly(recent, 1, now, batch=False),
    )
    if not new:
        return _duplicate_answer(services, plan, record), False
    unsent = script_not_sent(provider)
    if provider.capabilities.dial_blocks and services.background is not None:
        # The request holds until the callee answers (TalkifAI: up to 60 s, past a tool call's
        # patience): send it in the background; get_call follows the record it writes.
        answer = PlaceCallResult(
            ok=True,
            status="dialling",
            message=(
                f"Dialling: {provider.name} holds the request until the callee answers (up to a minute). "
                f"Follow with get_call(call_id={call_id!r}, wait_seconds=50): answered, no_answer or failed."
                + (f" {unsent}" if unsent else "")
            ),
            to_number=plan.to_number,
            scenario=plan.scenario,
            call_id=call_id,
            **services.answered_by(provider),
        )
        services.background.start_soon(_dial_in_background, services, provider, call_id, plan.request)
        return answer, True
    placed, pending = await _dial(services, provider, call_id, plan.request)
    status = placed.status or "initiated"
    quoted = bool(placed.status and placed.message)  # the provider's own words on how it went
    message = placed.message if quoted else "Call initiated."
    answer = PlaceCallResult(
        ok=True,
        status=status,
        message=message + (f" {unsent}" if unsent else ""),
        record_pending=pending,
        to_number=plan.to_number,
        scenario=plan.scenario,
        call_sid=placed.telephony_ref,
        conversation_id=placed.provider_ref,
        call_id=call_id,
        phone_provider=placed.line,
        **services.answered_by(provider),
        raw=placed.raw,
    )
    return (answer.quoting("message") if quoted else answer), False


async def _dial(
    services: Services, provider: Provider, call_id: str, request: CallRequest
) -> tuple[PlacedCall, str | None]:
    """Send the call-placing request of the ``dialling`` record ``call_id`` and write its outcome.

    Returns:
        The provider's answer, and ``None`` — or why the outcome is not in the store yet (it is
        kept in the journal and written later: the call is never reported as a failure for it).

    Raises:
        ProviderError: as :meth:`Dialer.place_call` (its failure already recorded).
    """
    store = services.store
    placed = await recorded(
        provider.place_call(request),
        lambda status, error: store.record_call_outcome(call_id, status=status, error=error),
        f"It is recorded as call {call_id} with status outcome_unknown. Check the provider's call history "
        "before placing it again, or the number may ring twice.",
    )
    # A provider whose request blocks until the callee answers says how the call went
    # (TalkifAI: answered, or no_answer on its 408); the others only accepted it: initiated.
    status = placed.status or "initiated"
    pending = await kept(store.record_call_outcome(
        call_id,
        status=status,
        conversation_id=placed.provider_ref,
        call_sid=placed.telephony_ref,
        phone_provider=placed.line,
    ))
    logger.info("call %s %s (%s)", call_id, status, provider.name)
    return placed, pending


async def _dial_in_background(services: Services, provider: Provider, call_id: str, request: CallRequest) -> None:
    """:func:`_dial` as a background task: its outcome is in the store; a failure is logged, never
    raised into the server's task group (that would stop the server). It ends the dial's hold on
    the stop state that :func:`place_call` took."""
    try:
        await _dial(services, provider, call_id, request)
    except CallerError as exc:
        logger.info("call %s did not go through: %s", call_id, exc)
    except Exception:
        logger.exception("call %s: unexpected failure in the background dial", call_id)
    finally:
        services.stopping.end()
