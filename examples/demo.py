"""The main job, end to end on the sandbox: a real MCP client session over stdio.

Launches the ``caller-mcp`` console script as a desktop client would, sets a business context,
places a call, submits a small batch, polls it, cancels it, and prints each step. The child
process is pinned to the sandbox (``CALLER_MCP_PROVIDER=sandbox``) and a throw-away database,
so no real phone can ring even when ELEVENLABS_* keys are set in your shell.

Run: ``make demo`` (or ``.venv/bin/python examples/demo.py``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

SCRIPT = Path(sys.executable).with_name("caller-mcp")
POLLS = 3
POLL_SECS = 2.0


def show(step: str, result) -> dict:
    """Print one tool answer; return its structured content (raise if it is an error)."""
    print(f"\n== {step}")
    if result.is_error:
        print("   ERROR:", result.content[0].text)
        raise SystemExit(1)
    data = result.structured_content or {}
    for key, value in data.items():
        if key == "raw" or value is None:
            continue
        if key == "counts":  # only the statuses that have recipients
            value = " ".join(f"{status}={n}" for status, n in value.items() if n) or "none"
        elif isinstance(value, (dict, list)):
            value = json.dumps(value)
        print(f"   {key}: {value}")
    return data


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ELEVENLABS_", "CALLER_MCP_"))}
        env.update(CALLER_MCP_PROVIDER="sandbox", CALLER_MCP_DB=str(Path(tmp) / "demo.sqlite3"))
        server = StdioServerParameters(command=str(SCRIPT), args=[], env=env)
        print(f"Launching {SCRIPT.name} over stdio (sandbox: no real phone rings)")
        async with Client(server) as client:
            tools = (await client.list_tools()).tools
            print("Tools:", ", ".join(t.name for t in tools))

            show(
                "set_business_context",
                await client.call_tool(
                    "set_business_context",
                    {
                        "description": "We are Pizza Palace, a pizza restaurant that takes orders and handles "
                        "delivery inquiries.",
                        "scenario": "order a large pepperoni pizza for delivery to 123 Main St",
                    },
                ),
            )
            show("place_call +15551234567", await client.call_tool("place_call", {"to_number": "+15551234567"}))

            batch = show(
                "submit_batch (5 recipients: completes, voicemail, no answer, busy, own goal)",
                await client.call_tool(
                    "submit_batch",
                    {
                        "call_name": "demo batch",
                        "recipients": [
                            "+15551230000",
                            "+15551230001",
                            "+15551230002",
                            "+15551230003",
                            {"phone_number": "+15551230010", "scenario": "ask for today's opening hours"},
                        ],
                    },
                ),
            )
            for poll in range(1, POLLS + 1):
                await anyio.sleep(POLL_SECS)
                status = show(
                    f"get_batch_status (poll {poll})",
                    await client.call_tool("get_batch_status", {"batch_id": batch["batch_id"]}),
                )
            show("cancel_batch", await client.call_tool("cancel_batch", {"batch_id": batch["batch_id"]}))
            status = show(
                "get_batch_status (after cancel)",
                await client.call_tool("get_batch_status", {"batch_id": batch["batch_id"]}),
            )
            again = await client.call_tool("place_call", {"to_number": "+15551234567"})
            print("\n== place_call +15551234567 again (the redial guard answers; no second call)")
            print("  ", again.structured_content["message"])
            for number in ("555-1234", "+19005551234"):
                refused = await client.call_tool("place_call", {"to_number": number})
                print(f"\n== place_call {number} (refused by the dial policy)")
                print("  ", refused.content[0].text)
            history = await client.call_tool("list_calls", {})
            print("\n== list_calls")
            for call in history.structured_content["calls"]:
                print(f"   {call['created_at']}  {call['to_number']}  {call['status']}  {call['call_id']}")
        print(f"\nDone: batch {status['batch_id']} ended {status['status']}.")


if __name__ == "__main__":
    anyio.run(main)
