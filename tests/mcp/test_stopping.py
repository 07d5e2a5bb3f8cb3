"""A stopping server refuses every new dial through the tools, before writing or sending anything
(the stop itself, on stdin EOF and signals: ``tests/e2e/test_shutdown.py``)."""

from __future__ import annotations

import httpx
import pytest
from mcp import Client

from caller_mcp.app.stopping import GracefulStop
from caller_mcp.mcp.server import build_server
from tests.mcp.test_batch_monitoring import PIZZA, Counting, text

pytestmark = pytest.mark.anyio

NUMBERS = ["+15551230000", "+15551230001"]


async def test_a_stopping_server_refuses_calls_and_batches_and_sends_nothing(settings, sandbox_app):
    transport = Counting(httpx.ASGITransport(app=sandbox_app))
    stopping = GracefulStop()
    server = build_server(settings, transport=transport, stopping=stopping)
    async with Client(server, raise_exceptions=True) as client:
        dry = await client.call_tool("place_call", {"to_number": NUMBERS[0], "business_description": PIZZA, "dry_run": True})
        stopping.stop("SIGTERM")
        call = await client.call_tool("place_call", {"to_number": NUMBERS[0], "business_description": PIZZA})
        batch = await client.call_tool("submit_batch", {"recipients": NUMBERS, "business_description": PIZZA})
        listed = await client.call_tool("list_calls", {})
        batches = await client.call_tool("list_batches", {})
    assert not dry.is_error, text(dry)
    for refused in (call, batch):
        assert refused.is_error
        assert "shutting down (SIGTERM)" in text(refused) and "Nothing was dialled" in text(refused)
    dials = [r for r in transport.requests if r.endswith(("/outbound-call", "/batch-calling/submit"))]
    assert dials == []
    assert listed.structured_content["calls"] == []
    assert not batches.is_error and batches.structured_content.get("batches", []) == []
    assert stopping.in_flight == 0
