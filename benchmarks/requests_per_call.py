"""Provider HTTP requests per ``place_call``, counted at the transport.

Builds caller-mcp in-process on the sandbox emulator (``caller_mcp.sandbox.create_app()``) through
an ``httpx.ASGITransport`` that records the method and path of every request, connects with
``mcp.Client(server)``, calls ``set_business_context`` once and ``place_call`` N times.

    .venv/bin/python benchmarks/requests_per_call.py [--calls 10]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections import Counter
from pathlib import Path

import anyio
import httpx
from mcp import Client

from caller_mcp.settings import Settings
from caller_mcp.sandbox import create_app
from caller_mcp.mcp.server import build_server

LOOKUP_PREFIX = "/v1/convai/phone-numbers/"
OUTBOUND_SUFFIX = "/outbound-call"


class CountingTransport(httpx.ASGITransport):
    """An ASGITransport that remembers (method, path) of each request it carries."""

    def __init__(self, app) -> None:  # noqa: ANN001 - any ASGI app
        super().__init__(app=app)
        self.requests: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        return await super().handle_async_request(request)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10, help="place_call invocations (default 10, at most 90)")
    args = parser.parse_args()
    if not 1 <= args.calls <= 90:
        parser.error("--calls must be between 1 and 90")

    transport = CountingTransport(create_app())
    with tempfile.TemporaryDirectory(prefix="caller-mcp-bench-") as tmp:
        settings = Settings(_env_file=None, caller_mcp_db=Path(tmp) / "caller-mcp.sqlite3")
        server = build_server(settings, transport=transport)
        logging.getLogger().setLevel(logging.WARNING)  # MCPServer sets up INFO logging; keep the table readable
        async with Client(server, raise_exceptions=True) as client:
            context = await client.call_tool(
                "set_business_context",
                {"description": "Tony's Pizza, a pizzeria in Springfield", "scenario": "order a large pepperoni pizza"},
            )
            assert not context.is_error, context
            after_context = len(transport.requests)
            for i in range(args.calls):
                result = await client.call_tool("place_call", {"to_number": f"+1555123450{10 + i}"})
                assert not result.is_error, result.content

    calls = transport.requests[after_context:]
    lookups = sum(1 for m, p in calls if m == "GET" and p.startswith(LOOKUP_PREFIX))
    posts = sum(1 for m, p in calls if m == "POST" and p.endswith(OUTBOUND_SUFFIX))
    other = len(calls) - lookups - posts

    print(f"place_call x {args.calls} on the sandbox, one process (requests by set_business_context: {after_context})")
    for (method, path), n in sorted(Counter(calls).items()):
        print(f"  {n:>4}  {method} {path}")
    print(f"{'total provider requests':<34}{len(calls):>6}")
    print(f"{'phone-number lookups (GET)':<34}{lookups:>6}   (target ≤ 1 per process: {'OK' if lookups <= 1 else 'ABOVE TARGET'})")
    print(f"{'outbound-call POSTs':<34}{posts:>6}   (target 1 per call: {'OK' if posts == args.calls else 'OFF TARGET'})")
    print(f"{'other requests':<34}{other:>6}")
    print(f"{'requests per place_call':<34}{len(calls) / args.calls:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
