"""Plan once, ask the person, send what they confirmed: the SDK resolvers of the dialling tools.

A dialling tool takes two resolved parameters: the plan (``plan_*``: every check, the exact
request) and the confirmation (``ask_*``: a question worded from that same plan). The SDK runs
each resolver once per round and hands both to the tool body, which sends that plan. On the
stateless protocol a round may be repeated; the question carries the plan's fingerprint, so an
answer recorded for one plan never confirms a different one.

A planning failure is not raised from the resolver: it is carried to the tool body in
:class:`Planned`, which raises it as the tool's own error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from ..app.results import Recipients
from ..errors import CallerError
from .principal import principal_of, write_refusal

if TYPE_CHECKING:
    from ..app.dialling import BatchPlan, CallPlan, RetryPlan
    from ..app.services import Services
else:
    # The SDK evaluates these annotations when it lists the tools; the use cases they name are
    # imported by the first call that plans (a cold start imports only what tools/list needs).
    BatchPlan = CallPlan = RetryPlan = Any

P = TypeVar("P")


class Confirmation(BaseModel):
    """What the person is asked when a dial needs confirmation."""

    confirm: bool = Field(description="Dial now?")


#: What a confirmation resolver answers when it does not ask: go ahead, the policy is the guard.
NOT_ASKED = Confirmation(confirm=True)
#: The confirmation parameter's value when a tool function is called without the resolver.
GO_AHEAD = AcceptedElicitation(data=NOT_ASKED)


@dataclass(frozen=True)
class Planned(Generic[P]):
    """A plan, or the error that prevented it (raised by the tool body, not by the resolver)."""

    plan: P | None = None
    error: CallerError | None = None

    def get(self) -> P:
        """The plan.

        Raises:
            CallerError: the planning failure.
        """
        if self.error is not None:
            raise self.error
        return self.plan  # type: ignore[return-value]


def services_of(ctx: Context) -> Services:
    """The running application's services (the server's lifespan context)."""
    return ctx.request_context.lifespan_context.services


def confirmed(answer: Any) -> bool:
    """True when the person accepted and ticked ``confirm`` (or was not asked)."""
    return isinstance(answer, AcceptedElicitation) and bool(answer.data.confirm)


def _asks(ctx: Context, kind: str) -> bool:
    """Whether a dial of ``kind`` (``call`` or ``batch``) must be confirmed by the person.

    Only when ``CALLER_MCP_CONFIRM`` says so (``always``; ``batch`` for batches) and the client
    declared elicitation support; otherwise the dial policy is the guard. Consent is never read
    from a tool argument.

    Raises:
        ToolError: ``CALLER_MCP_CONFIRM`` has an invalid value.
    """
    try:
        mode = services_of(ctx).settings.confirm_mode()
    except CallerError as exc:
        raise ToolError(str(exc)) from exc
    if mode == "never" or (mode == "batch" and kind != "batch"):
        return False
    capabilities = ctx.client_capabilities
    return capabilities is not None and capabilities.elicitation is not None


def _ask(question: str | None) -> Any:
    return NOT_ASKED if question is None else Elicit(question, Confirmation)


# -- single call ------------------------------------------------------------------------------


async def plan_call(
    ctx: Context,
    to_number: str,
    business_description: str | None = None,
    scenario: str | None = None,
    language: str | None = None,
    voice_id: str | None = None,
    dynamic_variables: dict[str, Any] | None = None,
    ring_timeout_secs: int | None = None,
    provider: str | None = None,
) -> Planned[CallPlan]:
    """Resolver: plan ``place_call`` once (checks and the exact request)."""
    if (refusal := write_refusal(ctx, "place calls")) is not None:
        return Planned(error=refusal)
    try:
        from ..app import dialling
        plan = await dialling.plan_call(
            services_of(ctx), to_number, business_description, scenario,
            language=language, voice_id=voice_id, dynamic_variables=dynamic_variables,
            ring_timeout_secs=ring_timeout_secs, principal=principal_of(ctx), provider_name=provider,
        )
        return Planned(plan=plan)
    except CallerError as exc:
        return Planned(error=exc)


async def ask_call(
    ctx: Context, planned: Annotated[Planned[CallPlan], Resolve(plan_call)], allow_redial: bool = False, dry_run: bool = False) -> Any:
    """Resolver: ask the person before ``place_call`` dials the plan, when required."""
    if dry_run or planned.plan is None or not _asks(ctx, "call"):
        return NOT_ASKED
    from ..app import dialling
    return _ask(await dialling.call_question(services_of(ctx), planned.plan, allow_redial=allow_redial))


# -- batch ------------------------------------------------------------------------------------


async def plan_batch(
    ctx: Context,
    recipients: Recipients,
    call_name: str | None = None,
    business_description: str | None = None,
    scenario: str | None = None,
    scheduled_time_unix: int | None = None,
    language: str | None = None,
    voice_id: str | None = None,
    dynamic_variables: dict[str, Any] | None = None,
    ring_timeout_secs: int | None = None,
    target_concurrency_limit: int | None = None,
    provider: str | None = None,
) -> Planned[BatchPlan]:
    """Resolver: plan ``submit_batch`` once (every recipient checked, the exact request), off
    the event loop, reporting progress per chunk of recipients checked."""
    if (refusal := write_refusal(ctx, "submit batches")) is not None:
        return Planned(error=refusal)

    async def progress(done: float, total: float, message: str) -> None:
        await ctx.report_progress(done, total, message)

    try:
        services = services_of(ctx)
        from ..app import dialling
        plan = await dialling.plan_batch(
            services, recipients, call_name, business_description, scenario, scheduled_time_unix,
            principal=principal_of(ctx), progress=progress,
            language=language, voice_id=voice_id, dynamic_variables=dynamic_variables,
            ring_timeout_secs=ring_timeout_secs, target_concurrency_limit=target_concurrency_limit,
            provider_name=provider,
        )
        return Planned(plan=plan)
    except CallerError as exc:
        return Planned(error=exc)


async def ask_batch(
    ctx: Context,
    planned: Annotated[Planned[BatchPlan], Resolve(plan_batch)],
    dry_run: bool = False,
    allow_resubmit: bool = False,
) -> Any:
    """Resolver: ask the person before ``submit_batch`` submits the plan, when required."""
    if dry_run or planned.plan is None or not _asks(ctx, "batch"):
        return NOT_ASKED
    from ..app import dialling
    return _ask(await dialling.batch_question(services_of(ctx), planned.plan, allow_resubmit=allow_resubmit))


# -- retry ------------------------------------------------------------------------------------


async def plan_retry(ctx: Context, batch_id: str) -> Planned[RetryPlan]:
    """Resolver: plan ``retry_batch`` once (the batch read once, the numbers checked)."""
    if (refusal := write_refusal(ctx, "retry batches")) is not None:
        return Planned(error=refusal)
    try:
        from ..app import dialling
        return Planned(plan=await dialling.plan_retry(services_of(ctx), batch_id))
    except CallerError as exc:
        return Planned(error=exc)


async def ask_retry(ctx: Context, planned: Annotated[Planned[RetryPlan], Resolve(plan_retry)]) -> Any:
    """Resolver: ask the person before ``retry_batch`` dials the plan again, when required."""
    if planned.plan is None or not _asks(ctx, "batch"):
        return NOT_ASKED
    from ..app import dialling
    return _ask(await dialling.retry_question(services_of(ctx), planned.plan))
