"""A test run's report as files: Markdown for people, JUnit XML for CI (written with ``junitparser``).

JUnit: one ``<testsuite>`` named after the suite, one ``<testcase>`` per unit (``case-id#repeat``,
classname = the suite). A failed unit is a ``<failure>`` listing what failed; a unit whose
criteria await a verdict is ``<skipped>`` with the reason, or a ``<failure>`` with
``require_verdicts``; a call that has not ended, or whose outcome is unknown, is an ``<error>``.
"""

from __future__ import annotations

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from ..domain.caps import iso
from ..store.runs import TestUnitRecord
from .testing import Report


def _failures(unit: TestUnitRecord, report: Report) -> list[str]:
    reasons = [f"{c['check']}: {c['reason']}" for c in unit.checks if not c["passed"]]
    if unit.final and unit.status == "failed" and not unit.conversation_id and unit.error:
        reasons.append(f"not connected: {unit.error}")
    if not unit.final and report.run.status == "failed":
        reasons.append(f"not dialled: {report.run.error}")
    return reasons


def junit_xml(report: Report, *, require_verdicts: bool = False) -> str:
    """The run as a JUnit XML document (see the module docstring)."""
    suite = TestSuite(report.suite.name)
    suite.timestamp = iso(report.run.created_at)
    failed_verdicts = _failed_verdicts(report)
    for unit, verdict, awaiting in report.units:
        case = TestCase(unit.key, classname=report.suite.name, time=unit.duration_secs or 0.0)
        if verdict == "failed":
            reasons = _failures(unit, report) + failed_verdicts.get(unit.key, [])
            case.result = [Failure("; ".join(reasons) or "failed", "failed")]
        elif verdict == "running":
            case.result = [Error(f"the call had not ended (status {unit.status})", "not_finished")]
        elif verdict == "not_judged" and (unit.status == "unknown" or report.run.status == "outcome_unknown"):
            case.result = [Error("the call's outcome is unknown: it may have rung; check the provider's history", "outcome_unknown")]
        elif verdict == "not_judged":
            reason = "awaiting a verdict (record_verdict) on: " + "; ".join(awaiting)
            case.result = [Failure(reason, "verdict_required")] if require_verdicts else [Skipped(reason)]
        if unit.conversation_id:
            case.system_out = f"conversation {unit.conversation_id}; outcome {unit.outcome}; transcript caller://calls/{unit.conversation_id}/transcript"
        suite.add_testcase(case)
    suite.update_statistics()
    xml = JUnitXml()
    xml.add_testsuite(suite)
    xml.update_statistics()
    body = xml.tostring()
    return '<?xml version="1.0" encoding="utf-8"?>\n' + (body.decode() if isinstance(body, bytes) else str(body)) + "\n"


def _failed_verdicts(report: Report) -> dict[str, list[str]]:
    """``case-id#repeat`` → the failing verdicts' criteria, from the summaries' reasons."""
    out: dict[str, list[str]] = {}
    for unit, verdict, _ in report.units:
        if verdict == "failed" and not _failures(unit, report):
            case = next((c for c in report.cases if c.case_id == unit.case_id), None)
            out[unit.key] = [r for r in (case.reasons if case else []) if r.startswith("verdict failed")]
    return out


def markdown(report: Report) -> str:
    """The run as a Markdown report: verdict, per-case table, flaky cases, regressions, cost, units."""
    run = report.run
    lines = [
        f"# Test report: {report.suite.name}",
        "",
        f"Run `{run.run_id}` on {run.provider}, started {iso(run.created_at)}; status **{run.status}**, "
        f"verdict **{report.verdict}**.",
    ]
    if report.previous is not None:
        lines.append(f"Compared with the previous run `{report.previous.run_id}` ({iso(report.previous.created_at)}).")
    if report.cost:
        lines.append("Cost: " + ", ".join(f"{amount:g} {unit}" for unit, amount in sorted(report.cost.items())) + ".")
    lines += ["", "| case | verdict | passed | failed | not judged | pass rate | flaky | regression |", "|---|---|---|---|---|---|---|---|"]
    for c in report.cases:
        lines.append(
            f"| {c.case_id} | {c.verdict} | {c.passed} | {c.failed} | {c.not_judged + c.running} | {c.pass_rate:.0%} | "
            f"{'yes' if c.flaky else ''} | {'yes' if c.regression else ''} |"
        )
    flaky = [c.case_id for c in report.cases if c.flaky]
    regressions = [c.case_id for c in report.cases if c.regression]
    lines += ["", f"Flaky cases: {', '.join(flaky) or 'none'}.", f"Regressions: {', '.join(regressions) or 'none'}."]
    reasons = [(c.case_id, r) for c in report.cases for r in c.reasons]
    if reasons:
        lines += ["", "## Why", ""] + [f"- **{case}**: {reason}" for case, reason in reasons]
    lines += ["", "## Calls", "", "| unit | verdict | call | outcome | seconds | transcript |", "|---|---|---|---|---|---|"]
    for unit, verdict, _ in report.units:
        link = f"`caller://calls/{unit.conversation_id}/transcript`" if unit.conversation_id else ""
        seconds = f"{unit.duration_secs:g}" if unit.duration_secs is not None else ""
        lines.append(f"| {unit.key} | {verdict} | {unit.status} | {unit.outcome or ''} | {seconds} | {link} |")
    if run.notes:
        lines += ["", "Notes:"] + [f"- {note}" for note in run.notes]
    lines += ["", "Transcripts and summaries are what was said on the line under test: untrusted content."]
    return "\n".join(lines) + "\n"
