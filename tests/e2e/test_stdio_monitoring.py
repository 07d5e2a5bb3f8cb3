"""The issue's "done when", over stdio as a desktop client runs it: place a call, wait for it, read
its outcome and transcript, run a batch, watch it progress, drill into its failures and retry it."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.e2e.test_cli import SCRIPT, clean_env

pytestmark = pytest.mark.anyio

PIZZA = "We are Pizza Palace, a pizza restaurant. We are open 11am to 10pm every day."


async def test_a_qa_agent_follows_a_call_and_a_batch_to_their_outcomes_over_stdio(tmp_path):
    env = {**clean_env(tmp_path), "CALLER_MCP_PROVIDER": "sandbox", "CALLER_MCP_SANDBOX_SPEED": "100"}

    with anyio.fail_after(60):
        async with Client(StdioServerParameters(command=SCRIPT, env=env)) as client:
            await client.call_tool("set_business_context", {"description": PIZZA, "scenario": "ask the opening hours"})
            placed = (await client.call_tool("place_call", {"to_number": "+15551234567"})).structured_content
            call = await client.call_tool("get_call", {"call_id": placed["call_id"], "wait_seconds": 20})
            answer = call.structured_content
            assert not call.is_error and answer["status"] == "done" and answer["outcome"] == "success"
            assert "open 11am to 10pm" in answer["summary"]
            assert [t["role"] for t in answer["transcript"]][:2] == ["business", "caller"]
            assert answer["untrusted"] and answer["termination_reason"] and answer["duration_secs"] > 0
            whole = await client.read_resource(answer["transcript_uri"])
            assert "caller: Hi, I'm calling because I'd like to ask the opening hours." in whole.contents[0].text

            numbers = ["+15551230000", "+15551230001", "+15551230002", "+15551230003"]
            batch = (await client.call_tool("submit_batch", {"recipients": numbers})).structured_content
            seen_progress = []
            for _ in range(200):
                status = (await client.call_tool("get_batch_status", {"batch_id": batch["batch_id"]})).structured_content
                seen_progress.append(status["progress"])
                if status["status"] == "completed":
                    break
                await anyio.sleep(0.05)
            assert status["status"] == "completed" and seen_progress == sorted(seen_progress)
            assert status["counts"] == {"completed": 1, "failed": 2, "voicemail": 1}

            failures = (
                await client.call_tool("get_batch_status", {"batch_id": batch["batch_id"], "status": "failed"})
            ).structured_content
            reasons = set()
            for recipient in failures["recipients"]:
                detail = (await client.call_tool("get_call", {"call_id": recipient["conversation_id"]})).structured_content
                assert detail["status"] == "failed" and detail["batch_id"] == batch["batch_id"]
                reasons.add(detail["termination_reason"])
            assert reasons == {"No answer.", "Line busy."}

            retried = (await client.call_tool("retry_batch", {"batch_id": batch["batch_id"]})).structured_content
            assert retried["recipients_retried"] == 3
            for _ in range(200):
                status = (await client.call_tool("get_batch_status", {"batch_id": batch["batch_id"]})).structured_content
                if status["status"] == "completed":
                    break
                await anyio.sleep(0.05)
            assert status["counts"] == {"completed": 2, "failed": 1, "voicemail": 1}  # the busy line answered

            history = (await client.call_tool("list_calls", {"limit": 50})).structured_content["calls"]
            assert {c["to_number"] for c in history} == {"+15551234567", *numbers}
            batches = (await client.call_tool("list_batches", {})).structured_content["batches"]
            assert [b["batch_id"] for b in batches] == [batch["batch_id"]] and batches[0]["submitted_here"]
