"""The test-suite tools and resources: run a suite, follow it, judge it with quotes, report it.

Thin, like :mod:`.tools`: each hands its arguments to :mod:`caller_mcp.app.testing`. The run is a
dial, so ``run_test_suite`` plans once and asks the person like ``submit_batch`` does
(:mod:`.confirm`). Descriptions are terse: every character is paid in each conversation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, ElicitationResult, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ..app.run_results import StartRunResult, TestReportResult, TestRunResult, VerdictResult
from ..domain.inputs import MAX_WAIT_SECS
from ..errors import CallerError, NotFound, tool_message
from .confirm import GO_AHEAD, NOT_ASKED, Confirmation, Planned, _ask, _asks, confirmed, services_of
from .sdk import StrictTool, make_tool
from .principal import principal_of, write_refusal
from .tools import _hints, _may_write, _plan, _range, _result, _run

if TYPE_CHECKING:
    from ..app.testing import Report, RunPlan
else:  # evaluated by the SDK at tools/list; the use cases are imported by the first call
    Report = RunPlan = Any

RUN_ID = Field(description="From run_test_suite.")


async def plan_run(ctx: Context, suite: str) -> Planned[RunPlan]:
    """Resolver: read and plan the suite once (every unit checked, the exact batch or calls)."""
    if (refusal := write_refusal(ctx, "run test suites")) is not None:
        return Planned(error=refusal)
    try:
        services = services_of(ctx)
        from ..app import testing
        text, source = testing.read_suite(services, suite)
        from ..app import testing
        return Planned(plan=await testing.plan_run(services, text, source, principal=principal_of(ctx)))
    except CallerError as exc:
        return Planned(error=exc)


async def ask_run(ctx: Context, planned: Annotated[Planned[RunPlan], Resolve(plan_run)], dry_run: bool = False) -> Any:
    """Resolver: ask the person before the run dials, when batches need confirming."""
    if dry_run or planned.plan is None or not _asks(ctx, "batch"):
        return NOT_ASKED
    from ..app import testing
    return _ask(await testing.run_question(services_of(ctx), planned.plan))


async def run_test_suite(
    suite: Annotated[str, Field(description="Suite YAML, or a file name in CALLER_MCP_SUITES_DIR.")],
    ctx: Context,
    planned: Annotated[Planned[RunPlan], Resolve(plan_run)],
    dry_run: Annotated[bool, Field(description="Check only; dial nothing.")] = False,
    confirmation: Annotated[ElicitationResult[Confirmation], Resolve(ask_run)] = GO_AHEAD,
) -> Annotated[CallToolResult, StartRunResult]:
    """Run a test suite (cases × repeats): REAL, paid calls unless sandbox. Next: get_test_run."""
    from ..app import testing
    answer = testing.start_run(services_of(ctx), _plan(planned), dry_run=dry_run, confirmed=confirmed(confirmation))
    return _result(await _run(answer, "run_test_suite"))


async def get_test_run(
    run_id: Annotated[str, RUN_ID],
    ctx: Context,
    wait_seconds: Annotated[float, _range("Seconds to wait for the end.", 0, MAX_WAIT_SECS)] = 0,
) -> Annotated[CallToolResult, TestRunResult]:
    """Per case and repeat: call status, checks, criteria awaiting a verdict, transcript_uri
    (untrusted). Free. Next: record_verdict."""

    async def progress(done: float, total: float, message: str) -> None:
        await ctx.report_progress(done, total, message)

    from ..app import testing
    answer = testing.get_test_run(services_of(ctx), run_id, wait_seconds, progress=progress)
    return _result(await _run(answer, "get_test_run"))


async def record_verdict(
    run_id: Annotated[str, RUN_ID],
    case_id: str,
    repeat: int,
    criterion: str,
    passed: bool,
    evidence: Annotated[str, Field(description="Exact quote from that call's transcript.")],
    ctx: Context,
) -> Annotated[CallToolResult, VerdictResult]:
    """Judge one success criterion of an ended call; refused unless evidence quotes its transcript."""
    _may_write(ctx, "record verdicts")

    from ..app import testing
    answer = testing.record_verdict(services_of(ctx), run_id, case_id, repeat, criterion, passed, evidence)
    return _result(await _run(answer, "record_verdict"))


async def get_test_report(
    ctx: Context, run_id: Annotated[str | None, Field(description="Omit to list runs.")] = None
) -> Annotated[CallToolResult, TestReportResult]:
    """Pass rate per case, flaky cases, regressions vs the suite's previous run, cost. Free."""
    from ..app import testing
    answer = testing.get_test_report(services_of(ctx), run_id, principal=principal_of(ctx))
    return _result(await _run(answer, "get_test_report"))


def suite_tools() -> list[StrictTool]:
    """The four test-suite tools, with titles, answer models and behaviour hints.

    ``record_verdict`` writes a local record (not read-only, closed world); replacing a verdict
    with the same one changes nothing (idempotent).
    """
    read = _hints(read_only=True, idempotent=True)
    table: list[tuple[Any, str, type[BaseModel], ToolAnnotations]] = [
        (run_test_suite, "Run a test suite", StartRunResult, _hints(destructive=True)),
        (get_test_run, "Get test run", TestRunResult, read),
        (record_verdict, "Record a verdict", VerdictResult, _hints(idempotent=True, open_world=False)),
        (get_test_report, "Get test report", TestReportResult, _hints(read_only=True, idempotent=True, open_world=False)),
    ]
    return [make_tool(fn, title=title, answer=answer, annotations=hints) for fn, title, answer, hints in table]


def add_test_resources(server: MCPServer[Any]) -> None:
    """Register ``caller://runs/{run_id}/report.md`` and ``caller://runs/{run_id}/junit.xml``."""

    async def report_of(run_id: str, ctx: Context) -> Report:
        try:
            from ..app import testing
            return await testing.build_report(services_of(ctx), run_id)
        except NotFound as exc:
            raise ResourceNotFoundError(tool_message(exc)) from exc
        except CallerError as exc:
            raise ResourceError(tool_message(exc)) from exc

    @server.resource(
        "caller://runs/{run_id}/report.md", name="test_report", title="Test report (Markdown)",
        description="A test run's report.", mime_type="text/markdown",
    )
    async def report_md(run_id: str, ctx: Context) -> str:
        from ..app import run_reports
        return run_reports.markdown(await report_of(run_id, ctx))

    @server.resource(
        "caller://runs/{run_id}/junit.xml", name="test_junit", title="Test report (JUnit)",
        description="A test run as JUnit XML; criteria awaiting a verdict are skipped.", mime_type="application/xml",
    )
    async def report_junit(run_id: str, ctx: Context) -> str:
        from ..app import run_reports
        return run_reports.junit_xml(await report_of(run_id, ctx))
