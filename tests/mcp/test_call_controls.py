"""Per-call controls through the in-memory MCP client on the sandbox: a Spanish call with another
voice, dynamic variables and a ring timeout reach the provider, are shown by dry runs and
questions, are stored with the call, and bad or unsupported ones are refused before any request."""

from __future__ import annotations

import anyio
import httpx
import pytest
from mcp import Client

from caller_mcp.mcp.server import build_server
from caller_mcp.settings import Settings
from tests.fakes import PIZZA

pytestmark = pytest.mark.anyio

SPANISH = {
    "language": "es",
    "voice_id": "EXAVITQu4vr4xnSDxMaL",
    "dynamic_variables": {"order_id": 42, "vip": True, "note": "extra cheese"},
    "ring_timeout_secs": 25,
}


def text(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def call(client, name: str, **arguments):
    with anyio.fail_after(10):
        return await client.call_tool(name, arguments)


async def test_a_spanish_call_with_another_voice_reaches_the_sandbox_and_is_stored(connect, sandbox_app, clock):
    async with connect() as client:
        placed = await call(client, "place_call", to_number="+15551234567", business_description=PIZZA, scenario="order a pizza", **SPANISH)
        assert not placed.is_error, text(placed)
        conversation_id = placed.structured_content["conversation_id"]
        clock.advance(30)
        read = await call(client, "get_call", call_id=placed.structured_content["call_id"])
        listed = await call(client, "list_calls")
    sim = sandbox_app.state.sandbox.calls[conversation_id]
    assert sim.language == "es" and sim.ring_timeout_secs == 25
    override = sim.client_data["conversation_config_override"]
    assert override["tts"] == {"voice_id": "EXAVITQu4vr4xnSDxMaL"}
    assert sim.client_data["dynamic_variables"] == {"order_id": 42, "vip": True, "note": "extra cheese"}
    answer = read.structured_content
    assert answer["status"] == "done"
    assert answer["controls"] == SPANISH  # stored with the call, integers kept integers
    assert listed.structured_content["calls"][0]["call_id"] == placed.structured_content["call_id"]


async def test_variables_mode_fills_the_agents_own_prompt_on_the_sandbox(settings, sandbox_app, clock):
    variables = settings.model_copy(update={"elevenlabs_script_mode": "variables"})
    server = build_server(variables, transport=httpx.ASGITransport(app=sandbox_app))
    async with Client(server, raise_exceptions=True) as client:
        dry = await call(client, "place_call", to_number="+15551234567", business_description=PIZZA, scenario="order a pizza", dry_run=True)
        placed = await call(client, "place_call", to_number="+15551234567", business_description=PIZZA, scenario="order a pizza")
        assert not placed.is_error, text(placed)
        clock.advance(30)
        read = await call(client, "get_call", call_id=placed.structured_content["call_id"])
    body = dry.structured_content["request"]["body"]["conversation_initiation_client_data"]
    assert "prompt" not in body["conversation_config_override"]["agent"]
    assert body["dynamic_variables"] == {"business_description": PIZZA, "scenario": "order a pizza"}
    sim = sandbox_app.state.sandbox.calls[placed.structured_content["conversation_id"]]
    assert "Business description: " + PIZZA in sim.prompt and "Caller goal: order a pizza" in sim.prompt
    assert "{{" not in sim.prompt
    assert read.structured_content["outcome"] == "success"


async def test_a_dry_run_shows_every_control_in_the_exact_request(connect, sandbox_app):
    async with connect() as client:
        dry = await call(client, "place_call", to_number="+15551234567", business_description=PIZZA, dry_run=True, **SPANISH)
    assert not dry.is_error, text(dry)
    body = dry.structured_content["request"]["body"]
    assert body["conversation_initiation_client_data"]["conversation_config_override"]["agent"]["language"] == "es"
    assert body["conversation_initiation_client_data"]["conversation_config_override"]["tts"]["voice_id"] == SPANISH["voice_id"]
    assert body["conversation_initiation_client_data"]["dynamic_variables"] == SPANISH["dynamic_variables"]
    assert body["telephony_call_config"] == {"ringing_timeout_secs": 25}
    assert sandbox_app.state.sandbox.calls == {}


@pytest.mark.parametrize(
    ("controls", "message"),
    [
        ({"language": "spanish"}, "language must be an ISO 639-1 language code"),
        ({"voice_id": "not a voice"}, "voice_id must be a voice id"),
        ({"dynamic_variables": {"items": [1]}}, "dynamic_variables.items must be a string, a number or a boolean"),
        ({"dynamic_variables": {"scenario": "x"}}, "dynamic_variables.scenario is reserved"),
        ({"ring_timeout_secs": 2}, "ring_timeout_secs must be whole seconds from 5 to 600"),
    ],
)
async def test_a_bad_control_is_refused_naming_it_and_nothing_is_requested(connect, sandbox_app, db_path, controls, message):
    async with connect() as client:
        result = await call(client, "place_call", to_number="+15551234567", business_description=PIZZA, **controls)
        listed = await call(client, "list_calls")
    assert result.is_error and message in text(result)
    assert sandbox_app.state.sandbox.calls == {}
    assert listed.structured_content["calls"] == []


async def test_an_override_the_agent_does_not_allow_fails_the_conversation_with_the_providers_words(connect, sandbox_app, clock, monkeypatch):
    from caller_mcp.sandbox import app as sandbox_module

    agent = dict(sandbox_module.AGENTS["agent_sandbox"], allowed_overrides=("agent.prompt.prompt", "agent.first_message"))
    monkeypatch.setitem(sandbox_module.AGENTS, "agent_sandbox", agent)
    async with connect() as client:
        placed = await call(client, "place_call", to_number="+15551234567", business_description=PIZZA, language="es")
        clock.advance(30)
        read = await call(client, "get_call", call_id=placed.structured_content["call_id"])
    assert read.structured_content["status"] == "failed"
    assert read.structured_content["termination_reason"] == "Override for field 'agent.language' is not allowed by config."


async def test_talkifai_refuses_controls_it_cannot_send_before_any_request(tmp_path):
    settings = Settings(_env_file=None, caller_mcp_db=tmp_path / "db", caller_mcp_provider="talkifai")
    server = build_server(settings)  # the TalkifAI sandbox, built in
    async with Client(server, raise_exceptions=True) as client:
        result = await call(
            client, "place_call", to_number="+15551230000", business_description=PIZZA, language="es", ring_timeout_secs=20
        )
        listed = await call(client, "list_calls")
    assert result.is_error
    message = text(result)
    assert "The talkifai provider does not support a per-call language (language); a ringing timeout (ring_timeout_secs)" in message
    assert "Nothing was dialled" in message
    assert listed.structured_content["calls"] == []
