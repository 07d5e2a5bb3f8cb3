"""The one home of the test doubles and constants: a recording ``httpx.MockTransport`` handler, a
backoff clock that does not sleep, an ElevenLabs provider opened on them, real-provider settings,
and the business description the tests call."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr

from caller_mcp.providers.elevenlabs import ElevenLabsConfig, ElevenLabsProvider
from caller_mcp.settings import Settings

PIZZA = "We are Pizza Palace, a pizza restaurant that takes orders and handles delivery inquiries."
KEY = "sk_test_SECRET_123"
BASE = "https://api.elevenlabs.io"
AGENT_ID = "agent_7f3a"
PHONE_ID = "phnum_42"


class FakeApi:
    """A MockTransport handler that records every request and delegates the answer."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    def count(self, method: str, path: str | None = None) -> int:
        return sum(1 for r in self.requests if r.method == method and (path is None or r.url.path == path))


def make_config(phone_provider: str = "twilio", *, sandbox: bool = False, phone_id: str = PHONE_ID) -> ElevenLabsConfig:
    return ElevenLabsConfig(
        sandbox=sandbox,
        api_base=BASE,
        api_key=SecretStr(KEY),
        agent_id=AGENT_ID,
        agent_phone_number_id=phone_id,
        phone_provider=phone_provider,  # type: ignore[arg-type]
    )


class FakeSleep:
    """Records the backoff waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@asynccontextmanager
async def open_provider(api: FakeApi, config: ElevenLabsConfig | None = None, sleep: FakeSleep | None = None):
    config = config or make_config()
    client = httpx.AsyncClient(base_url=config.api_base, transport=httpx.MockTransport(api))
    provider = ElevenLabsProvider(config, client, sleep=sleep or FakeSleep(), random=lambda: 0.5)
    try:
        yield provider
    finally:
        await provider.aclose()


def assert_authenticated(request: httpx.Request) -> None:
    assert request.url.scheme == "https" and request.url.host == "api.elevenlabs.io"
    assert request.headers["xi-api-key"] == KEY
    assert request.headers["accept"] == "application/json"
    assert "authorization" not in request.headers
    assert KEY not in str(request.url)


def json_body(request: httpx.Request):
    assert request.headers["content-type"] == "application/json"
    return json.loads(request.content)


def error_answer(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"detail": {"status": code, "message": message}}, headers=headers)


def raises(exc_type: type[httpx.TransportError], text: str) -> Callable[[httpx.Request], httpx.Response]:
    def respond(request):
        raise exc_type(text, request=request)

    return respond


def real_settings(db_path, key: str, *, phone_provider: str = "twilio", **extra) -> Settings:
    """A real (ElevenLabs) provider configuration on ``db_path``, for tests whose
    ``httpx.MockTransport`` answers in the provider's place.

    ``phone_provider="twilio"`` (the default) means no phone-number lookup: the call-placing
    POST is the only request; ``"auto"`` keeps the lookup.
    """
    return Settings(
        _env_file=None,
        caller_mcp_db=db_path,
        elevenlabs_api_key=key,
        elevenlabs_agent_id="agent_1",
        elevenlabs_agent_phone_number_id="phnum_1",
        elevenlabs_phone_provider=phone_provider,
        **extra,
    )
