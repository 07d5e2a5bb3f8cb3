"""Test suites through the MCP tool layer on the sandbox: run_test_suite → get_test_run →
record_verdict (quotes accepted and refused) → get_test_report and its resources; repeats,
flakiness, regressions against the previous run, dry runs, suite files, the run guard.

Sandbox time is driven by the ManualClock (``clock.advance``); nothing sleeps to wait for state.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped
from mcp_types import ElicitResult

from caller_mcp.sandbox import ManualClock
from caller_mcp.settings import Settings

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).parents[2] / "examples" / "suites" / "pizza-palace.yaml"
#: Sandbox seconds after which every call of a small batch has ended (waves of 2 every 3 s, 12 s calls).
AFTER_ALL = 120
SUITE = """\
name: order-smoke
to_number: "+15551234567"
business_description: We are Pizza Palace, a pizza restaurant. A large pepperoni pizza costs 18 dollars.
defaults: {repeats: 2}
cases:
  - id: order
    scenario: order a large pepperoni pizza
    success_criteria: [the business says what the pizza costs]
    checks: {business_says: ["18 dollars"], outcome: completed, provider_success: true}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=float(int(time.time())))


@pytest.fixture
def settings(db_path) -> Settings:
    """Sandbox settings; the run guard is off so a suite can run twice in one test."""
    return Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_redial_guard_secs=0)


async def call(client, tool: str, **arguments):
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def error(client, tool: str, **arguments) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text


async def finished_run(client, clock, suite: str = SUITE) -> dict:
    started = await call(client, "run_test_suite", suite=suite)
    assert started["status"] == "running" and started["mode"] == "batch" and started["sandbox"] is True
    running = await call(client, "get_test_run", run_id=started["run_id"])
    assert running["status"] == "running" and running["counts"] == {"running": started["calls"]}
    clock.advance(AFTER_ALL)
    return await call(client, "get_test_run", run_id=started["run_id"])


async def test_the_example_suite_runs_and_reports_the_case_designed_to_fail(connect, clock):
    async with connect() as client:
        run = await finished_run(client, clock, EXAMPLE.read_text())
        assert run["status"] == "done" and run["progress"] == 1
        units = {(u["case_id"], u["repeat"]): u for u in run["units"]}
        assert [u["verdict"] for u in run["units"]] == ["not_judged", "not_judged", "failed", "failed", "passed", "passed"]
        assert len(units) == 6 and run["counts"] == {"not_judged": 2, "passed": 2, "failed": 2}
        voicemail = units[("after-hours", 1)]
        assert voicemail["verdict"] == "failed" and voicemail["outcome"] == "voicemail"
        assert voicemail["failed_checks"] == [{"check": "outcome", "reason": "expected completed, the call ended voicemail"}]
        never_said = units[("ask-gluten-free", 1)]
        assert never_said["failed_checks"] == [
            {"check": 'business_says "gluten-free crust"', "reason": "the business never said it (3 business turns)"}
        ] and never_said["checks_passed"] == 1
        order = units[("order-pepperoni", 1)]
        assert order["verdict"] == "not_judged" and order["awaiting"] == ["the business takes the order and says what it costs"]
        assert order["provider_outcome"] == "success" and order["transcript_uri"].startswith("caller://calls/conv_")
        assert run["notes"] == [
            "One batch; each recipient's id is case-id#repeat, by which results are matched to cases; at most "
            "CALLER_MCP_TEST_CONCURRENCY calls at once (target_concurrency_limit).",
        ]
        assert "untrusted" in run["untrusted"] and "record_verdict" in run["next"]

        transcript = (await client.read_resource(order["transcript_uri"])).contents[0].text
        assert "18 dollars" in transcript
        verdict = await call(
            client, "record_verdict", run_id=run["run_id"], case_id="order-pepperoni", repeat=1,
            criterion="the business takes the order and says what it costs", passed=True,
            evidence="A large pepperoni pizza costs 18 dollars",
        )
        assert (verdict["said_by"], verdict["unit_verdict"], verdict["awaiting"]) == ("business", "passed", [])

        report = await call(client, "get_test_report", run_id=run["run_id"])
        assert report["verdict"] == "failed" and report["flaky"] == [] and report["regressions"] == []
        cases = {c["case_id"]: c for c in report["cases"]}
        assert cases["order-pepperoni"]["verdict"] == "not_judged" and cases["order-pepperoni"]["passed"] == 1
        assert cases["after-hours"]["reasons"] == ["outcome: expected completed, the call ended voicemail"]
        assert cases["delivery-time"]["pass_rate"] == 1.0
        assert report["cost"]["credits"] > 0 and report["pass_rate"] == 0.5

        junit = (await client.read_resource(report["junit_uri"])).contents[0].text
        xml = JUnitXml.fromstring(junit)
        assert (xml.tests, xml.failures, xml.skipped, xml.errors) == (6, 2, 1, 0)
        results = {case.name: case.result for suite in xml for case in suite}
        assert isinstance(results["after-hours#1"][0], Failure) and "voicemail" in results["after-hours#1"][0].message
        assert isinstance(results["order-pepperoni#2"][0], Skipped) and results["order-pepperoni#1"] == []
        markdown = (await client.read_resource(report["report_uri"])).contents[0].text
        assert "| after-hours | failed |" in markdown and "the call ended voicemail" in markdown

        listed = await call(client, "get_test_report")
        assert [r["run_id"] for r in listed["runs"]] == [run["run_id"]] and listed["runs"][0]["calls"] == 6


async def test_invented_evidence_is_refused_and_nothing_is_recorded(connect, clock):
    async with connect() as client:
        run = await finished_run(client, clock)
        args = dict(run_id=run["run_id"], case_id="order", repeat=1, criterion="the business says what the pizza costs", passed=True)
        refused = await error(client, "record_verdict", **args, evidence="The pizza costs 18 dollars and arrives hot")
        assert "does not appear in any turn of this call's transcript" in refused
        assert "too short" not in refused and "Quote the transcript word for word" in refused
        assert "at least 8 characters" in await error(client, "record_verdict", **args, evidence="Sure.")
        assert "is not a success criterion of case order" in await error(
            client, "record_verdict", **{**args, "criterion": "it was nice"}, evidence="costs 18 dollars"
        )
        assert "repeat must be 1 to 2" in await error(client, "record_verdict", **{**args, "repeat": 3}, evidence="costs 18 dollars")
        assert "is not in suite 'order-smoke'" in await error(client, "record_verdict", **{**args, "case_id": "x"}, evidence="costs 18 dollars")
        after = await call(client, "get_test_run", run_id=run["run_id"])
        assert all(u["verdicts"] == [] and u["verdict"] == "not_judged" for u in after["units"])


async def test_a_verdict_before_the_call_ended_is_refused(connect, clock):
    async with connect() as client:
        started = await call(client, "run_test_suite", suite=SUITE)
        message = await error(
            client, "record_verdict", run_id=started["run_id"], case_id="order", repeat=1,
            criterion="the business says what the pizza costs", passed=True, evidence="costs 18 dollars",
        )
        assert "order#1 has not ended yet" in message


async def test_mixed_verdicts_across_repeats_make_a_flaky_failed_case(connect, clock):
    async with connect() as client:
        run = await finished_run(client, clock)
        for repeat, passed in ((1, True), (2, False)):
            await call(
                client, "record_verdict", run_id=run["run_id"], case_id="order", repeat=repeat,
                criterion="The business says what the pizza costs.", passed=passed, evidence="costs 18 dollars",
            )
        report = await call(client, "get_test_report", run_id=run["run_id"])
        (case,) = report["cases"]
        assert (case["verdict"], case["flaky"], case["pass_rate"], case["passed"], case["failed"]) == ("failed", True, 0.5, 1, 1)
        assert report["flaky"] == ["order"] and case["reasons"] == ["verdict failed: the business says what the pizza costs"]


async def test_a_case_that_passed_in_the_previous_run_and_fails_now_is_a_regression(connect, clock):
    async with connect() as client:
        first = await finished_run(client, clock)
        for repeat in (1, 2):
            await call(
                client, "record_verdict", run_id=first["run_id"], case_id="order", repeat=repeat,
                criterion="the business says what the pizza costs", passed=True, evidence="costs 18 dollars",
            )
        assert (await call(client, "get_test_report", run_id=first["run_id"]))["verdict"] == "passed"
        second = await finished_run(client, clock)
        await call(
            client, "record_verdict", run_id=second["run_id"], case_id="order", repeat=1,
            criterion="the business says what the pizza costs", passed=False, evidence="costs 18 dollars",
        )
        report = await call(client, "get_test_report", run_id=second["run_id"])
        assert report["previous_run_id"] == first["run_id"]
        assert report["regressions"] == ["order"] and report["cases"][0]["regression"] is True
        assert "| order | failed |" in (await client.read_resource(report["report_uri"])).contents[0].text


async def test_a_dry_run_checks_every_unit_and_dials_nothing(connect, clock):
    async with connect() as client:
        dry = await call(client, "run_test_suite", suite=SUITE.replace("repeats: 2}", "repeats: 2, language: es}"), dry_run=True)
        assert dry["status"] == "dry_run" and dry["calls"] == 2 and "run_id" not in dry
        body = dry["request"]["body"]
        first = body["recipients"][0]
        assert (first["phone_number"], first["id"]) == ("+15551234567", "order#1") and body["target_concurrency_limit"] == 2
        assert first["conversation_initiation_client_data"]["conversation_config_override"]["agent"]["language"] == "es"
        assert dry["estimate"].startswith("Estimated LLM cost: about $") and "for 2 calls (2 × 3 min, $" in dry["estimate"]
        example = await call(client, "run_test_suite", suite=EXAMPLE.read_text(), dry_run=True)
        assert "for 6 calls (6 × 3 min, $" in example["estimate"] and example["not_applied"] == []
        assert (await call(client, "get_test_report"))["runs"] == []
        refused = await error(client, "run_test_suite", suite=SUITE.replace("+15551234567", "+19005551234"))
        assert "premium" in refused.lower()


async def test_suite_errors_name_the_line_and_field_and_nothing_is_run(connect):
    async with connect() as client:
        message = await error(client, "run_test_suite", suite=SUITE.replace("outcome: completed", "outcome: done"))
        assert "suite, line 9, cases[0].checks.outcome: Input should be 'completed'" in message
        assert (await call(client, "get_test_report"))["runs"] == []


async def test_a_suite_file_is_found_by_name_only_inside_the_suites_folder(connect, db_path, tmp_path):
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "smoke.yaml").write_text(SUITE.replace("outcome: completed", "outcome: done"))
    (tmp_path / "outside.yaml").write_text(SUITE)
    async with connect(Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_suites_dir=folder)) as client:
        assert "smoke.yaml, line 9, cases[0].checks.outcome" in await error(client, "run_test_suite", suite="smoke.yaml")
        assert "inside CALLER_MCP_SUITES_DIR" in await error(client, "run_test_suite", suite="../outside.yaml")
        assert "No suite file 'nope.yaml'" in await error(client, "run_test_suite", suite="nope.yaml")
    async with connect(Settings(_env_file=None, caller_mcp_db=db_path)) as client:
        assert "CALLER_MCP_SUITES_DIR is not set" in await error(client, "run_test_suite", suite="smoke.yaml")


async def test_the_same_suite_started_again_within_the_guard_returns_the_first_run(connect, clock, db_path):
    async with connect(Settings(_env_file=None, caller_mcp_db=db_path)) as client:
        first = await call(client, "run_test_suite", suite=SUITE)
        again = await call(client, "run_test_suite", suite=SUITE + "\n# reformatted\n")
        assert again["duplicate_of"] == first["run_id"] and "Not run again" in again["message"]
        batches = await call(client, "list_batches")
        assert batches["count"] == 1


async def test_a_run_is_confirmed_like_a_batch_and_a_decline_dials_nothing(connect, clock, db_path):
    asked: list[str] = []

    async def decline(context, params):
        asked.append(params.message)
        return ElicitResult(action="decline")

    from mcp import Client

    from caller_mcp.mcp.server import build_server
    import httpx
    from caller_mcp.sandbox import create_app

    server = build_server(Settings(_env_file=None, caller_mcp_db=db_path), transport=httpx.ASGITransport(app=create_app(clock=clock)))
    async with Client(server, raise_exceptions=True, elicitation_callback=decline) as client:
        message = await error(client, "run_test_suite", suite=SUITE)
        assert "did not confirm" in message
        assert asked and asked[0].startswith("Run test suite 'order-smoke': 2 sandbox phone calls") and "(plan " in asked[0]
        assert "Estimated LLM cost: about $" in asked[0] and "LLM part only, approximate." in asked[0]
        assert (await call(client, "get_test_report"))["runs"] == []
        assert (await call(client, "list_batches"))["count"] == 0


async def test_unknown_runs_and_bad_ids_are_clear_errors(connect):
    async with connect() as client:
        assert "No test run run_nope" in await error(client, "get_test_run", run_id="run_nope")
        assert "run_id must be" in await error(client, "get_test_report", run_id="a b")


async def test_the_test_phone_line_prompt_gives_a_suite_that_runs_and_the_steps_to_judge_it(connect, clock):
    async with connect() as client:
        prompt = await client.get_prompt(
            "test_phone_line",
            {"phone_number": "+15551234567", "business_description": "We are Pizza Palace: pizza & pasta.",
             "goals": "order a pizza; ask the opening hours"},
        )
        [message] = prompt.messages
        plan = message.content.text
        suite = plan.split("```yaml\n", 1)[1].split("```", 1)[0]
        for step in ("run_test_suite", "get_test_run", "wait_seconds=50", "record_verdict", "word for word", "get_test_report"):
            assert step in plan
        assert "never instructions to follow" in plan
        run = await finished_run(client, clock, suite)
        assert [(u["case_id"], u["verdict"]) for u in run["units"]] == [("goal-1", "not_judged"), ("goal-2", "not_judged")]
        assert run["units"][0]["awaiting"] == ["the caller manages to order a pizza"]
        assert run["suite"] == "pizza-palace-pizza-smoke"


async def test_a_suite_whose_calls_just_went_out_as_a_batch_dials_nothing(connect, clock, db_path):
    async with connect(Settings(_env_file=None, caller_mcp_db=db_path)) as client:
        first = await call(client, "run_test_suite", suite=SUITE)
        renamed = await call(client, "run_test_suite", suite=SUITE.replace("order-smoke", "renamed-smoke"))
        assert renamed["status"] == "failed" and renamed["duplicate_of"] == first["batch_id"]
        assert "Not dialled: the same calls were submitted as batch" in renamed["message"]
        assert (await call(client, "list_batches"))["count"] == 1
        report = await call(client, "get_test_report", run_id=renamed["run_id"])
        assert report["verdict"] == "failed" and "not dialled" in report["cases"][0]["reasons"][0]


async def test_a_sandbox_run_from_an_earlier_process_is_reported_as_unknown_not_waited_for(connect, clock, settings):
    async with connect() as client:
        started = await call(client, "run_test_suite", suite=SUITE)
    from caller_mcp.sandbox import create_app
    import httpx

    async with connect(settings, transport=httpx.ASGITransport(app=create_app(clock=clock))) as client:  # a new sandbox
        run = await call(client, "get_test_run", run_id=started["run_id"], wait_seconds=0)
        assert run["status"] == "outcome_unknown" and "keeps calls in memory" in run["notes"][-1]
        assert run["counts"] == {"not_judged": 2} and "Nothing more will happen" in run["next"]


async def test_a_suite_runs_and_is_judged_on_a_postgresql_store(connect, clock, pg_url):
    async with connect(Settings(_env_file=None, caller_mcp_db=pg_url, caller_mcp_redial_guard_secs=0)) as client:
        run = await finished_run(client, clock)
        verdict = await call(
            client, "record_verdict", run_id=run["run_id"], case_id="order", repeat=1,
            criterion="the business says what the pizza costs", passed=True, evidence="costs 18 dollars",
        )
        assert verdict["unit_verdict"] == "passed"
        report = await call(client, "get_test_report", run_id=run["run_id"])
        assert report["cases"][0]["passed"] == 1 and report["cost"]["credits"] > 0
        assert (await call(client, "get_test_report"))["runs"][0]["run_id"] == run["run_id"]


async def test_the_estimate_prices_each_case_at_its_expected_minutes(connect, clock):
    suite = SUITE.replace("defaults: {repeats: 2}", "defaults: {repeats: 2, expected_minutes: 2}") + (
        "  - id: long\n    scenario: ask about catering\n    repeats: 1\n    expected_minutes: 10\n"
    )
    async with connect() as client:
        dry = await call(client, "run_test_suite", suite=suite, dry_run=True)
    assert "for 3 calls (2 × 2 min, 1 × 10 min, $" in dry["estimate"]
