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


# -- a faulty provider on a real loopback socket (tests/mcp/test_faults.py, tests/e2e/test_crash.py) --

import socket as _socket  # noqa: E402
import threading as _threading  # noqa: E402
from dataclasses import dataclass as _dataclass, field as _field  # noqa: E402


@_dataclass
class StubHTTP:
    """A tiny threaded HTTP/1.1 server on 127.0.0.1 that plays a faulty provider.

    ``mode``: ``answer`` (reply ``status`` with ``body`` and ``headers``), ``hang`` (read the
    request, never reply until the stub stops), ``drop`` (read the request, close the socket).
    """

    mode: str
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = _field(default_factory=dict)
    requests: list[tuple[str, str, bytes]] = _field(default_factory=list)
    received: _threading.Event = _field(default_factory=_threading.Event)

    def __post_init__(self) -> None:
        self._stop = _threading.Event()
        self._listener = _socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads = [_threading.Thread(target=self._accept, daemon=True)]
        self._lock = _threading.Lock()

    def start(self) -> StubHTTP:
        self._threads[0].start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=10)
        self._listener.close()

    def posts(self, path: str) -> int:
        with self._lock:
            return sum(1 for method, p, _ in self.requests if (method, p) == ("POST", path))

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = _threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: _socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            with self._lock:
                self.requests.append((method, target, body))
            self.received.set()
            if self.mode == "hang":
                self._stop.wait(timeout=60)
            elif self.mode == "drop":
                conn.shutdown(_socket.SHUT_RDWR)
            else:
                headers = {"content-type": "application/json", **self.headers}
                reply = f"HTTP/1.1 {self.status} X\r\ncontent-length: {len(self.body)}\r\nconnection: close\r\n"
                reply += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                conn.sendall(reply.encode("latin-1") + b"\r\n" + self.body)
