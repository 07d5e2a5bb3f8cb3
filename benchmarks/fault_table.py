"""What each provider fault looks like to the user, to the provider and in the store.

Runs every fault once through the MCP tool layer (in-process ``mcp.Client``) in real-provider
mode, with an ``httpx.MockTransport`` playing ElevenLabs and a temporary database, and prints a
Markdown table: the fault, the first characters of the tool's error text, how many
outbound-call POSTs the provider saw, and the status the store recorded.

    .venv/bin/python benchmarks/fault_table.py

Retries sleep for real (connect errors ~2 s, a 429 with Retry-After: 1 waits 2 s): about 10 s.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx
from mcp import Client

from caller_mcp.settings import Settings
from caller_mcp.mcp.server import build_server
from caller_mcp.store import SqliteStore as Store

CALL_PATH = "/v1/convai/twilio/outbound-call"
TO_NUMBER = "+14155550123"
ARGS = {"to_number": TO_NUMBER, "business_description": "We are Pizza Palace.", "scenario": "order a pizza"}
SHOWN_CHARS = 90
#: The SDK puts this before every ToolError text; the table shows what follows it.
SDK_PREFIX = "Error executing tool place_call: "
Handler = Callable[[httpx.Request], httpx.Response]


def error(status: int, code: str, message: str, **headers: str) -> Handler:
    return lambda r: httpx.Response(status, json={"detail": {"status": code, "message": message}}, headers=headers)


def raises(kind: type[httpx.TransportError], text: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise kind(text, request=request)

    return handler


FAULTS: list[tuple[str, Handler]] = [
    ("401 invalid_api_key", error(401, "invalid_api_key", "Invalid API key")),
    ("403 forbidden", error(403, "forbidden", "Not allowed for this agent")),
    ("404 not found", error(404, "not_found", "Agent not found")),
    ("422 validation", lambda r: httpx.Response(422, json={"detail": [{"loc": ["body", "to_number"], "msg": "invalid phone number"}]})),
    ("429 rate_limit, Retry-After: 60", error(429, "rate_limit_exceeded", "Rate limit exceeded", **{"retry-after": "60"})),
    ("429 concurrent, Retry-After: 1", error(429, "concurrent_limit_exceeded", "Too many concurrent calls", **{"retry-after": "1"})),
    ("500", error(500, "internal_error", "Internal server error")),
    ("502 (HTML body)", lambda r: httpx.Response(502, text="<html>502 Bad Gateway</html>")),
    ("503, Retry-After: 1", lambda r: httpx.Response(503, text="Service Unavailable", headers={"retry-after": "1"})),
    ("connect refused", raises(httpx.ConnectError, "[Errno 111] Connection refused")),
    ("read timeout", raises(httpx.ReadTimeout, "timed out")),
    ("dropped connection", raises(httpx.RemoteProtocolError, "Server disconnected without sending a response.")),
    ("200 success:false", lambda r: httpx.Response(200, json={"success": False, "message": "Phone number is not verified"})),
    ("200 non-JSON body", lambda r: httpx.Response(200, text="<html>OK</html>")),
]
CALL_OK = {"success": True, "message": "Outbound call initiated successfully.", "conversation_id": "conv_1", "callSid": "CA1"}


def settings(db: Path) -> Settings:
    return Settings(
        _env_file=None,
        caller_mcp_db=db,
        elevenlabs_api_key="sk_bench_not_a_key",
        elevenlabs_agent_id="agent_1",
        elevenlabs_agent_phone_number_id="phnum_1",
        elevenlabs_phone_provider="twilio",
    )


class Provider:
    """Counts outbound-call POSTs and answers them with ``respond`` (sync or async)."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]) -> None:
        self.respond = respond
        self.posts = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if (request.method, request.url.path) != ("POST", CALL_PATH):
            return httpx.Response(500, text=f"unexpected {request.method} {request.url.path}")
        self.posts += 1
        answer = self.respond(request)
        return await answer if isinstance(answer, Awaitable) else answer


def stored(db: Path) -> str:
    store = Store(db)
    try:
        return ", ".join(record.status for record in reversed(store.list_calls())) or "(none)"
    finally:
        store.close()


def shown(result) -> str:  # noqa: ANN001 - a CallToolResult
    text = result.content[0].text if result.content else ""
    if not result.is_error:
        content = result.structured_content or json.loads(text)
        text = f"ok: status={content.get('status')}" + (
            f", duplicate_of={content['duplicate_of']}" if content.get("duplicate_of") else ""
        )
    text = " ".join(text.removeprefix(SDK_PREFIX).split()).replace("|", "\\|")
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


async def one_fault(name: str, respond: Handler, db: Path) -> tuple[str, str, int, str]:
    provider = Provider(respond)
    async with Client(build_server(settings(db), transport=httpx.MockTransport(provider)), raise_exceptions=True) as client:
        result = await client.call_tool("place_call", ARGS)
    return name, shown(result), provider.posts, stored(db)


async def duplicate_after_client_timeout(db: Path) -> tuple[str, str, int, str]:
    """The provider holds the POST; the client gives up after 0.5 s (and cancels); the model repeats."""
    release = anyio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json=CALL_OK)

    provider = Provider(hang)
    async with Client(build_server(settings(db), transport=httpx.MockTransport(provider)), raise_exceptions=True) as client:
        try:
            await client.call_tool("place_call", ARGS, read_timeout_seconds=0.5)
        except Exception as exc:  # noqa: BLE001 - the client's timeout error is the point
            first = f"client gave up ({type(exc).__name__})"
        else:
            first = "answered before the client timeout"
        again = await client.call_tool("place_call", ARGS)
        release.set()
    return (
        "duplicate retry after client timeout",
        f"1st: {first}; 2nd: {shown(again)}",
        provider.posts,
        stored(db),
    )


async def main() -> int:
    logging.disable(logging.CRITICAL)  # MCPServer logs at INFO; keep the table readable
    started = time.monotonic()
    rows = []
    with tempfile.TemporaryDirectory(prefix="caller-mcp-faults-") as tmp:
        for i, (name, respond) in enumerate(FAULTS):
            rows.append(await one_fault(name, respond, Path(tmp) / f"{i}.sqlite3"))
        rows.append(await duplicate_after_client_timeout(Path(tmp) / "dup.sqlite3"))
    print(f"Error texts are shown after the SDK's prefix {SDK_PREFIX!r}.\n")
    print("| fault | what the user sees | POSTs seen by the provider | store record |")
    print("|---|---|---|---|")
    for name, text, posts, status in rows:
        print(f"| {name} | {text} | {posts} | {status} |")
    print(f"\n{len(rows)} faults in {time.monotonic() - started:.1f} s (place_call, real-provider mode, MockTransport).")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
