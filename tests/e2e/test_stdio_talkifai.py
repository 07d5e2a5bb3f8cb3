"""TalkifAI over stdio, as a desktop client runs it with CALLER_MCP_PROVIDER=talkifai and no
account: a call placed in the background and followed, a batch to its end, the history."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.e2e.test_cli import SCRIPT, clean_env

pytestmark = pytest.mark.anyio

PIZZA = "We are Pizza Palace, a pizza restaurant. We are open 11am to 10pm every day."


async def test_talkifai_calls_and_a_batch_over_stdio(tmp_path):
    env = {**clean_env(tmp_path), "CALLER_MCP_PROVIDER": "talkifai", "CALLER_MCP_SANDBOX_SPEED": "200"}
    with anyio.fail_after(60):
        async with Client(StdioServerParameters(command=SCRIPT, env=env)) as client:
            await client.call_tool("set_business_context", {"description": PIZZA, "scenario": "ask the opening hours"})
            placed = (await client.call_tool("place_call", {"to_number": "+15551234567"})).structured_content
            assert placed["status"] == "dialling" and placed["provider"] == "talkifai"
            followed = (await client.call_tool("get_call", {"call_id": placed["call_id"], "wait_seconds": 10})).structured_content
            assert followed["status"] == "in_progress" and "room name" in followed["error"]

            numbers = ["+15551230000", "+15551230002", "+15551230003"]
            batch = (await client.call_tool("submit_batch", {"recipients": numbers})).structured_content
            assert batch["provider"] == "talkifai" and batch["estimate"].startswith("The provider estimates cost $")
            for _ in range(400):
                status = (await client.call_tool("get_batch_status", {"batch_id": batch["batch_id"]})).structured_content
                if status["status"] == "completed":
                    break
                await anyio.sleep(0.05)
            assert status["counts"] == {"completed": 1, "failed": 2}
            assert status["provider_counts"] == {"completed": 1, "no_answer": 1, "busy": 1}

            retried = await client.call_tool("retry_batch", {"batch_id": batch["batch_id"]})
            assert retried.is_error and "TALKIFAI_BATCH_MAX_ATTEMPTS" in retried.content[0].text
            history = (await client.call_tool("list_calls", {"limit": 50})).structured_content["calls"]
            assert {c["to_number"] for c in history} == {"+15551234567", *numbers}
            assert {c["provider"] for c in history} == {"talkifai"}
