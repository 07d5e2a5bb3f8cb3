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


# -- in-memory provider and services for use-case tests (tests/app) --------------------------

from dataclasses import replace as _replace  # noqa: E402
from typing import Any as _Any  # noqa: E402

from caller_mcp.app.services import Services  # noqa: E402
from caller_mcp.domain.batches import BatchPage, BatchReport, BatchRequest  # noqa: E402
from caller_mcp.domain.calls import CallReport, CallRequest, PlacedCall  # noqa: E402
from caller_mcp.errors import ProviderStatusError  # noqa: E402
from caller_mcp.ports import Capabilities  # noqa: E402
from caller_mcp.store import SqliteStore, ThreadedStore  # noqa: E402

#: Every capability the app uses, for a FakeProvider that can do everything.
ALL_CAPABILITIES = Capabilities(per_call_script=True, batches=True, batch_retry=True, read_call=True)


def not_found(what: str) -> ProviderStatusError:
    """The error a provider raises for an id it does not know (HTTP 404)."""
    return ProviderStatusError(f"fake provider: {what} not found", status=404, detail=f"{what} not found")


class FakeProvider:
    """An in-memory provider implementing the Dialer, BatchDialer and CallReader ports.

    Records every request it receives (``placed``, ``submitted``, ``retried``, ``cancelled``,
    ``reads``, ``batch_reads``, ``list_requests``, ``previews``) and answers from what the test set:

    - ``placed_answer`` / ``submit_answer`` / ``retry_answer``: the answer (``submit_answer`` and
      ``retry_answer`` default to a report built from the request / the stored batch);
    - ``reports[provider_ref]``: a list of :class:`CallReport` (or exceptions) answered in turn, the
      last one repeated; an unknown ref raises a 404 :class:`ProviderStatusError`;
    - ``batches[batch_id]``: what ``get_batch`` / ``cancel_batch`` / ``retry_batch`` read;
    - ``pages[cursor]``: the :class:`BatchPage` ``list_batches`` answers for that cursor;
    - ``failures[method]``: an exception the named method raises (after recording the request).
    """

    def __init__(
        self, name: str = "fakecall", *, sandbox: bool = True, capabilities: Capabilities = ALL_CAPABILITIES
    ) -> None:
        self.name = name
        self.sandbox = sandbox
        self.capabilities = capabilities
        self.placed: list[CallRequest] = []
        self.submitted: list[BatchRequest] = []
        self.retried: list[str] = []
        self.cancelled: list[str] = []
        self.reads: list[str] = []
        self.batch_reads: list[str] = []
        self.list_requests: list[tuple[int, str | None]] = []
        self.previews: list[_Any] = []
        self.placed_answer = PlacedCall(
            message="Outbound call initiated successfully.",
            provider_ref="conv_fake_1",
            telephony_ref="CA_fake_1",
            line="twilio",
            raw={"success": True, "conversation_id": "conv_fake_1"},
        )
        self.submit_answer: BatchReport | None = None
        self.retry_answer: BatchReport | None = None
        self.reports: dict[str, list[_Any]] = {}
        self.batches: dict[str, BatchReport] = {}
        self.pages: dict[str | None, BatchPage] = {}
        self.failures: dict[str, BaseException] = {}
        self.closed = False

    def _fail(self, method: str) -> None:
        if method in self.failures:
            raise self.failures[method]

    def dialled(self) -> int:
        """How many call-placing requests were sent (calls, batches and retries)."""
        return len(self.placed) + len(self.submitted) + len(self.retried)

    # Dialer
    async def place_call(self, call: CallRequest) -> PlacedCall:
        self.placed.append(call)
        self._fail("place_call")
        return self.placed_answer

    async def preview_call(self, call: CallRequest) -> dict[str, _Any]:
        self.previews.append(call)
        return {"method": "POST", "url": "fake://calls", "body": {"to_number": call.to_number, "prompt": call.script.prompt}}

    async def aclose(self) -> None:
        self.closed = True

    # BatchDialer
    def preview_batch(self, batch: BatchRequest) -> dict[str, _Any]:
        self.previews.append(batch)
        return {
            "method": "POST",
            "url": "fake://batches",
            "body": {"call_name": batch.name, "recipients": [{"phone_number": r.phone_number} for r in batch.recipients]},
        }

    async def submit_batch(self, batch: BatchRequest) -> BatchReport:
        self.submitted.append(batch)
        self._fail("submit_batch")
        if self.submit_answer is not None:
            return self.submit_answer
        return BatchReport(
            batch_id=f"btcal_fake_{len(self.submitted)}",
            name=batch.name,
            status="pending",
            scheduled_time_unix=batch.scheduled_time_unix,
            total_calls_scheduled=len(batch.recipients),
        )

    async def get_batch(self, batch_id: str) -> BatchReport:
        self.batch_reads.append(batch_id)
        self._fail("get_batch")
        if batch_id not in self.batches:
            raise not_found(f"batch {batch_id}")
        return self.batches[batch_id]

    async def cancel_batch(self, batch_id: str) -> BatchReport:
        self.cancelled.append(batch_id)
        self._fail("cancel_batch")
        if batch_id not in self.batches:
            raise not_found(f"batch {batch_id}")
        self.batches[batch_id] = _replace(self.batches[batch_id], status="cancelled")
        return self.batches[batch_id]

    async def retry_batch(self, batch_id: str) -> BatchReport:
        self.retried.append(batch_id)
        self._fail("retry_batch")
        if self.retry_answer is not None:
            return self.retry_answer
        if batch_id not in self.batches:
            raise not_found(f"batch {batch_id}")
        return _replace(self.batches[batch_id], status="in_progress")

    async def list_batches(self, limit: int, cursor: str | None = None) -> BatchPage:
        self.list_requests.append((limit, cursor))
        self._fail("list_batches")
        if len(self.list_requests) > 100:
            raise AssertionError("list_batches called more than 100 times: the caller does not stop paging")
        return self.pages.get(cursor, BatchPage(batches=()))

    # CallReader
    async def get_call(self, provider_ref: str) -> CallReport:
        self.reads.append(provider_ref)
        self._fail("get_call")
        answers = self.reports.get(provider_ref)
        if not answers:
            raise not_found(f"conversation {provider_ref}")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def fake_services(tmp_path, provider: FakeProvider, **settings: _Any) -> Services:
    """Services on ``provider`` (whatever provider name is asked for) and a SQLite store in
    ``tmp_path``; ``settings`` are ``Settings`` fields (``caller_mcp_max_batch_size=10``).
    Set ``sleep``, ``monotonic`` and ``now`` on the answer to control the clock; close with ``aclose()``."""
    path = tmp_path / "caller.sqlite3"
    return Services(
        settings=Settings(_env_file=None, caller_mcp_db=path, **settings),
        open_store=lambda: ThreadedStore(lambda: SqliteStore(path)),
        make_provider=lambda name: provider,
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
    ``hold``: when given, ``answer`` replies only once it is set (the test decides when the
    provider's answer arrives).
    """

    mode: str
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = _field(default_factory=dict)
    requests: list[tuple[str, str, bytes]] = _field(default_factory=list)
    received: _threading.Event = _field(default_factory=_threading.Event)
    hold: _threading.Event | None = None

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
                if self.hold is not None:
                    self.hold.wait(timeout=120)
                headers = {"content-type": "application/json", **self.headers}
                reply = f"HTTP/1.1 {self.status} X\r\ncontent-length: {len(self.body)}\r\nconnection: close\r\n"
                reply += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                conn.sendall(reply.encode("latin-1") + b"\r\n" + self.body)


# -- another process holding the store's write lock (tests/mcp/test_store_concurrency.py) --------

import subprocess as _subprocess  # noqa: E402
import sys as _sys  # noqa: E402

_HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


class WriteLockHolder:
    """A separate Python process that holds ``BEGIN IMMEDIATE`` on a SQLite file until released:
    every other writer waits (up to its busy timeout) while readers go on (WAL).

    ``with WriteLockHolder(path) as holder: ...; holder.release()`` (released at exit anyway).
    """

    def __init__(self, path) -> None:
        self.path = str(path)
        self.process: _subprocess.Popen[str] | None = None

    def __enter__(self) -> WriteLockHolder:
        self.process = _subprocess.Popen(
            [_sys.executable, "-c", _HOLD_LOCK, self.path], stdin=_subprocess.PIPE, stdout=_subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "locked"
        return self

    def release(self) -> None:
        """Roll back and let the process end (idempotent)."""
        if self.process is None:
            return
        process, self.process = self.process, None
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("\n")
        process.stdin.close()
        process.wait(timeout=30)
        process.stdout.close()

    def __exit__(self, *exc: object) -> None:
        self.release()
