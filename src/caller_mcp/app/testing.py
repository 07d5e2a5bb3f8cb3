"""Test runs: a suite planned (cases × repeats), confirmed and dialled like any batch, followed
until every call has ended, checked, judged with quoted evidence, and reported.

Dialling reuses the dialling use cases, so a run goes through the dial policy, the caps, the
confirmation and the write-ahead records like any dial:

- on a provider with batches, the run is **one batch call** (:func:`dialling.plan_batch` /
  :func:`dialling.submit_batch`), one recipient per unit in plan order;
- elsewhere, **single calls** (:func:`dialling.plan_call` / :func:`dialling.place_call`), at most
  ``CALLER_MCP_TEST_CONCURRENCY`` ringing at once, each held until its call ends.

The run itself is written first (``store.reserve_run``), together with the run guard: the same
suite started again within ``CALLER_MCP_REDIAL_GUARD_SECS`` returns the earlier run, so a client
that retries ``run_test_suite`` after a timeout never rings the line twice. Repeats of a case are
wanted, so the single-call redial guard is not applied within a run.

Batch recipients are matched to units by their position in the batch (the provider keeps the
submission order); each run says so in its notes.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from ..domain import inputs
from ..domain.batches import FINISHED_RECIPIENT_STATUSES, recipient_call_status
from ..domain.calls import FINAL_STATUSES, CallReport
from ..domain.caps import iso
from ..domain.suites import (
    CallFacts,
    CaseSummary,
    CheckResult,
    Suite,
    Unit,
    Verdict,
    case_summary,
    evaluate_checks,
    evidence_in,
    mark_regressions,
    normalise,
    parse_suite,
    plan_units,
    unit_verdict,
)
from ..domain.transcript import clip
from ..errors import (
    CallerError, ConfigError, InvalidInput, NotConfirmed, NotFound, NotSupported, OutcomeUnknown, ProviderStatusError,
)
from ..ports import Provider
from ..store.runs import TestRunRecord, TestUnitRecord
from . import costs, dialling, monitoring
from .costs import DEFAULT_EXPECTED_MINUTES
from .context import NO_DESCRIPTION_ERROR, defaults
from .dialling.common import check_hourly, fingerprint, kind
from .recording import recipient_rows, record_batch_calls
from .services import LOCAL_PRINCIPAL, Services
from .run_results import (
    CaseReport,
    CheckOutcome,
    RunSummary,
    StartRunResult,
    TestReportResult,
    TestRunResult,
    UnitResult,
    VerdictOut,
    VerdictResult,
)

logger = logging.getLogger(__name__)

#: Units shown by ``get_test_run`` (the report covers them all), keeping its answer within ~6,000
#: characters like get_call's.
MAX_SHOWN_UNITS = 15
#: Longest a single call of a run holds its concurrency slot, seconds (a call that never reports an
#: end must not stall the rest of the run for ever).
MAX_HOLD_SECS = 3_600
#: Conversations read at once by a refresh, and the seconds after which a refresh starts no more
#: reads (a 1,000-call run against a real provider is read over several get_test_run calls).
READ_CONCURRENCY = 8
REFRESH_BUDGET_SECS = 30.0
READ_WINDOW_SECS = 40.0
#: Cases in a get_test_report answer (the resources have them all), and reasons shown per case.
MAX_REPORTED_CASES = 25
MAX_REASONS = 3
#: Runs listed by ``get_test_report`` without a run id.
MAX_LISTED_RUNS = 20
#: Caller settings a suite or case may give, sent with each call or batch recipient.
CALLER_SETTINGS = ("language", "voice_id", "dynamic_variables")
MATCHED_BY_ID = (
    "One batch; each recipient's id is case-id#repeat, by which results are matched to cases; at most "
    "CALLER_MCP_TEST_CONCURRENCY calls at once (target_concurrency_limit)."
)
MATCHED_BY_POSITION = (
    "One batch; this provider takes no recipient ids, so results are matched to cases by their position "
    "in the batch (the provider keeps the submission order)."
)


# -- planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunPlan:
    """A suite ready to run: every unit checked, the exact batch (or calls) planned.

    Attributes:
        suite, source, text: the parsed suite, its name in messages, its YAML.
        units: cases × repeats, in dialling order.
        batch: the batch plan (providers with batches), else ``calls``: one plan per unit.
        not_applied: settings the suite gives that are not sent. how: how units are dialled and matched.
        fingerprint: of the provider and everything dialled; shown in the question.
        principal: who runs it (the run, its batch and calls are recorded under it).
    """

    provider: Provider
    suite: Suite
    source: str
    text: str
    units: list[Unit]
    batch: dialling.BatchPlan | None
    calls: list[dialling.CallPlan]
    not_applied: list[str]
    how: str
    fingerprint: str
    principal: str = LOCAL_PRINCIPAL

    @property
    def notes(self) -> list[str]:
        """What the run records about itself."""
        return [*self.not_applied, self.how]

    @property
    def mode(self) -> str:
        """``batch`` or ``calls``."""
        return "batch" if self.batch is not None else "calls"

    def question(self, cost: str = "") -> str:
        """What the person is asked before the run dials (``cost``: the estimate's line)."""
        numbers = sorted({u.to_number for u in self.units})
        cases = ", ".join(c.id for c in self.suite.cases[:8]) + (" …" if len(self.suite.cases) > 8 else "")
        return (
            f"Run test suite '{self.suite.name}': {len(self.units):,} {kind(self.provider)} phone calls "
            f"({len(self.suite.cases)} cases: {cases}) to {', '.join(numbers[:5])}"
            f"{' …' if len(numbers) > 5 else ''}?\n" + (f"{cost}\n" if cost else "") + f"(plan {self.fingerprint})"
        )


def read_suite(services: Services, suite: str) -> tuple[str, str]:
    """The YAML of ``suite`` and its name in messages: ``suite`` itself when it is YAML text, else
    the file of that name under ``CALLER_MCP_SUITES_DIR``.

    Raises:
        InvalidInput: a file name that leaves the folder, is missing or unreadable.
        ConfigError: a file name while ``CALLER_MCP_SUITES_DIR`` is unset.
    """
    if not isinstance(suite, str) or not suite.strip():
        raise InvalidInput("suite must be YAML text or the name of a suite file under CALLER_MCP_SUITES_DIR.")
    name = suite.strip()
    if "\n" in name or ":" in name:  # YAML text: a suite always has "name:" and "cases:"
        return suite, "suite"
    folder = services.settings.caller_mcp_suites_dir
    if folder is None:
        raise ConfigError(
            f"suite {name!r} looks like a file name, but CALLER_MCP_SUITES_DIR is not set: set it to the folder "
            "of your suite files, or pass the suite's YAML text."
        )
    root = Path(folder).expanduser().resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or path.suffix not in (".yaml", ".yml"):
        raise InvalidInput(f"suite {name!r} must name a .yaml or .yml file inside CALLER_MCP_SUITES_DIR ({root}).")
    try:
        return path.read_text(encoding="utf-8"), path.name
    except FileNotFoundError:
        found = sorted(p.name for p in root.glob("*.y*ml"))[:20]
        raise InvalidInput(
            f"No suite file {name!r} in {root}. Files there: {', '.join(found) or 'none'}."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read suite file {path.name}: {exc}.") from None


async def plan_run(services: Services, text: str, source: str = "suite", *, principal: str = LOCAL_PRINCIPAL) -> RunPlan:
    """Parse a suite and plan its run; nothing is written or sent.

    Args:
        text: the suite's YAML. source: its name in errors.
        principal: who asks; the description defaults to its business context.
    Raises:
        InvalidInput: the suite is invalid (file, line and field named), or a description is missing.
        NotSupported: the provider cannot read back the calls it places (no transcript to check or
            quote; TalkifAI reads calls by a callId its dials do not give).
        CapExceeded, PolicyViolation, ConfigError: as for ``submit_batch``.
    """
    suite = parse_suite(text, source)
    provider = services.provider()
    try:
        services.require(provider, "read_call", "read_dialled_call")
    except NotSupported as exc:
        raise NotSupported(
            f"{exc} A test suite checks each call's outcome and transcript, so it cannot run on "
            f"{provider.name}; use a provider that reads calls back (CALLER_MCP_PROVIDER=elevenlabs, or its sandbox)."
        ) from exc
    units = plan_units(suite)
    description, _ = await defaults(services, suite.business_description, None, principal)
    if description is None:
        raise InvalidInput(f"{source}: give business_description in the suite (or set_business_context). {NO_DESCRIPTION_ERROR}")
    not_applied = _unsent_settings(suite, provider)
    batch: dialling.BatchPlan | None = None
    calls: list[dialling.CallPlan] = []
    if provider.capabilities.batches:
        ids = provider.capabilities.recipient_ids
        recipients = [
            {
                "phone_number": u.to_number, "scenario": u.goal, "business_description": description,
                **({"id": u.key} if ids else {}),
                **{name: value for name in CALLER_SETTINGS if (value := suite.setting(suite.case(u.case_id), name)) is not None},
            }
            for u in units
        ]
        limit = services.settings.caller_mcp_test_concurrency if provider.capabilities.batch_concurrency else None
        name = f"test suite {suite.name}"[: inputs.MAX_CALL_NAME_CHARS]
        batch = await dialling.plan_batch(
            services, recipients, call_name=name, principal=principal, target_concurrency_limit=limit
        )
        how = MATCHED_BY_ID if ids else MATCHED_BY_POSITION
        digest = batch.fingerprint
    else:
        services.caps(provider).check_size(len(units), batch=False)
        planned: dict[tuple[str, str], dialling.CallPlan] = {}
        for unit in units:
            key = (unit.to_number, unit.goal)
            if key not in planned:
                case = suite.case(unit.case_id)
                planned[key] = await dialling.plan_call(
                    services, unit.to_number, description, unit.goal,
                    language=suite.setting(case, "language"), voice_id=suite.setting(case, "voice_id"),
                    dynamic_variables=suite.setting(case, "dynamic_variables"), principal=principal,
                )
            calls.append(planned[key])
        how = (
            f"{provider.name} has no batch calls: the run places single calls, at most "
            f"{services.settings.caller_mcp_test_concurrency} at once (CALLER_MCP_TEST_CONCURRENCY)."
        )
        digest = fingerprint([c.fingerprint for c in calls])
    return RunPlan(
        provider=provider, suite=suite, source=source, text=text, units=units, batch=batch, calls=calls,
        not_applied=not_applied, how=how, principal=principal, fingerprint=fingerprint([provider.name, suite.name, [u.key for u in units], digest]),
    )


def _unsent_settings(suite: Suite, provider: Provider) -> list[str]:
    """Notes on what the suite gives that the run cannot use (a provider without a price before dialling)."""
    if not provider.capabilities.cost_estimate and any(suite.setting(c, "expected_minutes") is not None for c in suite.cases):
        return [f"expected_minutes is not used: {provider.name} gives no price before dialling."]
    return []


async def run_estimate(services: Services, plan: RunPlan) -> str:
    """The run's price before dialling, in one line: the LLM part of every call (``app.costs``), each
    case at its ``expected_minutes`` (default 3); or why there is none. Never raises for the provider."""
    scripts = plan.batch.scripts() if plan.batch is not None else list({id(c.request.script): c.request.script for c in plan.calls}.values())
    minutes: dict[float, int] = defaultdict(int)
    for unit in plan.units:
        minutes[plan.suite.setting(plan.suite.case(unit.case_id), "expected_minutes") or DEFAULT_EXPECTED_MINUTES] += 1
    total, parts = 0.0, []
    for expected, calls in sorted(minutes.items()):
        estimate = await costs.estimate(services, plan.provider, scripts, calls, expected)
        if estimate.estimated_usd is None:
            return costs.estimate_line(estimate)
        total += estimate.estimated_usd
        parts.append(f"{calls:,} × {expected:g} min")
    return (
        f"Estimated LLM cost: about ${total:,.4f} for {len(plan.units):,} calls ({', '.join(parts)}, "
        f"${estimate.usd_per_minute:g}/min, {estimate.llm}); LLM part only, approximate."
    )


async def run_question(services: Services, plan: RunPlan) -> str | None:
    """The question to ask before :func:`start_run` dials ``plan``, or ``None`` when it would not
    dial (the run guard returns an earlier run, or a cap refuses). Never raises."""
    try:
        if await _earlier_run(services, plan) is not None:
            return None
        await check_hourly(services, plan.provider, len(plan.units), batch=plan.batch is not None)
    except CallerError:
        return None
    return plan.question(await run_estimate(services, plan))


def _run_fingerprint(plan: RunPlan) -> str:
    """What the run guard compares: the provider and the suite's content (not its formatting)."""
    return fingerprint([plan.provider.name, plan.suite.model_dump(mode="json")])


async def _earlier_run(services: Services, plan: RunPlan) -> TestRunRecord | None:
    """The run the run guard would return instead of this one (read only)."""
    window = services.settings.caller_mcp_redial_guard_secs
    if window <= 0:
        return None
    return await services.store.recent_run(_run_fingerprint(plan), services.now() - window)


# -- starting ---------------------------------------------------------------------------------


async def start_run(services: Services, plan: RunPlan, *, dry_run: bool = False, confirmed: bool = True) -> StartRunResult:
    """Dial a planned run: one batch call, or single calls paced in the background.

    Args:
        dry_run: check everything and return the request (batch: its first recipients), dialling nothing.
        confirmed: ``False`` when the person was asked (:func:`run_question`) and declined.
    Returns:
        The run id and what was dialled; or the earlier run of the same suite (``duplicate_of``);
        or the request (``dry_run``).
    Raises:
        CapExceeded, NotConfirmed, ProviderError: as for ``submit_batch`` (the run is recorded
        ``failed`` or ``outcome_unknown`` first).
    """
    provider = plan.provider
    base = dict(suite=plan.suite.name, calls=len(plan.units), mode=plan.mode, not_applied=plan.not_applied, **services.answered_by(provider))
    if dry_run or not confirmed:
        if plan.batch is not None:
            preview = await dialling.submit_batch(services, plan.batch, dry_run=True)
            request = preview.request
        else:
            await check_hourly(services, provider, len(plan.units), batch=False)
            request = (await dialling.place_call(services, plan.calls[0], allow_redial=True, dry_run=True)).request
        if not confirmed:
            raise NotConfirmed("Not run: the person did not confirm the test run.")
        return StartRunResult(
            status="dry_run", dry_run=True, request=request, estimate=await run_estimate(services, plan),
            message=f"Dry run: {len(plan.units)} calls checked ({plan.mode}); nothing was dialled. "
            "The request shows the first call(s).",
            **base,
        )
    window = services.settings.caller_mcp_redial_guard_secs
    if plan.batch is None:  # single calls: refuse a run the hourly cap would cut short, before any dial
        await check_hourly(services, provider, len(plan.units), batch=False)
    run_id = f"run_{uuid.uuid4().hex[:20]}"
    run, new = await services.store.reserve_run(
        run_id=run_id,
        suite_name=plan.suite.name,
        fingerprint=_run_fingerprint(plan),
        source=plan.source,
        suite_yaml=plan.text,
        provider=provider.name,
        mode=plan.mode,
        batch_name=plan.batch.request.name if plan.batch is not None else None,
        notes=plan.notes,
        units=[{"case_id": u.case_id, "repeat": u.repeat, "to_number": u.to_number, "scenario": u.goal} for u in plan.units],
        guard_since=services.now() - window if window > 0 else None,
        principal=plan.principal,
    )
    if not new:
        age = max(0, int(services.now() - run.created_at))
        return StartRunResult(
            run_id=run.run_id, status=run.status, duplicate_of=run.run_id, batch_id=run.batch_id,
            message=f"Not run again: suite '{plan.suite.name}' was started {age} s ago as {run.run_id}. Follow it "
            f"with get_test_run; run it again after CALLER_MCP_REDIAL_GUARD_SECS ({window:g} s).",
            **base,
        )
    store = services.store
    if plan.batch is None:
        await store.update_run(run_id, status="running")
        work = _dial_paced(services, run_id, plan)
        if services.background is not None:
            services.background.start_soon(work)
            message = f"Placing {len(plan.units)} calls, a few at a time."
        else:
            await work
            message = f"Placed {len(plan.units)} calls."
        return StartRunResult(run_id=run_id, status="running", message=message + " Next: get_test_run(run_id, wait_seconds=50).", **base)
    try:
        submitted = await dialling.submit_batch(services, plan.batch)
    except OutcomeUnknown as exc:
        await store.update_run(run_id, status="outcome_unknown", error=str(exc))
        raise OutcomeUnknown(f"Test run {run_id}: {exc}") from exc
    except CallerError as exc:
        await store.update_run(run_id, status="failed", error=str(exc))
        raise
    except BaseException as exc:
        await store.update_run(run_id, status="outcome_unknown", error=f"interrupted ({type(exc).__name__}) while submitting")
        raise
    if submitted.duplicate_of:
        # The batch duplicate guard: the same calls (as a set) went out as another batch within the
        # redial window, so nothing was dialled for this run.
        error = (
            f"Not dialled: the same calls were submitted as batch {submitted.duplicate_of} within "
            f"CALLER_MCP_REDIAL_GUARD_SECS ({window:g} s); run the suite again after that."
        )
        await store.update_run(run_id, status="failed", error=error)
        return StartRunResult(
            run_id=run_id, status="failed", duplicate_of=submitted.duplicate_of, message=error, **base
        )
    await store.update_run(run_id, status="running", batch_id=submitted.batch_id)
    return StartRunResult(
        run_id=run_id, status="running", batch_id=submitted.batch_id, estimate=await run_estimate(services, plan),
        message=f"Submitted {len(plan.units)} calls as one batch. Next: get_test_run(run_id, wait_seconds=50).",
        **base,
    )


async def _dial_paced(services: Services, run_id: str, plan: RunPlan) -> None:
    """Place a run's single calls, at most ``CALLER_MCP_TEST_CONCURRENCY`` under way at once: a slot
    is held from dialling until the call has ended. Failures are recorded on their units, never raised."""
    limiter = anyio.CapacityLimiter(services.settings.caller_mcp_test_concurrency)
    store = services.store

    async def one(unit: Unit, call: dialling.CallPlan) -> None:
        async with limiter:
            try:
                placed = await dialling.place_call(services, call, allow_redial=True)
            except OutcomeUnknown as exc:
                await store.update_unit(run_id, unit.case_id, unit.repeat, status="unknown", final=1, error=str(exc))
                return
            except CallerError as exc:
                await store.update_unit(run_id, unit.case_id, unit.repeat, status="failed", final=1, outcome="failed", error=str(exc))
                return
            except Exception as exc:  # never into the server's task group
                logger.exception("test run %s: %s could not be dialled", run_id, unit.key)
                await store.update_unit(run_id, unit.case_id, unit.repeat, status="unknown", final=1, error=f"unexpected failure ({type(exc).__name__})")
                return
            await store.update_unit(run_id, unit.case_id, unit.repeat, call_id=placed.call_id, conversation_id=placed.conversation_id)
            give_up = services.monotonic() + MAX_HOLD_SECS
            while services.monotonic() < give_up:  # hold the slot until the call has ended
                try:
                    answer = await monitoring.get_call(services, placed.call_id or "", inputs.MAX_WAIT_SECS)
                except CallerError as exc:
                    logger.info("test run %s: %s not readable yet: %s", run_id, unit.key, exc)
                    await services.sleep(monitoring.MAX_POLL_DELAY_SECS)
                    continue
                if answer.status in FINAL_STATUSES:
                    return
            logger.warning("test run %s: %s still not ended after %d s; its slot is released", run_id, unit.key, MAX_HOLD_SECS)

    async with anyio.create_task_group() as group:
        for unit, call in zip(plan.units, plan.calls):
            group.start_soon(one, unit, call)


# -- following --------------------------------------------------------------------------------


async def _run_or_raise(services: Services, run_id: object) -> TestRunRecord:
    key = inputs.identifier(run_id, "run_id", "a run_id from run_test_suite or get_test_report")
    run = await services.store.get_run(key)
    if run is None:
        raise NotFound(f"No test run {key} in this server's records. get_test_report without run_id lists the runs.")
    return run


async def refresh(services: Services, run: TestRunRecord, budget: float = REFRESH_BUDGET_SECS) -> TestRunRecord:
    """Read the provider for the run's unfinished units; evaluate the checks of those that ended.

    Conversations are read :data:`READ_CONCURRENCY` at a time, and no read starts after
    ``budget`` seconds: a large run is read over several calls, each within a tool call's time.

    Returns:
        The run as now recorded (``done`` once every unit is final).
    Raises:
        ConfigError, ProviderError: the provider cannot be read (nothing is lost; read again later).
    """
    store = services.store
    units = await store.run_units(run.run_id)
    if run.status in ("submitting", "failed", "outcome_unknown") or all(u.final for u in units):
        return await _settle(services, run, units)
    suite = parse_suite(run.suite_yaml, run.source)
    provider = services.provider(run.provider)
    if run.mode == "batch" and run.batch_id:
        try:
            batch = await provider.get_batch(run.batch_id)
        except ProviderStatusError as exc:
            if exc.status != 404:
                raise
            if not provider.sandbox:
                raise NotFound(f"{provider.name} no longer knows batch {run.batch_id} of test run {run.run_id}: {exc.detail}") from exc
            # The built-in sandbox keeps its calls in memory: a run started by an earlier process
            # can never be read again. Say so once, instead of waiting for calls that are gone.
            await store.update_run(
                run.run_id, status="outcome_unknown",
                error="The built-in sandbox keeps calls in memory and this run was started by an earlier server "
                "process, so its unfinished calls can no longer be read.",
            )
            return await store.get_run(run.run_id) or run
        if any(r.call_ref for r in batch.recipients):
            await record_batch_calls(store, provider.name, batch.batch_id, recipient_rows(batch.recipients, services.now()))
        by_id = {r.recipient_id: r for r in batch.recipients if r.recipient_id}
        matched = (
            [(u, by_id[u.key]) for u in units if u.key in by_id]
            if all(u.key in by_id for u in units)
            else list(zip(units, batch.recipients))  # no ids of ours: submission order
        )
        reads: list[tuple[TestUnitRecord, str, str | None]] = []  # (unit, outcome, conversation)
        for unit, recipient in matched:
            if unit.final:
                continue
            if recipient.status in FINISHED_RECIPIENT_STATUSES:
                reads.append((unit, recipient.status, recipient.call_ref))
            else:
                await _note_status(store, unit, recipient_call_status(recipient.status), recipient.call_ref)
    else:
        reads = []
        for unit in units:
            if unit.final or not unit.call_id:
                continue
            record = await store.get_call(unit.call_id)
            if record is None or not record.conversation_id:
                if record is not None and record.status in ("failed", "no_answer", "outcome_unknown"):
                    unknown = record.status == "outcome_unknown"
                    await store.update_unit(
                        run.run_id, unit.case_id, unit.repeat, final=1, status="unknown" if unknown else "failed",
                        outcome=None if unknown else "failed", error=record.error,
                    )
                continue
            reads.append((unit, "", record.conversation_id))
    await _read_ended(services, run, suite, provider, reads, budget)
    return await _settle(services, run, await store.run_units(run.run_id))


async def _note_status(store: Any, unit: TestUnitRecord, status: str, conversation_id: str | None) -> None:
    """Record a running unit's status and conversation, only when they changed."""
    if (status, conversation_id or unit.conversation_id) != (unit.status, unit.conversation_id):
        await store.update_unit(
            unit.run_id, unit.case_id, unit.repeat, status=status, conversation_id=conversation_id or unit.conversation_id
        )


async def _read_ended(
    services: Services, run: TestRunRecord, suite: Suite, provider: Provider,
    reads: list[tuple[TestUnitRecord, str, str | None]], budget: float,
) -> None:
    """Read the conversations of units whose call may have ended and finish those that have
    (``outcome`` "" = derive it from the report), a few at a time, starting none after ``budget`` s."""
    limiter = anyio.CapacityLimiter(READ_CONCURRENCY)
    stop_at = services.monotonic() + budget

    async def one(unit: TestUnitRecord, outcome: str, conversation_id: str | None) -> None:
        async with limiter:
            if services.monotonic() >= stop_at:
                return  # the next get_test_run reads it
            report = await _report(provider, conversation_id) if conversation_id else None
            if report is not None and not report.final:
                await _note_status(services.store, unit, report.status, conversation_id)
                return
            if report is None and not outcome:
                await _note_status(services.store, unit, "queued", conversation_id)  # not shown by the provider yet
                return
            await _finish(services, run, suite, unit, outcome or _call_outcome(report), report, conversation_id)  # type: ignore[arg-type]

    async with anyio.create_task_group() as group:
        for unit, outcome, conversation_id in reads:
            group.start_soon(one, unit, outcome, conversation_id)


async def _settle(services: Services, run: TestRunRecord, units: list[TestUnitRecord]) -> TestRunRecord:
    if run.status == "running" and units and all(u.final for u in units):
        await services.store.update_run(run.run_id, status="done")
        return await services.store.get_run(run.run_id) or run
    return run


async def _report(provider: Provider, conversation_id: str) -> CallReport | None:
    """The provider's report on a conversation, ``None`` while it does not show it yet (404)."""
    try:
        return await provider.get_call(conversation_id)
    except ProviderStatusError as exc:
        if exc.status == 404:
            return None
        raise


def _call_outcome(report: CallReport) -> str:
    """How a single call ended, in the suite's terms (:data:`~caller_mcp.domain.suites.OUTCOMES`)."""
    if report.status != "done":
        return "failed"
    reason = (report.termination_reason or "").lower()
    return "voicemail" if "voicemail" in reason else "completed"


async def _finish(
    services: Services, run: TestRunRecord, suite: Suite, unit: TestUnitRecord, outcome: str,
    report: CallReport | None, conversation_id: str | None,
) -> None:
    """Evaluate a finished unit's checks and write everything the report needs to its row."""
    case = suite.case(unit.case_id)
    transcript = tuple((t.role, t.message) for t in report.transcript) if report else ()
    facts = CallFacts(
        outcome=outcome,
        duration_secs=report.duration_secs if report else None,
        provider_outcome=report.outcome if report else None,
        transcript=transcript,
    )
    results = evaluate_checks(case.checks, facts) if case is not None else []
    await services.store.update_unit(
        run.run_id, unit.case_id, unit.repeat,
        final=1,
        status=report.status if report else "failed",
        conversation_id=conversation_id,
        outcome=outcome,
        duration_secs=facts.duration_secs,
        provider_outcome=facts.provider_outcome,
        summary=report.summary if report else None,
        termination_reason=report.termination_reason if report else None,
        cost=report.cost.amount if report and report.cost else None,
        cost_unit=report.cost.unit if report and report.cost else None,
        cost_usd=report.cost_usd if report else None,
        transcript=transcript,
        checks=[r.__dict__ for r in results],
        error=None if report else f"the call ended {outcome} without a conversation",
    )


@dataclass
class _View:
    """A run as read from the store, with each unit's verdict."""

    run: TestRunRecord
    suite: Suite
    units: list[TestUnitRecord]
    verdicts: dict[tuple[str, int], list[Verdict]] = field(default_factory=dict)
    roles: dict[tuple[str, int, str], str] = field(default_factory=dict)

    def criteria(self, unit: TestUnitRecord) -> list[str]:
        case = self.suite.case(unit.case_id)
        return case.success_criteria if case is not None else []

    def verdict(self, unit: TestUnitRecord) -> tuple[str, list[str]]:
        final = bool(unit.final) or self.run.status in ("failed", "outcome_unknown")
        unknown = unit.status == "unknown" or (not unit.final and self.run.status == "outcome_unknown")
        if not unit.final and self.run.status == "failed":
            checks = [CheckResult("dialled", False, self.run.error or "the run could not be dialled")]
        else:
            checks = [CheckResult(c["check"], c["passed"], c["reason"]) for c in unit.checks]
            if unit.final and unit.status == "failed" and not unit.conversation_id and unit.error:
                checks.append(CheckResult("dialled", False, unit.error))
        return unit_verdict(
            final=final, outcome_unknown=unknown, checks=checks, criteria=self.criteria(unit),
            verdicts=self.verdicts.get((unit.case_id, unit.repeat), []),
        )

    def summaries(self) -> list[CaseSummary]:
        by_case: dict[str, list[str]] = defaultdict(list)
        reasons: dict[str, list[str]] = defaultdict(list)
        for unit in self.units:
            verdict, awaiting = self.verdict(unit)
            by_case[unit.case_id].append(verdict)
            if verdict == "failed":
                reasons[unit.case_id] += [f"{c['check']}: {c['reason']}" for c in unit.checks if not c["passed"]]
                reasons[unit.case_id] += [
                    f"verdict failed: {v.criterion}" for v in self.verdicts.get((unit.case_id, unit.repeat), []) if not v.passed
                ]
                if not unit.final and self.run.status == "failed":
                    reasons[unit.case_id].append(f"{PROVIDER_REASONS[0]}{self.run.error}")
                elif unit.error and not unit.conversation_id:
                    reasons[unit.case_id].append(f"{PROVIDER_REASONS[1]}{unit.error}")
            elif verdict == "not_judged":
                if unit.status == "unknown" or self.run.status == "outcome_unknown":
                    reasons[unit.case_id].append("the call's outcome is unknown (it may have rung)")
                reasons[unit.case_id] += [f"awaiting verdict: {c}" for c in awaiting]
        return [case_summary(c.id, by_case.get(c.id, []), reasons.get(c.id, [])) for c in self.suite.cases]


async def _view(services: Services, run: TestRunRecord) -> _View:
    store = services.store
    view = _View(run=run, suite=parse_suite(run.suite_yaml, run.source), units=await store.run_units(run.run_id))
    for v in await store.run_verdicts(run.run_id):
        view.verdicts.setdefault((v.case_id, v.repeat), []).append(Verdict(v.criterion, bool(v.passed), v.evidence))
        view.roles[(v.case_id, v.repeat, v.criterion)] = v.role
    return view


async def get_test_run(
    services: Services, run_id: str, wait_seconds: float = 0, *, progress: monitoring.ProgressFn | None = None
) -> TestRunResult:
    """A run's progress and, per unit, call status, checks, verdicts and what awaits a verdict;
    with ``wait_seconds`` (≤ ``inputs.MAX_WAIT_SECS``) it keeps reading, with ``get_call``'s
    backoff, until every call has ended, reporting progress.

    Raises:
        InvalidInput: a malformed id or wait. NotFound: an unknown run. ConfigError, ProviderError.
    """
    wait = inputs.wait_seconds(wait_seconds)
    run = await _run_or_raise(services, run_id)
    start = services.monotonic()
    deadline = start + wait
    delay = monitoring.FIRST_POLL_DELAY_SECS
    while True:
        # Reads start only within the first READ_WINDOW_SECS of the call, so that, with the reads
        # under way finishing, the tool call ends within a client's patience.
        run = await refresh(services, run, budget=max(0.5, min(REFRESH_BUDGET_SECS, start + READ_WINDOW_SECS - services.monotonic())))
        units = await services.store.run_units(run.run_id)
        finished = sum(1 for u in units if u.final)
        now = services.monotonic()
        if finished == len(units) or run.status in ("failed", "outcome_unknown", "done") or now >= deadline:
            break
        pause = min(delay, deadline - now)
        if progress is not None:
            await progress(finished, len(units), f"{finished} of {len(units)} calls finished after {now - start:.0f} s")
        await services.sleep(pause)
        delay = min(delay * monitoring.POLL_BACKOFF, monitoring.MAX_POLL_DELAY_SECS)
    view = await _view(services, run)
    provider = services.provider(run.provider)
    counts: dict[str, int] = defaultdict(int)
    judged = []
    for unit in view.units:
        verdict, awaiting = view.verdict(unit)
        counts[verdict] += 1
        judged.append((unit, verdict, awaiting))
    judged.sort(key=lambda item: (_SHOWN_FIRST.get(item[1], 9) if not (item[1] == "not_judged" and not item[2]) else 1, item[0].position))
    results = [_unit_result(view, unit, verdict, awaiting) for unit, verdict, awaiting in judged[:MAX_SHOWN_UNITS]]
    finished = sum(1 for u in view.units if u.final)
    answer = TestRunResult(
        run_id=run.run_id,
        suite=view.suite.name,
        status=run.status,
        progress=round(finished / len(view.units), 3) if view.units else 0.0,
        counts=dict(counts),
        units=results,
        units_not_shown=max(0, len(view.units) - MAX_SHOWN_UNITS),
        notes=run.notes + ([run.error] if run.error else []),
        next=_next_step(run, counts),
        waited_secs=round(services.monotonic() - start, 1),
        **services.answered_by(provider),
    )
    return answer.quoting("notes") if run.error else answer  # the run's error may quote the provider


def _unit_result(view: _View, unit: TestUnitRecord, verdict: str, awaiting: list[str]) -> UnitResult:
    key = (unit.case_id, unit.repeat)
    checks = unit.checks
    return UnitResult(
        case_id=unit.case_id,
        repeat=unit.repeat,
        verdict=verdict,
        call_status=unit.status,
        outcome=unit.outcome,
        duration_secs=unit.duration_secs,
        provider_outcome=unit.provider_outcome,
        checks_passed=sum(1 for c in checks if c["passed"]),
        failed_checks=[CheckOutcome(check=c["check"], reason=c["reason"]) for c in checks if not c["passed"]],
        verdicts=[
            VerdictOut(
                criterion=v.criterion, passed=v.passed, evidence=clip(v.evidence, 80),
                said_by=view.roles.get((*key, v.criterion), ""),
            )
            for v in view.verdicts.get(key, [])
        ],
        awaiting=awaiting if unit.final else [],
        transcript_uri=f"caller://calls/{unit.conversation_id}/transcript" if unit.conversation_id and unit.final else None,
        error=unit.error,
    )


#: The order in which get_test_run shows units: what the agent acts on first.
_SHOWN_FIRST = {"not_judged": 0, "running": 1, "failed": 2, "passed": 3}


def _next_step(run: TestRunRecord, counts: dict[str, int]) -> str:
    if run.status in ("failed", "outcome_unknown"):
        return "Nothing more will happen in this run; see notes. get_test_report gives the report."
    if counts.get("running"):
        return "Calls are still running: call get_test_run again with wait_seconds=50."
    if counts.get("not_judged"):
        return (
            "Judge each awaiting criterion: read the transcript, then record_verdict with a word-for-word quote. "
            "Then get_test_report."
        )
    return "Every unit is judged: get_test_report."


# -- verdicts ---------------------------------------------------------------------------------


async def record_verdict(
    services: Services, run_id: str, case_id: str, repeat: int, criterion: str, passed: bool, evidence: str
) -> VerdictResult:
    """Record an agent's verdict on one success criterion of one unit, with its evidence.

    The evidence must be a quote found in one turn of that call's stored transcript (case,
    whitespace and punctuation ignored); otherwise nothing is recorded.

    Raises:
        InvalidInput: unknown case, repeat or criterion; the call has not ended; the quote is not
            in the transcript (the reason says which). NotFound: an unknown run.
    """
    run = await _run_or_raise(services, run_id)
    view = await _view(services, run)
    case = view.suite.case(case_id) if isinstance(case_id, str) else None
    if case is None:
        raise InvalidInput(f"case_id {inputs.shown(case_id)} is not in suite '{view.suite.name}'; its cases: {', '.join(c.id for c in view.suite.cases)}.")
    unit = next((u for u in view.units if u.case_id == case.id and u.repeat == repeat), None)
    if unit is None or isinstance(repeat, bool):
        raise InvalidInput(f"repeat must be 1 to {view.suite.repeats_of(case)} for case {case.id}.")
    wanted = normalise(criterion or "") if isinstance(criterion, str) else ""
    matched = next((c for c in case.success_criteria if normalise(c) == wanted), None)
    if matched is None:
        listed = "; ".join(case.success_criteria) or "none (this case is judged by its checks alone)"
        raise InvalidInput(f"criterion {inputs.shown(criterion)} is not a success criterion of case {case.id}. Its criteria: {listed}.")
    if not unit.final:
        raise InvalidInput(f"{unit.key} has not ended yet: wait with get_test_run(run_id, wait_seconds=50), then judge it.")
    if not isinstance(passed, bool):
        raise InvalidInput("passed must be true or false.")
    role, _ = evidence_in(evidence if isinstance(evidence, str) else "", unit.transcript)
    quote = inputs.text(evidence, "evidence", 1_000) or ""
    await services.store.record_verdict(run.run_id, case.id, unit.repeat, matched, passed=passed, evidence=quote, role=role)
    verdict, awaiting = (await _view(services, run)).verdict(unit)
    return VerdictResult(
        run_id=run.run_id,
        case_id=case.id,
        repeat=unit.repeat,
        criterion=matched,
        passed=passed,
        said_by=role,
        unit_verdict=verdict,
        awaiting=awaiting,
        message=f"Recorded: the quote is in the transcript ({role}). {unit.key} is now {verdict}."
        + (f" Still awaiting: {'; '.join(awaiting)}." if awaiting else ""),
    )


# -- reports ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """A run's report, for the tool, the resources and the CLI's files."""

    run: TestRunRecord
    suite: Suite
    cases: list[CaseSummary]
    units: list[tuple[TestUnitRecord, str, list[str]]]
    previous: TestRunRecord | None
    cost: dict[str, float]

    @property
    def verdict(self) -> str:
        """The run's verdict: ``failed`` if any case failed, else ``running``, ``not_judged`` or ``passed``."""
        return case_summary("run", [c.verdict for c in self.cases]).verdict


async def build_report(services: Services, run_id: str, *, read: bool = True) -> Report:
    """The report of a run: per-case pass rates across repeats, flaky cases, regressions against
    the previous run of the same suite, total cost.

    Args:
        read: read the provider once for unfinished calls first (no waiting).
    Raises:
        InvalidInput, NotFound: as for :func:`get_test_run`. ProviderError only when ``read``.
    """
    run = await _run_or_raise(services, run_id)
    if read:
        try:
            run = await refresh(services, run)
        except CallerError as exc:
            logger.info("report of %s from the records only: %s", run.run_id, exc)
    view = await _view(services, run)
    previous = await services.store.previous_run(run.suite_name, run.created_at, run.run_id, run.principal or LOCAL_PRINCIPAL)
    before = {s.case_id: s.verdict for s in (await _view(services, previous)).summaries()} if previous else None
    cost: dict[str, float] = defaultdict(float)
    for unit in view.units:
        if unit.cost is not None and unit.cost_unit:
            cost[unit.cost_unit] += unit.cost
        if unit.cost_usd is not None:
            cost["USD"] += unit.cost_usd
    units = [(u, *view.verdict(u)) for u in view.units]
    return Report(
        run=run, suite=view.suite, cases=mark_regressions(view.summaries(), before), units=units,  # type: ignore[arg-type]
        previous=previous, cost={k: round(v, 4) for k, v in cost.items()},
    )


#: How a case's reason that quotes a call's or the run's error (the provider's words) begins.
PROVIDER_REASONS = ("not dialled: ", "not connected: ")


def _case_report(case: CaseSummary) -> CaseReport:
    """A case's summary as a report entry (its first :data:`MAX_REASONS` reasons); ``reasons``
    is marked untrusted when one quotes an error the provider gave."""
    report = CaseReport(**{**case.__dict__, "reasons": case.reasons[:MAX_REASONS]})
    return report.quoting("reasons") if any(r.startswith(PROVIDER_REASONS) for r in report.reasons) else report


async def get_test_report(
    services: Services, run_id: str | None = None, *, principal: str = LOCAL_PRINCIPAL
) -> TestReportResult:
    """A run's report (see :func:`build_report`); without ``run_id``, ``principal``'s newest runs.

    Raises:
        InvalidInput, NotFound: as for :func:`get_test_run`.
    """
    if run_id is None or (isinstance(run_id, str) and not run_id.strip()):
        runs = await services.store.list_runs(MAX_LISTED_RUNS, principal)
        return TestReportResult(
            runs=[
                RunSummary(
                    run_id=r.run_id, suite=r.suite_name, status=r.status, created_at=iso(r.created_at),
                    calls=len(await services.store.run_units(r.run_id)),
                )
                for r in runs
            ]
        )
    report = await build_report(services, run_id)
    provider = services.provider(report.run.provider)
    total = sum(c.repeats for c in report.cases)
    # Regressions, failures and flaky cases first, then what awaits a verdict; all are in report.md.
    rank = {"failed": 1, "running": 2, "not_judged": 3, "passed": 4}
    shown = sorted(report.cases, key=lambda c: (0 if c.regression else rank.get(c.verdict, 5), not c.flaky))[:MAX_REPORTED_CASES]
    return TestReportResult(
        run_id=report.run.run_id,
        suite=report.suite.name,
        status=report.run.status,
        verdict=report.verdict,
        pass_rate=round(sum(c.passed for c in report.cases) / total, 3) if total else 0.0,
        cases=[_case_report(c) for c in shown],
        cases_not_shown=len(report.cases) - len(shown),
        flaky=[c.case_id for c in report.cases if c.flaky],
        regressions=[c.case_id for c in report.cases if c.regression],
        previous_run_id=report.previous.run_id if report.previous else None,
        cost=report.cost,
        report_uri=f"caller://runs/{report.run.run_id}/report.md",
        junit_uri=f"caller://runs/{report.run.run_id}/junit.xml",
        **services.answered_by(provider),
    )

