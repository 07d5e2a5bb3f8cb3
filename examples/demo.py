"""The main job, end to end on the sandbox: a real MCP client session over stdio.

Launches the ``caller-mcp`` console script as a desktop client would, sets a business context,
places a call and waits for it (``get_call`` with ``wait_seconds``, printing progress), prints its
outcome, summary and transcript, then submits a small batch, prints its per-status counts as it
progresses, lists its failures, retries them, and shows the history. The child process is pinned
to the sandbox (``CALLER_MCP_SANDBOX=true``, running 3× faster than real time) and a
throw-away database, so no real phone can ring even when ELEVENLABS_* or TALKIFAI_* keys are set
in your shell.

The provider is ElevenLabs unless ``PROVIDER=talkifai`` (or ``--provider talkifai``) picks
TalkifAI: the same flow, where TalkifAI's agent speaks with its own Studio prompt, the call is
dialled in the background, the batch shows TalkifAI's estimate and contact statuses, and a retry
is refused (TalkifAI has none). The session closes with what TalkifAI calls can and cannot show.

Run: ``make demo`` / ``make demo PROVIDER=talkifai`` (or ``.venv/bin/python examples/demo.py
--provider talkifai``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

SCRIPT = Path(sys.executable).with_name("caller-mcp")
POLL_SECS = 1.0
MAX_POLLS = 20
SPEED = "3"
PROVIDERS = ("elevenlabs", "talkifai")
#: What a TalkifAI call can and cannot show here, and why (the closing note of the TalkifAI demo).
TALKIFAI_NOTE = """What TalkifAI calls can and cannot show here, and why:
  can:    the dial's outcome (answered / no_answer after 60 s / refused, with TalkifAI's words), the
          room name and the agent that spoke; per batch contact its status in TalkifAI's words
          (completed, no_answer, busy, failed, ...), duration and failure reason; the batch's cost and
          duration estimate; a call's status, duration, recording and transcript when its callId is
          known (get_call with a callId from a webhook or TalkifAI Studio).
  cannot: a call's transcript, summary, duration or cost from place_call's own id: the outbound call
          answers a room name, and TalkifAI documents no way from a room name to the callId that
          GET /calls/{callId} needs (webhooks carry the callId: serve --transport http);
          your scenario: TalkifAI's agent speaks with its own Studio prompt (checked and recorded
          here, never sent); voicemail as its own status (TalkifAI says completed); retrying a batch
          (no such endpoint: TalkifAI redials no_answer/busy/timeout itself up to maxAttempts)."""


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


async def main(provider: str) -> None:
    talkifai = provider == "talkifai"
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ELEVENLABS_", "TALKIFAI_", "CALLER_MCP_"))}
        env.update(
            CALLER_MCP_SANDBOX="true", CALLER_MCP_PROVIDER=provider, CALLER_MCP_DB=str(Path(tmp) / "demo.sqlite3"),
            CALLER_MCP_SANDBOX_SPEED=SPEED,
        )
        server = StdioServerParameters(command=str(SCRIPT), args=[], env=env)
        print(f"Launching {SCRIPT.name} over stdio on {provider} (sandbox at {SPEED}x speed: no real phone rings)")
        async with Client(server) as client:
            tools = (await client.list_tools()).tools
            print("Tools:", ", ".join(t.name for t in tools))

            show(
                "set_business_context",
                await client.call_tool(
                    "set_business_context",
                    {
                        "description": "We are Pizza Palace, a pizza restaurant that takes orders and handles "
                        "delivery inquiries. We are open 11am to 10pm every day. A large pepperoni pizza for "
                        "delivery costs $18 and arrives in about 40 minutes.",
                        "scenario": "order a large pepperoni pizza for delivery to 123 Main St",
                    },
                ),
            )
            placed = show("place_call +15551234567", await client.call_tool("place_call", {"to_number": "+15551234567"}))

            print("\n== get_call (wait_seconds=30): waiting for the call to end")

            async def progress(done: float, total: float | None, message: str | None) -> None:
                print(f"   … {message}")

            call = (
                await client.call_tool(
                    "get_call", {"call_id": placed["call_id"], "wait_seconds": 30}, progress_callback=progress
                )
            ).structured_content
            print(f"   status: {call['status']} (provider: {call.get('provider_status')})")
            print(f"   outcome: {call.get('outcome')}   duration: {call.get('duration_secs')} s")
            print(f"   termination: {call.get('termination_reason')}")
            print(f"   summary: {call.get('summary')}")
            if call.get("error"):  # TalkifAI: what the local record does and does not hold
                print(f"   note: {call['error']}")
            print("   transcript (untrusted: what the line said):")
            for turn in call.get("transcript", []):
                print(f"     {turn['role']:>8}: {turn['message']}")

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
            print("\n== get_batch_status, polled until the batch completes")
            status: dict = {}
            for _ in range(MAX_POLLS):
                status = (await client.call_tool("get_batch_status", {"batch_id": batch["batch_id"]})).structured_content
                counts = " ".join(f"{name}={n}" for name, n in status["counts"].items())
                print(f"   {status['status']:<12} progress {status['progress']:.0%}   {counts}")
                if status["status"] in ("completed", "failed", "cancelled"):
                    break
                await anyio.sleep(POLL_SECS)
            failures = (
                await client.call_tool(
                    "get_batch_status", {"batch_id": batch["batch_id"], "status": "failed,voicemail"}
                )
            ).structured_content
            print("\n== get_batch_status status=failed,voicemail (drill into the failures)")
            for recipient in failures["recipients"]:
                if talkifai:  # the contact itself says why, in TalkifAI's words
                    said = f"{recipient.get('provider_status')}: {recipient.get('error')}"
                else:
                    detail = (
                        await client.call_tool("get_call", {"call_id": recipient["conversation_id"]})
                    ).structured_content
                    said = detail.get("termination_reason")
                print(f"   {recipient['phone_number']}  {recipient['status']:<9}  {said}")
            if talkifai:
                refused = await client.call_tool("retry_batch", {"batch_id": batch["batch_id"]})
                print("\n== retry_batch (TalkifAI has no retry endpoint: a clear refusal, nothing dialled)")
                print("  ", refused.content[0].text)
            else:
                await retry_and_follow(client, batch["batch_id"])
            other = "elevenlabs" if talkifai else "talkifai"
            show(
                f"place_call +15551230020 provider={other} (both providers serve one server)",
                await client.call_tool("place_call", {"to_number": "+15551230020", "provider": other}),
            )

            again = await client.call_tool("place_call", {"to_number": "+15551234567"})
            print("\n== place_call +15551234567 again (the redial guard answers; no second call)")
            print("  ", again.structured_content["message"])
            for number in ("555-1234", "+19005551234"):
                refused = await client.call_tool("place_call", {"to_number": number})
                print(f"\n== place_call {number} (refused by the dial policy)")
                print("  ", refused.content[0].text)
            history = await client.call_tool("list_calls", {})
            print("\n== list_calls (batch calls included, with their last known status)")
            for row in history.structured_content["calls"]:
                print(f"   {row['to_number']}  {row['provider']:<10} {row['status']:<11} {row.get('outcome') or '':<8} {row['call_id']}")
            batches = await client.call_tool("list_batches", {})
            print("\n== list_batches")
            for row in batches.structured_content["batches"]:
                print(f"   {row['batch_id']}  {row['status']}  {row['total_calls_scheduled']} calls  here={row['submitted_here']}")
        print(f"\nDone: batch {status['batch_id']} ended {status['status']}.")
        if talkifai:
            print("\n" + TALKIFAI_NOTE)


async def retry_and_follow(client: Client, batch_id: str) -> None:
    """Retry a batch's failed and voicemail recipients and poll it to its end (ElevenLabs)."""
    show("retry_batch (calls the failed and voicemail recipients again)",
         await client.call_tool("retry_batch", {"batch_id": batch_id}))
    status: dict = {}
    for _ in range(MAX_POLLS):
        await anyio.sleep(POLL_SECS)
        status = (await client.call_tool("get_batch_status", {"batch_id": batch_id})).structured_content
        if status["status"] in ("completed", "failed", "cancelled"):
            break
    counts = " ".join(f"{name}={n}" for name, n in status["counts"].items())
    print(f"   after the retry: {status['status']}   {counts}  (the busy line answered this time)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="caller-mcp's quick-start session on the sandbox")
    parser.add_argument(
        "--provider", choices=PROVIDERS, default=os.environ.get("PROVIDER") or "elevenlabs",
        help="which provider's sandbox (default: $PROVIDER, else elevenlabs)",
    )
    anyio.run(main, parser.parse_args().provider)
