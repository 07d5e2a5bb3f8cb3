"""Prices before dialling and costs afterwards, through the in-memory MCP client on the sandbox."""

from __future__ import annotations

import anyio
import httpx
import pytest
from mcp import Client
from mcp_types import ElicitResult

from caller_mcp.domain.script import build_script
from caller_mcp.mcp.server import build_server
from caller_mcp.sandbox.app import AGENTS, llm_price_per_minute
from caller_mcp.settings import Settings
from tests.fakes import PIZZA

pytestmark = pytest.mark.anyio


def text(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def call(client, name: str, **arguments):
    with anyio.fail_after(10):
        return await client.call_tool(name, arguments)


def expected_price(description: str, scenario: str) -> float:
    return llm_price_per_minute(AGENTS["agent_sandbox"]["llm"], len(build_script(description, scenario).prompt))


async def test_estimate_cost_is_the_agents_llm_price_times_minutes_times_calls(connect, sandbox_app):
    async with connect() as client:
        result = await call(client, "estimate_cost", calls=40, expected_minutes=2.5, business_description=PIZZA, scenario="order a pizza")
    assert not result.is_error, text(result)
    answer = result.structured_content
    per_minute = expected_price(PIZZA, "order a pizza")
    assert answer["llm"] == "gemini-2.0-flash" and answer["usd_per_minute"] == per_minute
    assert answer["estimated_usd"] == round(per_minute * 2.5 * 40, 6)
    assert "LLM part only" in answer["basis"] and "Approximate" in answer["basis"]
    assert sandbox_app.state.sandbox.calls == {}


async def test_estimate_cost_uses_the_stored_context_and_asks_for_a_description_without_one(connect):
    async with connect() as client:
        missing = await call(client, "estimate_cost")
        await call(client, "set_business_context", description=PIZZA, scenario="order a pizza")
        stored = await call(client, "estimate_cost")
    assert missing.is_error and "Provide a business description first." in text(missing)
    assert stored.structured_content["estimated_usd"] == round(expected_price(PIZZA, "order a pizza") * 3, 6)


@pytest.mark.parametrize(("arguments", "message"), [({"calls": 0}, "calls must be"), ({"expected_minutes": 0}, "expected_minutes must be")])
async def test_bad_estimate_arguments_are_refused(connect, arguments, message):
    async with connect() as client:
        result = await call(client, "estimate_cost", business_description=PIZZA, **arguments)
    assert result.is_error and message in text(result)


async def test_dry_runs_carry_the_estimate(connect, sandbox_app):
    async with connect() as client:
        single = await call(client, "place_call", to_number="+15551234567", business_description=PIZZA, scenario="order a pizza", dry_run=True)
        batch = await call(client, "submit_batch", recipients=["+15551230010", "+15551230020"], business_description=PIZZA, scenario="order a pizza", dry_run=True)
    per_minute = expected_price(PIZZA, "order a pizza")
    assert single.structured_content["cost_estimate"]["estimated_usd"] == round(per_minute * 3, 6)
    assert batch.structured_content["cost_estimate"]["estimated_usd"] == round(per_minute * 3 * 2, 6)
    assert batch.structured_content["cost_estimate"]["calls"] == 2


async def test_the_confirmation_question_names_the_estimate(db_path, sandbox_app):
    seen: list[str] = []

    async def answer(context, params):
        seen.append(params.message)
        return ElicitResult(action="decline")

    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_confirm="always")
    async with Client(build_server(settings, transport=httpx.ASGITransport(app=sandbox_app)), elicitation_callback=answer) as client:
        await call(client, "place_call", to_number="+15551234567", business_description=PIZZA, scenario="order a pizza")
        await call(client, "submit_batch", recipients=["+15551230010"] * 1 + ["+15551230020"], business_description=PIZZA)
    assert "Estimated LLM cost: about $" in seen[0] and "1 call × 3 min" in seen[0] and "LLM part only, approximate" in seen[0]
    assert "2 calls × 3 min" in seen[1]


async def test_costs_afterwards_carry_units_and_a_batch_sums_its_recorded_calls(connect, sandbox_app, clock):
    async with connect() as client:
        submitted = await call(client, "submit_batch", recipients=["+15551230010", "+15551230020"], business_description=PIZZA)
        batch_id = submitted.structured_content["batch_id"]
        clock.advance(60)
        status = (await call(client, "get_batch_status", batch_id=batch_id)).structured_content
        assert "cost" not in status  # no call read yet: nothing to sum
        reads = [
            (await call(client, "get_call", call_id=r["conversation_id"])).structured_content for r in status["recipients"]
        ]
        summed = (await call(client, "get_batch_status", batch_id=batch_id)).structured_content
    for read in reads:
        sim = sandbox_app.state.sandbox.calls[read["conversation_id"]].conversation(clock())["metadata"]
        assert (read["cost"], read["cost_unit"], read["cost_usd"]) == (sim["cost"], "credits", sim["cost_fiat"])
    assert summed["cost"] == sum(r["cost"] for r in reads) and summed["cost_unit"] == "credits"
    assert summed["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in reads)) and summed["costed_calls"] == 2


async def test_talkifai_gives_no_estimate_and_says_so(tmp_path):
    settings = Settings(_env_file=None, caller_mcp_db=tmp_path / "db", caller_mcp_provider="talkifai")
    async with Client(build_server(settings), raise_exceptions=True) as client:
        result = await call(client, "estimate_cost", business_description=PIZZA)
        dry = await call(client, "place_call", to_number="+15551230000", business_description=PIZZA, dry_run=True)
    assert result.is_error and "The talkifai provider does not support a cost estimate before dialling" in text(result)
    assert dry.structured_content["cost_estimate"]["note"] == "talkifai gives no price before dialling."
