"""Plan once, ask the person, send what they confirmed.

With a client that can confirm (elicitation), the question ends with the plan's fingerprint,
the request that reaches the provider is the plan's, and the plan — every dial-policy check —
is made once per tool call: ``DialPolicy.check`` runs once per recipient (it ran twice per
recipient before the rebuild: once to word the question, once to send).

Both protocol eras are covered. Up to 2025-11-25 (``mode="legacy"``) the question is a request
sent in the middle of the one ``tools/call``. From 2026-07-28 (stateless) the SDK answers the
first ``tools/call`` with ``InputRequiredResult`` and the client calls again with the answer:
two requests, and the SDK re-runs the resolvers in each. There the plan is made once per
request, both rounds' plans carry the same fingerprint, and the question is asked once.
"""

from __future__ import annotations

import re

import httpx
import pytest
from mcp import Client
from mcp_types import ElicitResult

from caller_mcp.app import dialling
from caller_mcp.domain.policy import DialPolicy
from caller_mcp.mcp.sdk import StrictTool
from caller_mcp.mcp.server import build_server
from caller_mcp.providers.elevenlabs.mapping import client_data
from caller_mcp.settings import Settings
from tests.fakes import PIZZA

pytestmark = pytest.mark.anyio

LEGACY, STATELESS = "legacy", "2026-07-28"
ERAS = pytest.mark.parametrize("mode", [LEGACY, STATELESS])
PLAN = re.compile(r"\n\(plan ([0-9a-f]{12})\)$")
NUMBERS = ["+15551230000", "+15551230001", "+15551230002", "+15551230003"]  # completed, failed, failed, voicemail


def text(result) -> str:
    return result.content[0].text


class Asked:
    """An elicitation callback that records each question and gives one answer."""

    def __init__(self, action: str = "accept", confirm: bool = True) -> None:
        self.action, self.confirm = action, confirm
        self.questions: list[str] = []

    async def __call__(self, context, params):
        self.questions.append(params.message)
        return ElicitResult(action=self.action, content={"confirm": self.confirm} if self.action == "accept" else None)

    def fingerprints(self) -> list[str]:
        found = [PLAN.search(q) for q in self.questions]
        assert all(found), self.questions
        return [m.group(1) for m in found]


@pytest.fixture
def plans(monkeypatch):
    """Every plan the dialling use cases make, by kind (the real plans, recorded)."""
    made: dict[str, list] = {"call": [], "batch": [], "retry": []}

    def spy(kind, real):
        async def planned(*args, **kwargs):
            made[kind].append(await real(*args, **kwargs))
            return made[kind][-1]
        return planned

    monkeypatch.setattr(dialling, "plan_call", spy("call", dialling.plan_call))
    monkeypatch.setattr(dialling, "plan_batch", spy("batch", dialling.plan_batch))
    monkeypatch.setattr(dialling, "plan_retry", spy("retry", dialling.plan_retry))
    return made


@pytest.fixture
def checks(monkeypatch):
    """The numbers ``DialPolicy.check`` was asked about, in order."""
    seen: list[object] = []
    real = DialPolicy.check

    def counted(self, to_number):
        seen.append(to_number)
        return real(self, to_number)

    monkeypatch.setattr(DialPolicy, "check", counted)
    return seen


@pytest.fixture
def rounds(monkeypatch):
    """How many ``tools/call`` requests reached each tool (one per round on the stateless protocol)."""
    seen: dict[str, int] = {}
    real = StrictTool.run

    async def counted(self, arguments, context, convert_result=False):
        seen[self.name] = seen.get(self.name, 0) + 1
        return await real(self, arguments, context, convert_result=convert_result)

    monkeypatch.setattr(StrictTool, "run", counted)
    return seen


def server_on(settings, sandbox_app):
    return build_server(settings, transport=httpx.ASGITransport(app=sandbox_app))


def connected(settings, sandbox_app, mode: str, asked: Asked | None = None) -> Client:
    kwargs = {} if asked is None else {"elicitation_callback": asked}
    return Client(server_on(settings, sandbox_app), mode=mode, **kwargs)


@ERAS
async def test_call_question_carries_the_plan_fingerprint_and_the_sent_call_is_the_plan(
    db_path, sandbox_app, plans, checks, rounds, mode
):
    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_confirm="always")
    asked = Asked()
    async with connected(settings, sandbox_app, mode, asked) as client:
        result = await client.call_tool(
            "place_call", {"to_number": "+15551234567", "business_description": PIZZA, "scenario": "order a pizza"}
        )
    assert not result.is_error, text(result)
    assert rounds["place_call"] == (1 if mode == LEGACY else 2)
    assert len(plans["call"]) == rounds["place_call"]  # planned once per request
    plan = plans["call"][-1]
    [question] = asked.questions  # asked once
    assert question.startswith("Place a sandbox phone call to +15551234567?\nScenario: order a pizza\n")
    assert asked.fingerprints() == [plan.fingerprint]
    assert {p.fingerprint for p in plans["call"]} == {plan.fingerprint}
    assert checks == ["+15551234567"] * rounds["place_call"]  # one policy check per plan
    call = sandbox_app.state.sandbox.calls[result.structured_content["conversation_id"]]
    assert (call.to_number, call.prompt, call.first_message) == (
        plan.to_number, plan.request.script.prompt, plan.request.script.first_message
    )
    # The fingerprint in the question is that of the request the sandbox received.
    assert dialling.fingerprint(["elevenlabs", call.to_number, call.prompt, call.first_message]) == plan.fingerprint


@ERAS
async def test_a_declined_call_is_planned_once_per_request_and_not_dialled(
    db_path, sandbox_app, plans, checks, rounds, mode
):
    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_confirm="always")
    asked = Asked("decline")
    async with connected(settings, sandbox_app, mode, asked) as client:
        result = await client.call_tool("place_call", {"to_number": "+15551234567", "business_description": PIZZA})
    assert result.is_error and "did not confirm" in text(result)
    assert len(plans["call"]) == rounds["place_call"] == (1 if mode == LEGACY else 2)
    assert asked.fingerprints() == [plans["call"][0].fingerprint]
    assert checks == ["+15551234567"] * rounds["place_call"]
    assert sandbox_app.state.sandbox.calls == {}


@ERAS
async def test_batch_question_carries_the_plan_fingerprint_and_the_submitted_batch_is_the_plan(
    settings, sandbox_app, plans, rounds, mode
):
    asked = Asked()
    recipients = [*NUMBERS[:2], {"phone_number": NUMBERS[2], "scenario": "ask the opening hours"}]
    async with connected(settings, sandbox_app, mode, asked) as client:
        result = await client.call_tool(
            "submit_batch", {"recipients": recipients, "business_description": PIZZA, "call_name": "plan once"}
        )
    assert not result.is_error, text(result)
    assert len(plans["batch"]) == rounds["submit_batch"] == (1 if mode == LEGACY else 2)
    plan = plans["batch"][-1]
    [question] = asked.questions
    assert question.startswith("Submit 3 sandbox phone calls (batch 'plan once') to +15551230000, +15551230001")
    assert asked.fingerprints() == [plan.fingerprint]
    assert {p.fingerprint for p in plans["batch"]} == {plan.fingerprint}
    batch = sandbox_app.state.sandbox.batches[result.structured_content["batch_id"]]
    assert batch.name == plan.request.name
    sent = [(r.phone_number, r.client_data) for r in batch.recipients]
    assert sent == [(r.phone_number, client_data(r.script)) for r in plan.request.recipients]
    assert sent[2][1] != sent[0][1]  # its own scenario was sent, as planned


@ERAS
@pytest.mark.parametrize(
    ("confirm", "action", "dry_run", "asks"),
    [
        ("batch", "accept", False, True),  # asked and confirmed
        ("batch", "decline", False, True),  # asked and declined
        ("batch", None, False, False),  # a client without elicitation: not asked
        ("never", "accept", False, False),
        ("batch", "accept", True, False),  # a dry run is not asked
    ],
)
async def test_submit_batch_checks_each_recipient_once_per_tool_call(
    db_path, sandbox_app, checks, plans, rounds, mode, confirm, action, dry_run, asks
):
    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_confirm=confirm)
    asked = None if action is None else Asked(action)
    arguments = {"recipients": NUMBERS, "business_description": PIZZA, "dry_run": dry_run}
    per_call = 2 if asks and mode == STATELESS else 1  # requests per tool call
    async with connected(settings, sandbox_app, mode, asked) as client:
        await client.call_tool("submit_batch", arguments)
        assert rounds["submit_batch"] == per_call
        assert checks == NUMBERS * per_call
        await client.call_tool("submit_batch", {**arguments, "allow_resubmit": True})  # not the duplicate guard's
    assert rounds["submit_batch"] == 2 * per_call
    assert checks == NUMBERS * 2 * per_call  # once per recipient per request: never twice in one
    assert len(plans["batch"]) == 2 * per_call
    assert len(asked.questions if asked else []) == (2 if asks else 0)


@ERAS
async def test_place_call_checks_the_number_once_per_tool_call(db_path, sandbox_app, checks, rounds, mode):
    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_confirm="always")
    async with connected(settings, sandbox_app, mode, Asked()) as client:
        for scenario in ("order a pizza", "ask the hours"):
            result = await client.call_tool(
                "place_call", {"to_number": "+15551234567", "business_description": PIZZA, "scenario": scenario}
            )
            assert not result.is_error, text(result)
    assert rounds["place_call"] == (2 if mode == LEGACY else 4)
    assert checks == ["+15551234567"] * rounds["place_call"]
    assert len(sandbox_app.state.sandbox.calls) == 2


@ERAS
async def test_retry_question_carries_the_plan_fingerprint_and_checks_each_number_once(
    db_path, sandbox_app, clock, plans, checks, rounds, mode
):
    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_confirm="batch")
    asked = Asked()
    async with connected(settings, sandbox_app, mode, asked) as client:
        submitted = await client.call_tool("submit_batch", {"recipients": NUMBERS, "business_description": PIZZA})
        batch_id = submitted.structured_content["batch_id"]
        clock.advance(300)
        checks.clear()
        retried = await client.call_tool("retry_batch", {"batch_id": batch_id})
    assert not retried.is_error, text(retried)
    assert len(plans["retry"]) == rounds["retry_batch"] == (1 if mode == LEGACY else 2)
    plan = plans["retry"][-1]
    assert sorted(plan.numbers) == NUMBERS[1:]  # failed twice and voicemail
    assert retried.structured_content["recipients_retried"] == 3
    assert sorted(checks) == sorted(NUMBERS[1:] * rounds["retry_batch"])  # once each per request
    assert len(asked.questions) == 2 and asked.questions[1].startswith("Call 3 recipients of batch")
    assert asked.fingerprints()[1] == plan.fingerprint == dialling.fingerprint(["elevenlabs", batch_id, plan.numbers])
    assert {p.fingerprint for p in plans["retry"]} == {plan.fingerprint}
