"""Test runs over HTTP: a token without calls:write can neither run a suite nor record a verdict;
each principal lists its own runs, and the run guard, like the redial guard, is the team's."""

from __future__ import annotations

import pytest

from .conftest import mcp_client, serving
from .test_oauth import jwks_url, mint, oauth_settings, signing_key  # noqa: F401 - fixtures

pytestmark = pytest.mark.anyio

SUITE = """\
name: web-smoke
to_number: "+15551234567"
business_description: We are Pizza Palace. We open at 11 am.
cases:
  - id: hours
    scenario: ask the opening hours
    success_criteria: [the business gives its hours]
"""


async def test_a_read_only_token_cannot_run_a_suite_or_judge_it(oauth_settings, mint, build_web):  # noqa: F811
    with serving(build_web(oauth_settings)) as url:
        async with mcp_client(url, mint()) as writer:
            started = await writer.call_tool("run_test_suite", {"suite": SUITE})
            assert not started.is_error, started.content
        async with mcp_client(url, mint(sub="reader", scope="calls:read")) as reader:
            refused = await reader.call_tool("run_test_suite", {"suite": SUITE.replace("web-smoke", "other")})
            verdict = await reader.call_tool(
                "record_verdict",
                {"run_id": started.structured_content["run_id"], "case_id": "hours", "repeat": 1,
                 "criterion": "the business gives its hours", "passed": True, "evidence": "We open at 11 am"},
            )
            read = await reader.call_tool("get_test_run", {"run_id": started.structured_content["run_id"]})
    assert refused.is_error and "no calls:write scope" in refused.content[0].text and "run test suites" in refused.content[0].text
    assert verdict.is_error and "record verdicts" in verdict.content[0].text
    assert not read.is_error


async def test_each_principal_lists_its_own_runs_and_the_run_guard_is_shared(web_settings, make_token, build_web):
    alice, bob = make_token("alice"), make_token("bob")
    with serving(build_web(web_settings)) as url:
        async with mcp_client(url, alice) as a, mcp_client(url, bob) as b:
            started = (await a.call_tool("run_test_suite", {"suite": SUITE})).structured_content
            again = (await b.call_tool("run_test_suite", {"suite": SUITE})).structured_content
            alices = (await a.call_tool("get_test_report", {})).structured_content["runs"]
            bobs = (await b.call_tool("get_test_report", {})).structured_content["runs"]
    assert again["duplicate_of"] == started["run_id"]
    assert [r["run_id"] for r in alices] == [started["run_id"]] and bobs == []
