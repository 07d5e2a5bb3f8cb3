"""Test suites from outside the process: the tools over stdio as an MCP client runs them, and
``caller-mcp test`` as a CI pipeline runs it (exit codes 0 / 1 / 2, the JUnit file read back)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest
from junitparser import Failure, JUnitXml, Skipped
from mcp import Client, StdioServerParameters

from tests.e2e.test_cli import SCRIPT, clean_env

EXAMPLE = Path(__file__).parents[2] / "examples" / "suites" / "pizza-palace.yaml"
PASSING = """\
name: hours-smoke
to_number: "+15551234567"
business_description: We are Pizza Palace. We are open every day from 11 am to 11 pm.
cases:
  - id: hours
    scenario: ask what time the restaurant is open today
    checks: {business_says: ["11 am to 11 pm"], outcome: completed, max_duration_secs: 60}
"""


def run_cli(tmp_path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SCRIPT, "test", *args], env=env or clean_env(tmp_path), capture_output=True, text=True, timeout=120, cwd=tmp_path
    )


def test_the_example_suite_exits_1_and_writes_a_junit_file_a_ci_can_read(tmp_path):
    done = run_cli(tmp_path, str(EXAMPLE), "--junit", "report.xml", "--markdown", "report.md")
    assert done.returncode == 1, done.stderr
    assert "100%" in done.stderr and "6/6" in done.stderr  # the progress bar
    assert "FAILED     after-hours (0/1 passed) — outcome: expected completed, the call ended voicemail" in done.stdout
    xml = JUnitXml.fromfile(str(tmp_path / "report.xml"))
    assert (xml.tests, xml.failures, xml.skipped, xml.errors) == (6, 2, 2, 0)
    cases = {case.name: case for suite in xml for case in suite}
    assert isinstance(cases["ask-gluten-free#1"].result[0], Failure)
    assert "never said it" in cases["ask-gluten-free#1"].result[0].message
    assert isinstance(cases["order-pepperoni#1"].result[0], Skipped)
    assert "awaiting a verdict" in cases["order-pepperoni#1"].result[0].message
    assert cases["delivery-time#1"].is_passed
    assert "| after-hours | failed |" in (tmp_path / "report.md").read_text()


def test_a_suite_whose_checks_pass_exits_0(tmp_path):
    (tmp_path / "hours.yaml").write_text(PASSING)
    done = run_cli(tmp_path, "hours.yaml", "--junit", "hours.xml")
    assert done.returncode == 0, done.stdout + done.stderr
    xml = JUnitXml.fromfile(str(tmp_path / "hours.xml"))
    assert (xml.tests, xml.failures, xml.skipped, xml.errors) == (1, 0, 0, 0)


def test_require_verdicts_turns_criteria_without_a_verdict_into_failures(tmp_path):
    (tmp_path / "judged.yaml").write_text(PASSING + "    success_criteria: [the business gives its hours]\n")
    assert run_cli(tmp_path, "judged.yaml").returncode == 0
    env = {**clean_env(tmp_path), "CALLER_MCP_REDIAL_GUARD_SECS": "0"}
    done = run_cli(tmp_path, "judged.yaml", "--require-verdicts", "--junit", "judged.xml", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    (case,) = [case for suite in JUnitXml.fromfile(str(tmp_path / "judged.xml")) for case in suite]
    assert isinstance(case.result[0], Failure) and "awaiting a verdict" in case.result[0].message


def test_usage_and_configuration_errors_exit_2_with_the_reason(tmp_path):
    (tmp_path / "bad.yaml").write_text(PASSING.replace("outcome: completed", "outcome: done"))
    bad = run_cli(tmp_path, "bad.yaml", "--junit", "bad.xml")
    assert bad.returncode == 2 and "bad.yaml, line 7, cases[0].checks.outcome" in bad.stderr
    assert not (tmp_path / "bad.xml").exists()
    assert run_cli(tmp_path, "missing.yaml").returncode == 2
    assert run_cli(tmp_path).returncode == 2  # argparse: the suite is required
    env = {**clean_env(tmp_path), "ELEVENLABS_API_KEY": "sk_only_the_key"}
    keys = run_cli(tmp_path, str(EXAMPLE), env=env)
    assert keys.returncode == 2 and "Missing required environment variables" in keys.stderr
    assert "sk_only_the_key" not in keys.stderr + keys.stdout
    talkifai = {**clean_env(tmp_path), "CALLER_MCP_PROVIDER": "talkifai", "CALLER_MCP_SANDBOX": "true"}
    unsupported = run_cli(tmp_path, str(EXAMPLE), env=talkifai)
    assert unsupported.returncode == 2 and "cannot run on talkifai" in unsupported.stderr


def test_a_dry_run_checks_the_suite_and_dials_nothing(tmp_path):
    done = run_cli(tmp_path, str(EXAMPLE), "--dry-run")
    assert done.returncode == 0 and "Dry run: 6 calls checked (batch); nothing was dialled." in done.stdout


@pytest.mark.anyio
async def test_an_agent_runs_judges_and_reports_a_suite_over_stdio(tmp_path):
    env = {**clean_env(tmp_path), "CALLER_MCP_PROVIDER": "sandbox", "CALLER_MCP_SANDBOX_SPEED": "100"}
    with anyio.fail_after(60):
        async with Client(StdioServerParameters(command=SCRIPT, env=env)) as client:
            started = (await client.call_tool("run_test_suite", {"suite": EXAMPLE.read_text()})).structured_content
            for _ in range(10):
                result = await client.call_tool("get_test_run", {"run_id": started["run_id"], "wait_seconds": 20})
                run = result.structured_content
                if run["status"] == "done":
                    break
            assert run["status"] == "done" and run["counts"]["failed"] == 2
            order = next(u for u in run["units"] if u["case_id"] == "order-pepperoni")
            transcript = (await client.read_resource(order["transcript_uri"])).contents[0].text
            quote = next(line for line in transcript.splitlines() if "18 dollars" in line).split(": ", 1)[1]
            verdict = await client.call_tool(
                "record_verdict",
                {"run_id": started["run_id"], "case_id": "order-pepperoni", "repeat": 1,
                 "criterion": order["awaiting"][0], "passed": True, "evidence": quote},
            )
            assert not verdict.is_error and verdict.structured_content["unit_verdict"] == "passed"
            invented = await client.call_tool(
                "record_verdict",
                {"run_id": started["run_id"], "case_id": "order-pepperoni", "repeat": 2,
                 "criterion": order["awaiting"][0], "passed": True, "evidence": "Your order will be there in ten minutes"},
            )
            assert invented.is_error and "does not appear" in invented.content[0].text
            report = (await client.call_tool("get_test_report", {"run_id": started["run_id"]})).structured_content
            order_case = next(c for c in report["cases"] if c["case_id"] == "order-pepperoni")
            assert report["verdict"] == "failed" and order_case["passed"] == 1
            assert [c["verdict"] for c in report["cases"]][:2] == ["failed", "failed"]  # failures first
            junit = (await client.read_resource(report["junit_uri"])).contents[0].text
            assert JUnitXml.fromstring(junit).tests == 6
