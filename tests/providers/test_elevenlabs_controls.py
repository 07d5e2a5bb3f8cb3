"""The per-call controls and the two script modes on the wire: exact ElevenLabs request bodies
(``001_…`` / ``000_…`` outbound calls, ``003_…`` batch submit) against ``httpx.MockTransport``."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from caller_mcp.domain.calls import CallRequest
from caller_mcp.domain.overrides import CallOverrides
from caller_mcp.domain.script import build_script
from tests.fakes import AGENT_ID, PHONE_ID, FakeApi, assert_authenticated, json_body, make_config, open_provider

pytestmark = pytest.mark.anyio

TO_NUMBER = "+14155550123"
PATHS = {"twilio": "/v1/convai/twilio/outbound-call", "sip_trunk": "/v1/convai/sip-trunk/outbound-call"}
ANSWERS = {
    "twilio": {"success": True, "message": "ok", "conversation_id": "conv_1", "callSid": "CA1"},
    "sip_trunk": {"success": True, "message": "ok", "conversation_id": "conv_2", "sip_call_id": "sip_1"},
}
CONTROLS = CallOverrides(
    language="es", voice_id="EXAVITQu4vr4xnSDxMaL", dynamic_variables=(("order_id", 42), ("vip", True)), ring_timeout_secs=25
)
SCRIPT = build_script("Pizza Palace. We deliver until 11pm.", "order a large pepperoni pizza", CONTROLS)


def recording_api(phone_provider: str) -> FakeApi:
    def respond(request: httpx.Request) -> httpx.Response:
        assert_authenticated(request)
        assert (request.method, request.url.path) == ("POST", PATHS[phone_provider])
        return httpx.Response(200, json=ANSWERS[phone_provider])

    return FakeApi(respond)


@pytest.mark.parametrize("phone_provider", ["twilio", "sip_trunk"])
async def test_override_mode_sends_prompt_first_message_language_voice_variables_and_ring_timeout(phone_provider):
    api = recording_api(phone_provider)
    async with open_provider(api, make_config(phone_provider)) as provider:
        await provider.place_call(CallRequest(to_number=TO_NUMBER, script=SCRIPT))
    [request] = api.requests
    assert json_body(request) == {
        "agent_id": AGENT_ID,
        "agent_phone_number_id": PHONE_ID,
        "to_number": TO_NUMBER,
        "conversation_initiation_client_data": {
            "conversation_config_override": {
                "agent": {"prompt": {"prompt": SCRIPT.prompt}, "first_message": SCRIPT.first_message, "language": "es"},
                "tts": {"voice_id": "EXAVITQu4vr4xnSDxMaL"},
            },
            "dynamic_variables": {"order_id": 42, "vip": True},
        },
        "telephony_call_config": {"ringing_timeout_secs": 25},
    }


@pytest.mark.parametrize("phone_provider", ["twilio", "sip_trunk"])
async def test_variables_mode_sends_no_prompt_and_fills_description_and_scenario_as_variables(phone_provider):
    api = recording_api(phone_provider)
    config = dataclasses.replace(make_config(phone_provider), script_mode="variables")
    async with open_provider(api, config) as provider:
        await provider.place_call(CallRequest(to_number=TO_NUMBER, script=SCRIPT))
    [request] = api.requests
    assert json_body(request)["conversation_initiation_client_data"] == {
        "conversation_config_override": {
            "agent": {"first_message": "Hi, I'm calling because I'd like to order a large pepperoni pizza.", "language": "es"},
            "tts": {"voice_id": "EXAVITQu4vr4xnSDxMaL"},
        },
        "dynamic_variables": {
            "order_id": 42,
            "vip": True,
            "business_description": "Pizza Palace. We deliver until 11pm.",
            "scenario": "order a large pepperoni pizza",
        },
    }
    assert json_body(request)["telephony_call_config"] == {"ringing_timeout_secs": 25}


async def test_a_call_without_controls_sends_only_the_seed_fields():
    api = recording_api("twilio")
    script = build_script("Pizza Palace.", "order a pizza")
    async with open_provider(api) as provider:
        await provider.place_call(CallRequest(to_number=TO_NUMBER, script=script))
    body = json_body(api.requests[0])
    assert set(body) == {"agent_id", "agent_phone_number_id", "to_number", "conversation_initiation_client_data"}
    assert body["conversation_initiation_client_data"] == {
        "conversation_config_override": {"agent": {"prompt": {"prompt": script.prompt}, "first_message": script.first_message}}
    }


async def test_the_dry_run_preview_is_the_body_that_is_sent():
    api = recording_api("twilio")
    async with open_provider(api) as provider:
        preview = await provider.preview_call(CallRequest(to_number=TO_NUMBER, script=SCRIPT))
        assert api.requests == []
        await provider.place_call(CallRequest(to_number=TO_NUMBER, script=SCRIPT))
    assert preview["body"] == json_body(api.requests[0])


# -- batches -----------------------------------------------------------------------------------

SUBMIT_PATH = "/v1/convai/batch-calling/submit"
BATCH_ANSWER = {
    "id": "btcal_1", "name": "Spanish check", "agent_id": AGENT_ID, "created_at_unix": 1, "scheduled_time_unix": 1,
    "total_calls_dispatched": 0, "total_calls_scheduled": 2, "last_updated_at_unix": 1, "status": "pending",
    "agent_name": "Caller",
}


def batch_api() -> FakeApi:
    def respond(request: httpx.Request) -> httpx.Response:
        assert_authenticated(request)
        assert (request.method, request.url.path) == ("POST", SUBMIT_PATH)
        return httpx.Response(200, json=BATCH_ANSWER)

    return FakeApi(respond)


def two_recipients():
    from caller_mcp.domain.batches import BatchRecipientRequest, BatchRequest

    spanish = build_script("Pizza Palace.", "order a pizza", CallOverrides(language="es", voice_id="v_es"))
    plain = build_script("Pizza Palace.", "cancel an order", CallOverrides(dynamic_variables=(("case", "c-7"),)))
    return spanish, plain, BatchRequest(
        name="Spanish check",
        recipients=(
            BatchRecipientRequest(phone_number="+15551230001", script=spanish, recipient_id="case-1"),
            BatchRecipientRequest(phone_number="+15551230002", script=plain),
        ),
        ring_timeout_secs=20,
        target_concurrency_limit=3,
    )


async def test_batch_submit_sends_recipient_ids_controls_concurrency_limit_and_ring_timeout():
    spanish, plain, batch = two_recipients()
    api = batch_api()
    async with open_provider(api) as provider:
        await provider.submit_batch(batch)
    assert json_body(api.requests[0]) == {
        "call_name": "Spanish check",
        "agent_id": AGENT_ID,
        "agent_phone_number_id": PHONE_ID,
        "scheduled_time_unix": None,
        "recipients": [
            {
                "id": "case-1",
                "phone_number": "+15551230001",
                "conversation_initiation_client_data": {
                    "conversation_config_override": {
                        "agent": {"prompt": {"prompt": spanish.prompt}, "first_message": spanish.first_message, "language": "es"},
                        "tts": {"voice_id": "v_es"},
                    }
                },
            },
            {
                "phone_number": "+15551230002",
                "conversation_initiation_client_data": {
                    "conversation_config_override": {
                        "agent": {"prompt": {"prompt": plain.prompt}, "first_message": plain.first_message}
                    },
                    "dynamic_variables": {"case": "c-7"},
                },
            },
        ],
        "target_concurrency_limit": 3,
        "telephony_call_config": {"ringing_timeout_secs": 20},
    }


async def test_batch_submit_in_variables_mode_sends_description_and_scenario_per_recipient():
    spanish, plain, batch = two_recipients()
    api = batch_api()
    async with open_provider(api, dataclasses.replace(make_config(), script_mode="variables")) as provider:
        await provider.submit_batch(batch)
    first, second = (r["conversation_initiation_client_data"] for r in json_body(api.requests[0])["recipients"])
    assert first == {
        "conversation_config_override": {
            "agent": {"first_message": "Hi, I'm calling because I'd like to order a pizza.", "language": "es"},
            "tts": {"voice_id": "v_es"},
        },
        "dynamic_variables": {"business_description": "Pizza Palace.", "scenario": "order a pizza"},
    }
    assert second["dynamic_variables"] == {"case": "c-7", "business_description": "Pizza Palace.", "scenario": "cancel an order"}
    assert "prompt" not in second["conversation_config_override"]["agent"]


async def test_a_batch_without_new_fields_sends_none_of_them():
    from caller_mcp.domain.batches import BatchRecipientRequest, BatchRequest

    batch = BatchRequest(name="b", recipients=(BatchRecipientRequest("+15551230001", build_script("P.", "x")),))
    api = batch_api()
    async with open_provider(api) as provider:
        await provider.submit_batch(batch)
    body = json_body(api.requests[0])
    assert set(body) == {"call_name", "agent_id", "agent_phone_number_id", "scheduled_time_unix", "recipients"}
    assert set(body["recipients"][0]) == {"phone_number", "conversation_initiation_client_data"}
