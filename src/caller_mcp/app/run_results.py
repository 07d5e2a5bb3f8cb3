"""The answers of the test-run use cases (``run_test_suite``, ``get_test_run``, ``record_verdict``,
``get_test_report``). Pydantic models, sent as structured content without null fields; the CLI
reads them too. Verdicts: ``passed``, ``failed``, ``not_judged`` (a criterion awaits a verdict, or
the call's outcome is unknown), ``running``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .results import Answer, ProviderText


class StartRunResult(Answer):
    """A started test run, the earlier run of the same suite (``duplicate_of``), or a dry run."""

    provider_text = ("estimate",)

    run_id: str | None = None
    suite: str
    status: str
    message: str
    calls: int = Field(description="Cases × repeats.")
    mode: str = Field(description="batch: one batch call; calls: single calls, a few at a time.")
    batch_id: str | None = None
    duplicate_of: str | None = None
    estimate: str | None = None
    not_applied: list[str] = Field(default_factory=list)
    dry_run: bool = False
    request: dict[str, Any] | None = None
    provider: str
    sandbox: bool = False
    note: str | None = None


class CheckOutcome(BaseModel):
    """One deterministic check of a unit that failed, and why."""

    check: str
    reason: str


class VerdictOut(BaseModel):
    """An agent's verdict on one criterion, with its quote and who said it."""

    criterion: str
    passed: bool
    evidence: str
    said_by: str


class UnitResult(ProviderText):
    """One case at one repeat: its call, the checks that failed, its verdicts and what still
    awaits a verdict (compact: the summary and whole transcript are a get_call or a resource away)."""

    provider_text = ("error", "transcript_uri",)

    case_id: str
    repeat: int
    verdict: str
    call_status: str
    outcome: str | None = None
    duration_secs: float | None = None
    provider_outcome: str | None = Field(default=None, description="The provider's analysis: success/failure.")
    checks_passed: int = 0
    failed_checks: list[CheckOutcome] = Field(default_factory=list)
    verdicts: list[VerdictOut] = Field(default_factory=list)
    awaiting: list[str] = Field(default_factory=list, description="Criteria without a verdict.")
    transcript_uri: str | None = None
    error: str | None = None


class TestRunResult(Answer):
    """A test run's progress and its units."""

    __test__ = False

    run_id: str
    suite: str
    status: str
    progress: float = Field(description="Finished calls / calls, 0-1.")
    counts: dict[str, int] = Field(description="Units per verdict.")
    units: list[UnitResult] = Field(description="Those awaiting a verdict first, then running, failed, passed.")
    units_not_shown: int = 0
    notes: list[str] = Field(default_factory=list)
    next: str
    waited_secs: float = 0
    provider: str
    sandbox: bool = False
    note: str | None = None


class VerdictResult(BaseModel):
    """A recorded verdict and the unit's verdict now."""

    run_id: str
    case_id: str
    repeat: int
    criterion: str
    passed: bool
    said_by: str
    unit_verdict: str
    awaiting: list[str] = Field(default_factory=list)
    message: str


class CaseReport(ProviderText):
    """One case across its repeats."""

    case_id: str
    verdict: str
    repeats: int
    passed: int
    failed: int
    not_judged: int
    running: int = 0
    pass_rate: float
    flaky: bool = False
    regression: bool = False
    reasons: list[str] = Field(default_factory=list, description="Why repeats failed or are not judged.")


class RunSummary(BaseModel):
    """One run in a list of runs."""

    run_id: str
    suite: str
    status: str
    created_at: str
    calls: int


class TestReportResult(Answer):
    """A run's report (pass rate per case, flaky cases, regressions, cost), or, without a run id, the runs."""

    __test__ = False

    run_id: str | None = None
    suite: str | None = None
    status: str | None = None
    verdict: str | None = Field(default=None, description="passed / failed / not_judged / running.")
    pass_rate: float | None = None
    cases: list[CaseReport] = Field(default_factory=list, description="Regressions and failures first.")
    cases_not_shown: int = 0
    flaky: list[str] = Field(default_factory=list)
    regressions: list[str] = Field(default_factory=list)
    previous_run_id: str | None = None
    cost: dict[str, float] = Field(default_factory=dict, description="Total per unit (credits, USD).")
    report_uri: str | None = None
    junit_uri: str | None = None
    runs: list[RunSummary] = Field(default_factory=list)
    provider: str | None = None
    sandbox: bool = False
    note: str | None = None
