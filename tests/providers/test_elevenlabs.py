"""ElevenLabsProvider against ``httpx.MockTransport`` handlers that play the ElevenLabs API.

Each handler checks the exact method, path, headers and JSON body of the request it receives,
then answers the way ``shared/reference`` (``000_…``, ``001_…``, ``003_…``) says the API answers,
error bodies included.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from urllib.parse import unquote

import anyio
import httpx
import pytest

from caller_mcp.domain.batches import BatchRecipientRequest, BatchRequest
from caller_mcp.domain.calls import CallRequest
from caller_mcp.domain.script import CallerScript
from caller_mcp.errors import OutcomeUnknown, ProviderError, ProviderStatusError, ProviderUnreachable
from caller_mcp.providers import build_provider
from caller_mcp.providers.elevenlabs import ElevenLabsConfig, ElevenLabsProvider
from caller_mcp.providers.http import MAX_DETAIL_CHARS
from caller_mcp.settings import Settings
from tests.fakes import (
    AGENT_ID,
    BASE,
    KEY,
    PHONE_ID,
    FakeApi,
    FakeSleep,
    assert_authenticated,
    error_answer,
    json_body,
    make_config,
    open_provider,
    raises,
)

TO_NUMBER = "+14155550123"
PROMPT = "You are a customer calling Joe's Pizza. Goal: order a large margherita for pickup."
FIRST_MESSAGE = "Hi, is this Joe's Pizza?"
CLIENT_DATA = {
    "conversation_config_override": {"agent": {"prompt": {"prompt": PROMPT}, "first_message": FIRST_MESSAGE}}
}
SCRIPT = CallerScript(
    business_description="Joe's Pizza", scenario="order a large margherita for pickup", prompt=PROMPT, first_message=FIRST_MESSAGE
)
TWILIO_PATH = "/v1/convai/twilio/outbound-call"
SIP_PATH = "/v1/convai/sip-trunk/outbound-call"
SUBMIT_PATH = "/v1/convai/batch-calling/submit"
LOOKUP_PATH = f"/v1/convai/phone-numbers/{PHONE_ID}"

CALL_BODY = {
    "agent_id": AGENT_ID,
    "agent_phone_number_id": PHONE_ID,
    "to_number": TO_NUMBER,
    "conversation_initiation_client_data": CLIENT_DATA,
}
TWILIO_ANSWER = {
    "success": True,
    "message": "Outbound call initiated successfully.",
    "conversation_id": "conv_1",
    "callSid": "CA123",
}
SIP_ANSWER = {
    "success": True,
    "message": "Outbound call initiated successfully.",
    "conversation_id": "conv_2",
    "sip_call_id": "sip_abc",
}
BATCH_ANSWER = {  # BatchCallResponse (003_…)
    "id": "btcal_1",
    "phone_number_id": PHONE_ID,
    "phone_provider": "twilio",
    "name": "Friday pizza check",
    "agent_id": AGENT_ID,
    "created_at_unix": 1_760_000_000,
    "scheduled_time_unix": 1_760_003_600,
    "total_calls_dispatched": 0,
    "total_calls_scheduled": 2,
    "last_updated_at_unix": 1_760_000_005,
    "status": "pending",
    "agent_name": "Test caller",
}


# -- helpers ---------------------------------------------------------------------------------------


def expect(method: str, raw_path: str, body=None, *, has_body: bool = True):
    """Assert the request line, auth headers and (optionally) the exact JSON body."""

    def check(request: httpx.Request) -> None:
        assert request.method == method
        assert request.url.raw_path.decode() == raw_path
        assert_authenticated(request)
        if has_body:
            assert json_body(request) == body
        else:
            assert request.content == b""

    return check


def assert_no_secret(exc: BaseException, config: ElevenLabsConfig | None = None) -> None:
    for text in (str(exc), repr(exc), repr(exc.args), str(exc.__cause__), repr(exc.__cause__)):
        assert KEY not in text
    assert KEY not in repr(config or make_config())


def one_call() -> CallRequest:
    return CallRequest(to_number=TO_NUMBER, script=SCRIPT)


# -- outbound calls ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_twilio_call_posts_seed_body_and_reads_call_sid():
    check = expect("POST", TWILIO_PATH, CALL_BODY)

    def respond(request):
        check(request)
        return httpx.Response(200, json=TWILIO_ANSWER)

    api = FakeApi(respond)
    async with open_provider(api) as provider:
        result = await provider.place_call(one_call())

    assert result.telephony_ref == "CA123"
    assert result.provider_ref == "conv_1"
    assert result.line == "twilio"
    assert result.message == "Outbound call initiated successfully."
    assert result.raw == TWILIO_ANSWER
    assert [(r.method, r.url.path) for r in api.requests] == [("POST", TWILIO_PATH)]


@pytest.mark.anyio
async def test_direct_construction_with_base_url_client_posts_to_twilio_endpoint():
    check = expect("POST", TWILIO_PATH, CALL_BODY)

    def respond(request):
        check(request)
        return httpx.Response(200, json=TWILIO_ANSWER)

    api = FakeApi(respond)
    client = httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(api))
    provider = ElevenLabsProvider(make_config(), client)
    try:
        result = await provider.place_call(one_call())
    finally:
        await provider.aclose()
    assert result.telephony_ref == "CA123" and provider.name == "elevenlabs"
    assert api.count("POST") == 1


@pytest.mark.anyio
async def test_sip_trunk_call_posts_to_sip_endpoint_and_reads_sip_call_id():
    check = expect("POST", SIP_PATH, CALL_BODY)

    def respond(request):
        check(request)
        return httpx.Response(200, json=SIP_ANSWER)

    api = FakeApi(respond)
    async with open_provider(api, make_config("sip_trunk")) as provider:
        result = await provider.place_call(one_call())

    assert result.telephony_ref == "sip_abc"
    assert result.provider_ref == "conv_2"
    assert result.line == "sip_trunk"
    assert result.raw == SIP_ANSWER
    assert [(r.method, r.url.path) for r in api.requests] == [("POST", SIP_PATH)]


# -- phone_provider="auto" ---------------------------------------------------------------------------


def auto_api(provider_name: str, *, on_lookup: Callable[[], None] | None = None) -> FakeApi:
    """An API whose phone number uses ``provider_name`` and which places calls on either endpoint."""
    lookup = expect("GET", LOOKUP_PATH, has_body=False)

    def respond(request):
        if request.method == "GET":
            lookup(request)
            return httpx.Response(
                200,
                json={
                    "phone_number": "+14155550100",
                    "label": "Test line",
                    "phone_number_id": PHONE_ID,
                    "provider": provider_name,
                },
            )
        path = request.url.path
        expect("POST", path, CALL_BODY)(request)
        return httpx.Response(200, json=SIP_ANSWER if path == SIP_PATH else TWILIO_ANSWER)

    return FakeApi(respond)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("provider_name", "path", "call_sid"), [("sip_trunk", SIP_PATH, "sip_abc"), ("twilio", TWILIO_PATH, "CA123")]
)
async def test_auto_looks_up_phone_number_once_and_reuses_its_provider(provider_name, path, call_sid):
    api = auto_api(provider_name)
    async with open_provider(api, make_config("auto")) as provider:
        results = [await provider.place_call(one_call()) for _ in range(3)]

    assert [r.telephony_ref for r in results] == [call_sid] * 3
    assert {r.line for r in results} == {provider_name}
    assert api.count("GET") == 1 and api.count("GET", LOOKUP_PATH) == 1
    assert api.count("POST") == 3 and api.count("POST", path) == 3
    assert api.requests[0].method == "GET"  # the lookup comes before the first call


@pytest.mark.anyio
async def test_auto_concurrent_calls_share_a_single_lookup():
    release = anyio.Event()
    requests: list[httpx.Request] = []
    sync_api = auto_api("sip_trunk")

    async def handler(request):
        requests.append(request)
        if request.method == "GET":
            await release.wait()  # hold the lookup open while the other calls pile up
        return sync_api.respond(request)

    results = []

    async def call(provider):
        results.append(await provider.place_call(one_call()))

    settings = Settings(
        _env_file=None,
        elevenlabs_api_key=KEY,
        elevenlabs_agent_id=AGENT_ID,
        elevenlabs_agent_phone_number_id=PHONE_ID,
        elevenlabs_phone_provider="auto",
    )
    provider = build_provider("elevenlabs", settings, transport=httpx.MockTransport(handler))
    try:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(call, provider)
                await anyio.wait_all_tasks_blocked()
                assert sum(r.method == "GET" for r in requests) == 1
                release.set()
    finally:
        await provider.aclose()

    assert sum(r.method == "GET" for r in requests) == 1
    assert sum(r.method == "POST" and r.url.path == SIP_PATH for r in requests) == 5
    assert [r.telephony_ref for r in results] == ["sip_abc"] * 5


@pytest.mark.anyio
async def test_auto_lookup_naming_unsupported_provider_raises_and_places_no_call():
    api = auto_api("vonage")
    config = make_config("auto")
    async with open_provider(api, config) as provider:
        with pytest.raises(ProviderError) as info:
            await provider.place_call(one_call())

    message = str(info.value)
    assert "ELEVENLABS_PHONE_PROVIDER" in message
    assert "'vonage'" in message and PHONE_ID in message
    assert api.count("GET", LOOKUP_PATH) == 1 and api.count("POST") == 0
    assert_no_secret(info.value, config)


@pytest.mark.anyio
async def test_auto_lookup_percent_encodes_the_phone_number_id():
    seen = []

    def respond(request):
        seen.append((request.method, request.url.raw_path))
        if request.method == "GET":
            return httpx.Response(200, json={"provider": "twilio"})
        return httpx.Response(200, json=TWILIO_ANSWER)

    api = FakeApi(respond)
    async with open_provider(api, make_config("auto", phone_id="ph/../x")) as provider:
        await provider.place_call(one_call())
    method, raw_path = seen[0]
    assert method == "GET"
    assert one_segment_after(raw_path, b"/v1/convai/phone-numbers/") == "ph/../x"


# -- batch calling -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_batch_submit_posts_each_recipient_with_its_client_data_and_reads_batch():
    other_data = {
        "conversation_config_override": {"agent": {"prompt": {"prompt": "Ask for opening hours."}, "first_message": "Hello!"}}
    }
    other_script = CallerScript(
        business_description="Joe's Pizza", scenario="ask for opening hours", prompt="Ask for opening hours.", first_message="Hello!"
    )
    check = expect(
        "POST",
        SUBMIT_PATH,
        {
            "call_name": "Friday pizza check",
            "agent_id": AGENT_ID,
            "agent_phone_number_id": PHONE_ID,
            "scheduled_time_unix": 1_760_003_600,
            "recipients": [
                {"phone_number": TO_NUMBER, "conversation_initiation_client_data": CLIENT_DATA},
                {"phone_number": "+442071838750", "conversation_initiation_client_data": other_data},
            ],
        },
    )

    def respond(request):
        check(request)
        return httpx.Response(200, json=BATCH_ANSWER)

    api = FakeApi(respond)
    submission = BatchRequest(
        name="Friday pizza check",
        scheduled_time_unix=1_760_003_600,
        recipients=(
            BatchRecipientRequest(phone_number=TO_NUMBER, script=SCRIPT),
            BatchRecipientRequest(phone_number="+442071838750", script=other_script),
        ),
    )
    async with open_provider(api) as provider:
        batch = await provider.submit_batch(submission)

    assert batch.batch_id == "btcal_1"
    assert batch.name == "Friday pizza check"
    assert batch.status == "pending"
    assert batch.raw["agent_id"] == AGENT_ID
    assert batch.raw["phone_provider"] == "twilio"
    assert batch.created_at == 1_760_000_000
    assert batch.scheduled_time_unix == 1_760_003_600
    assert batch.last_updated_at == 1_760_000_005
    assert batch.total_calls_scheduled == 2 and batch.total_calls_dispatched == 0
    assert batch.recipients == ()
    assert batch.raw == BATCH_ANSWER
    assert api.count("POST") == 1 and len(api.requests) == 1


@pytest.mark.anyio
async def test_a_batch_of_many_pieces_is_posted_as_one_body_with_one_client_data_per_script(monkeypatch):
    from caller_mcp.providers.elevenlabs import client as elevenlabs_client

    monkeypatch.setattr(elevenlabs_client, "BATCH_PIECE_RECIPIENTS", 2)
    numbers = [f"+1555123{i:04d}" for i in range(5)]
    submission = BatchRequest(
        name="pieces", recipients=tuple(BatchRecipientRequest(phone_number=n, script=SCRIPT) for n in numbers)
    )
    bodies = []

    def respond(request):
        bodies.append((request.headers["content-length"], request.content))
        return httpx.Response(200, json=BATCH_ANSWER)

    api = FakeApi(respond)
    async with open_provider(api) as provider:
        await provider.submit_batch(submission)
        pieces = list(provider.batch_pieces(submission))
        request = provider.batch_request(submission)
    [(length, content)] = bodies
    assert len(pieces) == 5  # head, three pieces of recipients, tail
    assert int(length) == len(content) and json.loads(content) == request
    assert [r["phone_number"] for r in request["recipients"]] == numbers
    datas = [r["conversation_initiation_client_data"] for r in request["recipients"]]
    assert datas[0] == CLIENT_DATA and all(d is datas[0] for d in datas)  # one object per distinct script


@pytest.mark.anyio
async def test_batch_submit_without_schedule_sends_null_time():
    def respond(request):
        assert json_body(request)["scheduled_time_unix"] is None
        return httpx.Response(200, json=BATCH_ANSWER)

    api = FakeApi(respond)
    submission = BatchRequest(name="now", recipients=(BatchRecipientRequest(phone_number=TO_NUMBER, script=SCRIPT),))
    async with open_provider(api) as provider:
        await provider.submit_batch(submission)
    assert api.count("POST", SUBMIT_PATH) == 1


@pytest.mark.anyio
async def test_batch_get_reads_every_recipient():
    recipients = [
        {
            "id": "rcp_1",
            "phone_number": TO_NUMBER,
            "status": "completed",
            "created_at_unix": 1_760_000_000,
            "updated_at_unix": 1_760_000_300,
            "conversation_id": "conv_10",
        },
        {
            "id": "rcp_2",
            "phone_number": "+442071838750",
            "status": "dispatched",
            "created_at_unix": 1_760_000_000,
            "updated_at_unix": 1_760_000_200,
            "conversation_id": None,
        },
    ]
    answer = {**BATCH_ANSWER, "status": "in_progress", "total_calls_dispatched": 2, "recipients": recipients}
    check = expect("GET", "/v1/convai/batch-calling/btcal_1", has_body=False)

    def respond(request):
        check(request)
        return httpx.Response(200, json=answer)

    api = FakeApi(respond)
    async with open_provider(api) as provider:
        batch = await provider.get_batch("btcal_1")

    assert batch.batch_id == "btcal_1" and batch.status == "in_progress"
    assert batch.total_calls_dispatched == 2
    assert [(r.recipient_id, r.phone_number, r.status, r.call_ref, r.updated_at) for r in batch.recipients] == [
        ("rcp_1", TO_NUMBER, "completed", "conv_10", 1_760_000_300),
        ("rcp_2", "+442071838750", "dispatched", None, 1_760_000_200),
    ]
    assert "recipients" not in batch.raw
    assert len(api.requests) == 1


@pytest.mark.anyio
async def test_batch_cancel_posts_to_cancel_endpoint_and_reads_new_status():
    check = expect("POST", "/v1/convai/batch-calling/btcal_1/cancel", has_body=False)

    def respond(request):
        check(request)
        return httpx.Response(200, json={**BATCH_ANSWER, "status": "cancelled"})

    api = FakeApi(respond)
    async with open_provider(api) as provider:
        batch = await provider.cancel_batch("btcal_1")

    assert batch.batch_id == "btcal_1" and batch.status == "cancelled"
    assert api.count("POST") == 1 and len(api.requests) == 1


@pytest.mark.anyio
async def test_batch_answer_without_id_is_a_provider_error():
    api = FakeApi(lambda request: httpx.Response(200, json={"name": "x", "status": "pending"}))
    async with open_provider(api) as provider:
        with pytest.raises(ProviderError, match="no batch id"):
            await provider.get_batch("btcal_1")


# -- path safety -------------------------------------------------------------------------------------


def one_segment_after(raw_path: bytes, prefix: bytes, suffix: bytes = b"") -> str:
    """Assert ``raw_path`` is ``prefix + <one segment> + suffix``; return the decoded segment."""
    assert raw_path.startswith(prefix) and raw_path.endswith(suffix)
    segment = raw_path[len(prefix) : len(raw_path) - len(suffix)]
    assert segment and b"/" not in segment and segment not in (b".", b"..")
    return unquote(segment.decode("ascii"))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("operation", "method", "suffix"), [("get_batch", "GET", b""), ("cancel_batch", "POST", b"/cancel")]
)
async def test_batch_id_with_slashes_stays_one_percent_encoded_segment(operation, method, suffix):
    seen = []

    def respond(request):
        seen.append((request.method, request.url.raw_path))
        return httpx.Response(200, json={**BATCH_ANSWER, "id": "a/../b"})

    api = FakeApi(respond)
    async with open_provider(api) as provider:
        batch = await getattr(provider, operation)("a/../b")
    [(seen_method, raw_path)] = seen
    assert seen_method == method
    assert raw_path in (b"/v1/convai/batch-calling/a%2F..%2Fb" + suffix, b"/v1/convai/batch-calling/a%2F%2E%2E%2Fb" + suffix)
    assert one_segment_after(raw_path, b"/v1/convai/batch-calling/", suffix) == "a/../b"
    assert batch.batch_id == "a/../b"


@pytest.mark.anyio
@pytest.mark.parametrize("operation", ["get_batch", "cancel_batch"])
@pytest.mark.parametrize("batch_id", ["..", "."])
async def test_dot_batch_id_never_leaves_the_batch_endpoint(batch_id, operation):
    # httpx removes "." and ".." segments: unencoded, cancel_batch("..") would POST /v1/convai/cancel.
    seen = []

    def respond(request):
        seen.append(request.url.raw_path)
        return httpx.Response(200, json=BATCH_ANSWER)

    api = FakeApi(respond)
    async with open_provider(api) as provider:
        try:
            await getattr(provider, operation)(batch_id)
        except ProviderError:
            pass  # refusing the id locally is fine too
    suffix = b"/cancel" if operation == "cancel_batch" else b""
    for raw_path in seen:
        assert one_segment_after(raw_path, b"/v1/convai/batch-calling/", suffix) == batch_id


# -- error mapping -----------------------------------------------------------------------------------


# (answer, exception type, status or None, fragments the message must contain, fragments it must not,
#  POSTs the provider sees: 1 wherever the request may have arrived; 3 tries for a connect error
#  (it provably never left) and for a 429 whose Retry-After is short enough to wait out)
CALL_FAILURES = [
    pytest.param(
        lambda r: error_answer(401, "invalid_api_key", "Invalid API key"),
        ProviderStatusError,
        401,
        ["ElevenLabs API error (401): Invalid API key", "ELEVENLABS_API_KEY"],
        [],
        1,
        id="401-invalid-api-key",
    ),
    pytest.param(
        lambda r: error_answer(
            403,
            "missing_permissions",
            "The API key you used is missing the permission convai_write to execute this operation.",
        ),
        ProviderStatusError,
        403,
        ["ElevenLabs API error (403): The API key you used is missing the permission convai_write", "permission"],
        [],
        1,
        id="403-missing-permissions",
    ),
    pytest.param(
        lambda r: error_answer(404, "phone_number_not_found", f"Phone number {PHONE_ID} not found."),
        ProviderStatusError,
        404,
        [f"ElevenLabs API error (404): Phone number {PHONE_ID} not found.", "ELEVENLABS_AGENT_PHONE_NUMBER_ID"],
        [],
        1,
        id="404-not-found",
    ),
    pytest.param(
        lambda r: httpx.Response(
            422,
            json={
                "detail": [
                    {"loc": ["body", "to_number"], "msg": "String should match pattern '^\\+[1-9]\\d{1,14}$'", "type": "string_pattern_mismatch"}
                ]
            },
        ),
        ProviderStatusError,
        422,
        ["ElevenLabs API error (422): to_number: String should match pattern", "rejected a field"],
        ["body.to_number"],
        1,
        id="422-validation",
    ),
    pytest.param(
        lambda r: error_answer(
            429, "rate_limit_exceeded", "You have exceeded the rate limit.", **{"Retry-After": "17"}
        ),
        ProviderStatusError,
        429,
        ["ElevenLabs API error (429): You have exceeded the rate limit.", "Rate limit reached", "wait 17 s"],
        ["Too many calls are running"],
        1,
        id="429-rate-limit",
    ),
    pytest.param(
        lambda r: error_answer(
            429, "concurrent_limit_exceeded", "Too many concurrent requests.", **{"Retry-After": "3"}
        ),
        ProviderStatusError,
        429,
        ["ElevenLabs API error (429): Too many concurrent requests.", "Too many calls are running at once", "wait 3 s"],
        ["Rate limit reached"],
        3,
        id="429-concurrent-limit",
    ),
    pytest.param(
        lambda r: error_answer(500, "internal_error", "Internal server error."),
        OutcomeUnknown,
        None,
        ["ElevenLabs answered 500 (Internal server error.)", "may or may not have been placed"],
        [],
        1,
        id="500",
    ),
    pytest.param(
        lambda r: httpx.Response(200, json={"success": False, "message": "Twilio rejected the destination number."}),
        ProviderStatusError,
        200,
        ["ElevenLabs could not place the call: Twilio rejected the destination number."],
        [],
        1,
        id="200-success-false",
    ),
    pytest.param(
        raises(httpx.ConnectError, "[Errno 111] Connection refused"),
        ProviderUnreachable,
        None,
        ["Could not reach ElevenLabs: ConnectError: [Errno 111] Connection refused"],
        ["may or may not"],
        3,
        id="connect-error",
    ),
    pytest.param(
        raises(httpx.ReadTimeout, "The read operation timed out"),
        OutcomeUnknown,
        None,
        ["ElevenLabs did not answer (ReadTimeout", "may or may not have been placed"],
        ["Could not reach"],
        1,
        id="read-timeout",
    ),
    pytest.param(
        raises(httpx.RemoteProtocolError, "Server disconnected without sending a response."),
        OutcomeUnknown,
        None,
        ["ElevenLabs did not answer (RemoteProtocolError", "may or may not have been placed"],
        ["Could not reach"],
        1,
        id="remote-protocol-error",
    ),
    pytest.param(
        lambda r: httpx.Response(200, text="OK"),
        OutcomeUnknown,
        None,
        ["ElevenLabs answered 200 without a JSON body", "may or may not have been placed"],
        [],
        1,
        id="200-not-json",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("respond", "exc_type", "status", "present", "absent", "posts"), CALL_FAILURES)
async def test_failed_call_maps_to_one_exception_and_retries_only_what_cannot_dial_twice(
    respond, exc_type, status, present, absent, posts
):
    check = expect("POST", TWILIO_PATH, CALL_BODY)

    def handler(request):
        check(request)
        return respond(request)

    api = FakeApi(handler)
    config = make_config()
    async with open_provider(api, config) as provider:
        with pytest.raises(ProviderError) as info:
            await provider.place_call(one_call())

    exc = info.value
    assert type(exc) is exc_type
    message = str(exc)
    assert message.startswith(present[0])
    for fragment in present:
        assert fragment in message
    for fragment in absent:
        assert fragment not in message
    if status is not None:
        assert exc.status == status
    assert [(r.method, r.url.path) for r in api.requests] == [("POST", TWILIO_PATH)] * posts
    assert_no_secret(exc, config)


@pytest.mark.anyio
async def test_status_error_keeps_code_detail_and_request_id():
    api = FakeApi(
        lambda r: error_answer(429, "rate_limit_exceeded", "Slow down.", **{"request-id": "req_9", "Retry-After": "5"})
    )
    async with open_provider(api) as provider:
        with pytest.raises(ProviderStatusError) as info:
            await provider.place_call(one_call())
    assert (info.value.status, info.value.code, info.value.detail, info.value.request_id) == (
        429,
        "rate_limit_exceeded",
        "Slow down.",
        "req_9",
    )
    assert_no_secret(info.value)


@pytest.mark.anyio
async def test_success_false_keeps_status_200_and_provider_detail():
    api = FakeApi(lambda r: httpx.Response(200, json={"success": False, "message": "Agent is not configured."}))
    async with open_provider(api) as provider:
        with pytest.raises(ProviderStatusError) as info:
            await provider.place_call(one_call())
    assert info.value.status == 200 and info.value.detail == "Agent is not configured."
    assert api.count("POST") == 1


@pytest.mark.anyio
async def test_html_error_body_is_quoted_truncated():
    html = "<html><head><title>502 Bad Gateway</title></head><body>" + "x" * 2000 + "</body></html>"
    api = FakeApi(lambda r: httpx.Response(502, text=html, headers={"content-type": "text/html"}))
    config = make_config()
    async with open_provider(api, config) as provider:
        with pytest.raises(ProviderStatusError) as info:
            await provider.get_batch("btcal_1")

    exc = info.value
    assert exc.status == 502
    assert exc.detail == html[:MAX_DETAIL_CHARS]
    assert str(exc).startswith("ElevenLabs API error (502): <html><head><title>502 Bad Gateway</title>")
    assert "</html>" not in str(exc)
    assert len(str(exc)) < MAX_DETAIL_CHARS + 200
    assert api.count("GET") == 3
    assert_no_secret(exc, config)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("error", "exc_type", "prefix", "posts"),
    [
        (httpx.ConnectError, ProviderUnreachable, "Could not reach ElevenLabs: ConnectError", 3),
        (httpx.ConnectTimeout, ProviderUnreachable, "Could not reach ElevenLabs: ConnectTimeout", 3),
        (httpx.ReadTimeout, OutcomeUnknown, "ElevenLabs did not answer (ReadTimeout", 1),
        (httpx.RemoteProtocolError, OutcomeUnknown, "ElevenLabs did not answer (RemoteProtocolError", 1),
        (httpx.WriteError, OutcomeUnknown, "ElevenLabs did not answer (WriteError", 1),
    ],
)
async def test_batch_submit_is_retried_only_when_it_never_left(error, exc_type, prefix, posts):
    api = FakeApi(raises(error, "boom"))
    submission = BatchRequest(name="b", recipients=(BatchRecipientRequest(phone_number=TO_NUMBER, script=SCRIPT),))
    async with open_provider(api) as provider:
        with pytest.raises(ProviderError) as info:
            await provider.submit_batch(submission)
    assert type(info.value) is exc_type
    assert str(info.value).startswith(prefix)
    assert [(r.method, r.url.path) for r in api.requests] == [("POST", SUBMIT_PATH)] * posts
    assert_no_secret(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout, httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError]
)
async def test_transport_failure_on_a_get_is_retried_then_unreachable_not_unknown(error):
    api = FakeApi(raises(error, "boom"))
    sleep = FakeSleep()
    async with open_provider(api, sleep=sleep) as provider:
        with pytest.raises(ProviderError) as info:
            await provider.get_batch("btcal_1")
    assert type(info.value) is ProviderUnreachable
    assert str(info.value).startswith(f"Could not reach ElevenLabs: {error.__name__}")
    assert api.count("GET") == 3
    assert sleep.waits == [0.75, 1.5]  # 0.5 s then 1 s, each plus half again of jitter
    assert_no_secret(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_get_and_cancel_recover_from_transient_statuses(status):
    answers = iter([error_answer(status, "busy", "Try later."), httpx.Response(200, json=BATCH_ANSWER)] * 2)
    api = FakeApi(lambda r: next(answers))
    async with open_provider(api) as provider:
        batch = await provider.get_batch("btcal_1")
        cancelled = await provider.cancel_batch("btcal_1")
    assert batch.batch_id == cancelled.batch_id == "btcal_1"
    assert [r.method for r in api.requests] == ["GET", "GET", "POST", "POST"]


@pytest.mark.anyio
async def test_retry_after_is_honoured_and_a_long_one_is_not_waited_out():
    short = FakeSleep()
    answers = iter([error_answer(429, "rate_limit_exceeded", "Slow down.", **{"Retry-After": "4"}),
                    httpx.Response(200, json=TWILIO_ANSWER)])
    async with open_provider(FakeApi(lambda r: next(answers)), sleep=short) as provider:
        result = await provider.place_call(one_call())
    assert result.telephony_ref == "CA123" and short.waits == [4.0]

    long = FakeSleep()
    api = FakeApi(lambda r: error_answer(429, "rate_limit_exceeded", "Slow down.", **{"Retry-After": "60"}))
    async with open_provider(api, sleep=long) as provider:
        with pytest.raises(ProviderStatusError, match="wait 60 s"):
            await provider.place_call(one_call())
    assert long.waits == [] and api.count("POST") == 1


@pytest.mark.anyio
async def test_retries_stop_before_the_tool_time_budget():
    config = make_config()
    slow = dataclasses.replace(config, read_timeout_secs=45.0)
    api = FakeApi(raises(httpx.ConnectError, "refused"))
    async with open_provider(api, slow) as provider:
        with pytest.raises(ProviderUnreachable):
            await provider.get_batch("btcal_1")
    assert api.count("GET") == 1  # a second try could not finish within 45 s


@pytest.mark.anyio
async def test_read_timeout_on_phone_number_lookup_is_unreachable_and_places_no_call():
    api = FakeApi(raises(httpx.ReadTimeout, "timed out"))
    async with open_provider(api, make_config("auto")) as provider:
        with pytest.raises(ProviderUnreachable, match=r"^Could not reach ElevenLabs: ReadTimeout"):
            await provider.place_call(one_call())
    assert api.count("GET", LOOKUP_PATH) == 3 and api.count("POST") == 0


@pytest.mark.anyio
async def test_get_error_status_is_mapped_like_a_post():
    api = FakeApi(lambda r: error_answer(404, "batch_not_found", "Batch call btcal_x not found."))
    async with open_provider(api) as provider:
        with pytest.raises(ProviderStatusError) as info:
            await provider.get_batch("btcal_x")
    assert info.value.status == 404 and info.value.code == "batch_not_found"
    assert str(info.value).startswith("ElevenLabs API error (404): Batch call btcal_x not found.")
    assert "the batch id" in str(info.value)
    assert_no_secret(info.value)


def bad_gzip(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"content-encoding": "gzip"}, content=b"not gzip")


@pytest.mark.anyio
async def test_undecodable_answer_to_a_call_is_outcome_unknown_after_one_post():
    api = FakeApi(bad_gzip)
    config = make_config()
    async with open_provider(api, config) as provider:
        with pytest.raises(ProviderError) as info:
            await provider.place_call(one_call())
    assert type(info.value) is OutcomeUnknown
    assert "may or may not have been placed" in str(info.value)
    assert [(r.method, r.url.path) for r in api.requests] == [("POST", TWILIO_PATH)]
    assert_no_secret(info.value, config)


@pytest.mark.anyio
async def test_undecodable_answer_to_a_get_is_a_provider_error_not_outcome_unknown():
    api = FakeApi(bad_gzip)
    async with open_provider(api) as provider:
        with pytest.raises(ProviderError) as info:
            await provider.get_batch("btcal_1")
    assert not isinstance(info.value, OutcomeUnknown)
    assert api.count("GET") == 1
    assert_no_secret(info.value)


# -- secrets and display name ------------------------------------------------------------------------


def test_provider_config_repr_masks_the_api_key():
    config = make_config()
    assert KEY not in repr(config) and KEY not in str(config)
    assert config.api_key.get_secret_value() == KEY


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("respond", "prefix", "posts"),
    [
        (lambda r: error_answer(401, "invalid_api_key", "Invalid API key"), "ElevenLabs sandbox API error (401): Invalid API key", 1),
        (lambda r: error_answer(500, "internal_error", "Oops."), "ElevenLabs sandbox answered 500 (Oops.)", 1),
        (raises(httpx.ConnectError, "refused"), "Could not reach ElevenLabs sandbox: ConnectError", 3),
        (raises(httpx.ReadTimeout, "slow"), "ElevenLabs sandbox did not answer (ReadTimeout", 1),
    ],
)
async def test_sandbox_errors_name_elevenlabs_sandbox(respond, prefix, posts):
    api = FakeApi(respond)
    config = make_config(sandbox=True)
    async with open_provider(api, config) as provider:
        assert provider.name == "elevenlabs" and provider.sandbox is True
        with pytest.raises(ProviderError) as info:
            await provider.place_call(one_call())
    assert str(info.value).startswith(prefix)
    assert api.count("POST") == posts
    assert_no_secret(info.value, config)


# -- error text ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_error_echoing_the_key_has_it_masked():
    api = FakeApi(lambda r: error_answer(401, "invalid_api_key", f"Key {KEY} is not valid"))
    async with open_provider(api) as provider:
        with pytest.raises(ProviderStatusError) as info:
            await provider.place_call(one_call())
    assert KEY not in str(info.value) and KEY not in info.value.detail
    assert "Key *** is not valid" in str(info.value)


@pytest.mark.anyio
async def test_detail_and_hint_are_separated_by_a_full_stop():
    api = FakeApi(lambda r: error_answer(401, "invalid_api_key", "Invalid API key"))
    async with open_provider(api) as provider:
        with pytest.raises(ProviderStatusError) as info:
            await provider.place_call(one_call())
    assert str(info.value).startswith("ElevenLabs API error (401): Invalid API key. Check ELEVENLABS_API_KEY")


@pytest.mark.anyio
async def test_retry_after_as_http_date_is_quoted_not_read_as_seconds():
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    api = FakeApi(lambda r: error_answer(429, "rate_limit_exceeded", "Too many requests", **{"retry-after": date}))
    async with open_provider(api) as provider:
        with pytest.raises(ProviderStatusError) as info:
            await provider.place_call(one_call())
    assert f"wait until {date}." in str(info.value)
    assert f"{date} s" not in str(info.value)
