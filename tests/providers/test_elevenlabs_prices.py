"""The price before dialling against ``httpx.MockTransport``: the agent's LLM from
``GET /v1/convai/agents/{id}``, its price from ``POST /v1/convai/llm-usage/calculate`` (seed
``003_…``), both cached per process."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from caller_mcp.domain.calls import llm_estimate_usd
from caller_mcp.domain.script import AGENT_PROMPT_TEMPLATE, build_script
from caller_mcp.errors import ProviderError
from tests.fakes import AGENT_ID, FakeApi, assert_authenticated, json_body, make_config, open_provider

pytestmark = pytest.mark.anyio

AGENT_PATH = f"/v1/convai/agents/{AGENT_ID}"
USAGE_PATH = "/v1/convai/llm-usage/calculate"
AGENT = {"agent_id": AGENT_ID, "conversation_config": {"agent": {"prompt": {"prompt": AGENT_PROMPT_TEMPLATE, "llm": "gpt-4o-mini"}}}}


def prices_api(agent=AGENT, prices=None) -> FakeApi:
    def respond(request: httpx.Request) -> httpx.Response:
        assert_authenticated(request)
        if (request.method, request.url.path) == ("GET", AGENT_PATH):
            return httpx.Response(200, json=agent)
        assert (request.method, request.url.path) == ("POST", USAGE_PATH)
        length = json_body(request)["prompt_length"]
        listed = prices if prices is not None else [
            {"llm": "gpt-4o", "price_per_minute": 0.01},
            {"llm": "gpt-4o-mini", "price_per_minute": round(0.0002 + length / 10_000_000, 7)},
        ]
        return httpx.Response(200, json={"llm_prices": listed})

    return FakeApi(respond)


async def test_the_price_is_the_agents_llm_for_the_caller_prompts_length_and_is_cached():
    api = prices_api()
    short, long = build_script("Pizza Palace.", "order a pizza"), build_script("Pizza Palace. " * 20, "order a pizza")
    async with open_provider(api) as provider:
        first = await provider.llm_price(short)
        again = await provider.llm_price(short)
        other = await provider.llm_price(long)
    assert [(r.method, r.url.path) for r in api.requests] == [("GET", AGENT_PATH), ("POST", USAGE_PATH), ("POST", USAGE_PATH)]
    assert json_body(api.requests[1]) == {"prompt_length": len(short.prompt), "number_of_pages": 0, "rag_enabled": False}
    assert json_body(api.requests[2])["prompt_length"] == len(long.prompt)
    assert first == again and first.llm == "gpt-4o-mini" and first.prompt_length == len(short.prompt)
    assert first.usd_per_minute == round(0.0002 + len(short.prompt) / 10_000_000, 7)
    assert other.usd_per_minute > first.usd_per_minute
    assert llm_estimate_usd(first, 10, 3) == round(first.usd_per_minute * 3 * 10, 6)


async def test_in_variables_mode_the_length_is_the_agents_own_prompt_filled_in():
    api = prices_api()
    script = build_script("Pizza Palace.", "order a pizza")
    async with open_provider(api, dataclasses.replace(make_config(), script_mode="variables")) as provider:
        price = await provider.llm_price(script)
    filled = AGENT_PROMPT_TEMPLATE.replace("{{business_description}}", "Pizza Palace.").replace("{{scenario}}", "order a pizza")
    assert price.prompt_length == len(filled) == len(script.prompt)


async def test_an_agent_without_an_llm_or_an_unpriced_llm_is_a_provider_error():
    async with open_provider(prices_api(agent={"conversation_config": {"agent": {"prompt": {}}}})) as provider:
        with pytest.raises(ProviderError, match="names no LLM"):
            await provider.llm_price(build_script("P.", "x"))
    async with open_provider(prices_api(prices=[{"llm": "gpt-4o", "price_per_minute": 0.01}])) as provider:
        with pytest.raises(ProviderError, match="lists no price for the agent's LLM gpt-4o-mini"):
            await provider.llm_price(build_script("P.", "x"))
