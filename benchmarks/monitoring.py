"""Cost of following calls: a 10,000-recipient batch, its status, a long call, and a long wait.

1. ``submit_batch`` of 10,000 recipients over a real stdio MCP session (tool call → answer; spawn
   and connect not timed), each run a fresh ``caller-mcp`` process on a fresh temp ``CALLER_MCP_DB``:
   (a) the built-in sandbox (``CALLER_MCP_PROVIDER=sandbox``, emulator in-process);
   (b) real-provider mode (``CALLER_MCP_PROVIDER=elevenlabs``) against ``caller-mcp sandbox-api`` on
   a free loopback port, so the real dial policy checks every number. The numbers (+1 212 200 xxxx)
   are checked with ``phonenumbers.is_valid_number`` first; both set-ups run with
   ``CALLER_MCP_CONFIRM=never`` and submit the same numbers. ``DialPolicy.check`` over the same
   numbers, timed in this process (warm), gives the policy's share of the median.
2. ``get_batch_status`` (default page) on that batch, three times per run: seconds, and characters
   of the text content and of the structured content (compact JSON). Also with
   ``CALLER_MCP_SANDBOX_SPEED=1000`` after a pause, so thousands of recipients have conversations
   that the first call records in the store.
3. ``get_call`` of a 200-turn conversation, in-process (``build_server`` with an
   ``httpx.MockTransport``): characters of text and structured content, and of the transcript resource.
4. ``get_call(wait_seconds=50)`` on a call that keeps ringing (sandbox on a frozen ``ManualClock``),
   in-process: wall seconds, conversation requests, progress notifications. ``--quick`` skips it.

No request ever leaves the machine.

    .venv/bin/python benchmarks/monitoring.py [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import anyio
import httpx
import phonenumbers
from mcp import Client, StdioServerParameters

from caller_mcp.providers.elevenlabs.config import SANDBOX_AGENT_ID, SANDBOX_API_KEY, SANDBOX_PHONE_NUMBER_ID
from caller_mcp.settings import Settings
from caller_mcp.domain.policy import DialPolicy
from caller_mcp.sandbox import ManualClock, create_app
from caller_mcp.mcp.server import build_server

CALLER_MCP = Path(sys.executable).parent / "caller-mcp"
RECIPIENTS = 10_000
TARGET_SUBMIT_SECS = 3.0
TARGET_STATUS_SECS = 0.5
TARGET_STATUS_CHARS = 4_000
TARGET_CALL_CHARS = 6_000
TURNS = 200
WAIT_SECS = 50.0
TARGET_WAIT_SECS = 50.5
TARGET_WAIT_REQUESTS = 20  # backoff: about a dozen reads, not one per second or hundreds
FAST_SPEED = 1000  # the most CALLER_MCP_SANDBOX_SPEED allows
FAST_PAUSE_SECS = 6.0  # real seconds after submitting at FAST_SPEED: ~4,000 recipients dispatched
CONVERSATIONS = "/v1/convai/conversations/"

ROWS: list[tuple[str, str, str, bool | None]] = []  # figure, measured, target, within target


def row(figure: str, value: float, target: float, fmt: str = "{:,.0f}", unit: str = "") -> None:
    ROWS.append((figure, fmt.format(value) + unit, f"≤ {fmt.format(target)}{unit}", value <= target))


def us_numbers(n: int) -> list[str]:
    """``n`` distinct US numbers +1 212 200 0000 …; refuses to go on unless every one is valid."""
    numbers = [f"+1212{2_000_000 + i:07d}" for i in range(n)]
    invalid = [x for x in numbers if not phonenumbers.is_valid_number(phonenumbers.parse(x))]
    if invalid or len(set(numbers)) != n:
        sys.exit(f"refusing to run: {len(invalid)} generated numbers are not valid, e.g. {invalid[:3]}")
    return numbers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"caller-mcp sandbox-api exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"caller-mcp sandbox-api did not accept connections on port {port} within {timeout:g} s")


def sizes(result) -> tuple[int, int]:  # noqa: ANN001 - a CallToolResult
    """(characters of the text content, characters of the structured content as compact JSON)."""
    assert not result.is_error, result.content
    text = "".join(getattr(c, "text", "") for c in result.content)
    return len(text), len(json.dumps(result.structured_content, ensure_ascii=False, separators=(",", ":")))


async def batch_run(env: dict[str, str], tmp: str, numbers: list[str], pause: float = 0.0) -> dict:
    """One fresh stdio server: submit the batch, optionally pause, then get_batch_status three times."""
    params = StdioServerParameters(command=str(CALLER_MCP), env=env, cwd=tmp)
    args = {"recipients": numbers, "call_name": "monitoring benchmark",
            "business_description": "Tony's Pizza, a pizzeria in Springfield. Large pizzas cost $18.",
            "scenario": "order a large pepperoni pizza"}
    async with Client(params) as client:
        t0 = time.perf_counter()
        submitted = await client.call_tool("submit_batch", args)
        submit_secs = time.perf_counter() - t0
        assert not submitted.is_error, submitted.content
        batch_id = submitted.structured_content["batch_id"]
        await anyio.sleep(pause)
        status = []
        for _ in range(3):
            t0 = time.perf_counter()
            answer = await client.call_tool("get_batch_status", {"batch_id": batch_id})
            status.append((time.perf_counter() - t0, *sizes(answer), answer.structured_content))
    with closing(sqlite3.connect(env["CALLER_MCP_DB"])) as db:  # the server has exited: read its store
        stored = db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    return {"submit": submit_secs, "status": status, "stored": stored}


def report_status(label: str, runs: list[dict]) -> None:
    """Print and record get_batch_status figures: the first call of each run, then the later ones."""
    first = [r["status"][0] for r in runs]
    later = [s for r in runs for s in r["status"][1:]]
    last = runs[-1]["status"][-1][3]
    dispatched = last.get("total_calls_dispatched", 0)
    print(f"  get_batch_status {label}: dispatched {dispatched:,} of {last['total_calls_scheduled']:,}, "
          f"counts {last.get('counts')}; calls in the store after: {runs[-1]['stored']:,}")
    print(f"    first call  median {statistics.median(s[0] for s in first):.3f} s   "
          f"later calls median {statistics.median(s[0] for s in later):.3f} s   "
          f"text {first[-1][1]:,} chars, structured {first[-1][2]:,} chars")
    row(f"get_batch_status, {label}, first call s", statistics.median(s[0] for s in first), TARGET_STATUS_SECS, "{:.3f}", " s")
    row(f"get_batch_status, {label}, later calls s", statistics.median(s[0] for s in later), TARGET_STATUS_SECS, "{:.3f}", " s")
    row(f"get_batch_status, {label}, text chars", max(s[1] for r in runs for s in r["status"]), TARGET_STATUS_CHARS)
    ROWS.append((f"get_batch_status, {label}, structured chars", f"{max(s[2] for r in runs for s in r['status']):,}", "-", None))


async def part_batches(args: argparse.Namespace, tmp: str) -> None:
    numbers = us_numbers(RECIPIENTS)
    policy_secs = {}
    for real in (False, True):
        policy = DialPolicy(real_provider=real)
        policy.check(numbers[0])  # warm: phonenumbers' metadata loaded
        t0 = time.perf_counter()
        for number in numbers:
            policy.check(number)
        policy_secs[real] = time.perf_counter() - t0
    counter = iter(range(10**6))

    def env(**extra: str) -> dict[str, str]:
        return {"CALLER_MCP_DB": str(Path(tmp) / f"run{next(counter)}.sqlite3"), "CALLER_MCP_CONFIRM": "never", **extra}

    port = free_port()
    log = open(Path(tmp) / "sandbox-api.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(CALLER_MCP), "sandbox-api", "--port", str(port), "--api-key", SANDBOX_API_KEY],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    try:
        wait_for_port(port, proc)
        real = dict(CALLER_MCP_PROVIDER="elevenlabs", ELEVENLABS_API_BASE=f"http://127.0.0.1:{port}",
                    ELEVENLABS_API_KEY=SANDBOX_API_KEY, ELEVENLABS_AGENT_ID=SANDBOX_AGENT_ID,
                    ELEVENLABS_AGENT_PHONE_NUMBER_ID=SANDBOX_PHONE_NUMBER_ID, ELEVENLABS_PHONE_PROVIDER="twilio",
                    CALLER_MCP_MAX_BATCH_SIZE=str(RECIPIENTS), CALLER_MCP_MAX_CALLS_PER_HOUR="1000000")
        setups = {"(a) sandbox": ({"CALLER_MCP_PROVIDER": "sandbox"}, False), "(b) real mode": (real, True)}
        for label, (extra, is_real) in setups.items():
            runs = [await batch_run(env(**extra), tmp, numbers) for _ in range(args.runs)]
            secs = [r["submit"] for r in runs]
            median = statistics.median(secs)
            share = policy_secs[is_real] / median
            print(f"submit_batch {RECIPIENTS:,}, {label}: " + ", ".join(f"{s:.2f}" for s in secs)
                  + f" s; median {median:.2f} s; DialPolicy(real_provider={is_real}) in-process "
                  f"{policy_secs[is_real]:.2f} s = {share:.0%} of it")
            row(f"submit_batch 10k, {label}, median s", median, TARGET_SUBMIT_SECS, "{:.2f}", " s")
            ROWS.append(("  of which dial policy (in-process, warm)", f"{policy_secs[is_real]:.2f} s ({share:.0%})", "-", None))
            report_status(f"{label}, speed 1", runs)
        fast = await batch_run(env(CALLER_MCP_PROVIDER="sandbox", CALLER_MCP_SANDBOX_SPEED=str(FAST_SPEED)),
                               tmp, numbers, pause=FAST_PAUSE_SECS)
        report_status(f"(a) speed {FAST_SPEED}", [fast])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def long_conversation_handler(request: httpx.Request) -> httpx.Response:
    """A provider that knows one phone number, places one call and reports a 200-turn conversation."""
    path = request.url.path
    if request.method == "GET" and path.startswith("/v1/convai/phone-numbers/"):
        return httpx.Response(200, json={"phone_number_id": path.rsplit("/", 1)[1], "phone_number": "+15550100000",
                                         "provider": "twilio", "label": "bench"})
    if request.method == "POST" and path == "/v1/convai/twilio/outbound-call":
        return httpx.Response(200, json={"success": True, "message": "Outbound call initiated successfully.",
                                         "conversation_id": "conv_long", "callSid": "CA0123456789abcdef"})
    if request.method == "GET" and path == CONVERSATIONS + "conv_long":
        filler = ("we would like the large pepperoni with extra cheese, and could you tell me how long delivery "
                  "to Evergreen Terrace takes tonight, please")
        transcript = [{"role": "agent" if i % 2 == 0 else "user", "time_in_call_secs": 6 * i,
                       "message": f"Turn {i}: {filler}"[: 100 + (i * 7) % 51]} for i in range(TURNS)]
        criteria = {c: {"criteria_id": c, "result": "success", "rationale": f"The caller {c.replace('_', ' ')}."}
                    for c in ("goal_met", "stayed_polite")}
        return httpx.Response(200, json={
            "agent_id": SANDBOX_AGENT_ID, "conversation_id": "conv_long", "status": "done", "transcript": transcript,
            "metadata": {"start_time_unix_secs": 1_767_225_600, "call_duration_secs": 6 * TURNS,
                         "termination_reason": "Call ended by the caller.", "cost": 1200,
                         "phone_call": {"direction": "outbound", "type": "twilio", "call_sid": "CA0123456789abcdef",
                                        "external_number": "+15551234567"}},
            "analysis": {"call_successful": "success", "transcript_summary": "The caller ordered a large pepperoni "
                         "pizza for delivery, confirmed the address and the price, and ended the call politely.",
                         "evaluation_criteria_results": criteria, "data_collection_results": {}},
            "has_audio": True})
    return httpx.Response(404, json={"detail": {"status": "not_found", "message": f"{request.method} {path}"}})


async def part_long_call(tmp: str) -> None:
    settings = Settings(_env_file=None, caller_mcp_db=Path(tmp) / "long.sqlite3", caller_mcp_provider="sandbox")
    server = build_server(settings, transport=httpx.MockTransport(long_conversation_handler))
    logging.getLogger().setLevel(logging.WARNING)  # MCPServer sets up INFO logging; keep the output readable
    async with Client(server, raise_exceptions=True) as client:
        placed = await client.call_tool("place_call", {"to_number": "+15551234567", "business_description": "Tony's Pizza"})
        assert not placed.is_error, placed.content
        call_id = placed.structured_content["call_id"]
        answer = await client.call_tool("get_call", {"call_id": call_id})
        text, structured = sizes(answer)
        resource = await client.read_resource(answer.structured_content["transcript_uri"])
    shown = answer.structured_content
    resource_chars = sum(len(getattr(c, "text", "")) for c in resource.contents)
    print(f"get_call of a {shown['transcript_turns']}-turn call: {len(shown['transcript'])} turns shown "
          f"(truncated: {shown['transcript_truncated']}), text {text:,} chars, structured {structured:,} chars, "
          f"transcript resource {resource_chars:,} chars")
    row(f"get_call {TURNS} turns, text chars", text, TARGET_CALL_CHARS)
    ROWS.append((f"get_call {TURNS} turns, structured chars", f"{structured:,}", "-", None))
    ROWS.append((f"transcript resource {TURNS} turns, chars", f"{resource_chars:,}", "-", None))


class CountingASGITransport(httpx.ASGITransport):
    """Counts the conversation reads it carries."""

    reads = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith(CONVERSATIONS):
            self.reads += 1
        return await super().handle_async_request(request)


async def part_wait(tmp: str) -> None:
    transport = CountingASGITransport(app=create_app(clock=ManualClock()))  # frozen: the call rings forever
    settings = Settings(_env_file=None, caller_mcp_db=Path(tmp) / "wait.sqlite3", caller_mcp_provider="sandbox")
    notes: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append((progress, total, message))

    server = build_server(settings, transport=transport)
    logging.getLogger().setLevel(logging.WARNING)
    async with Client(server, raise_exceptions=True) as client:
        placed = await client.call_tool("place_call", {"to_number": "+15551230002", "business_description": "Tony's Pizza"})
        assert not placed.is_error, placed.content
        transport.reads = 0
        t0 = time.perf_counter()
        answer = await client.call_tool("get_call", {"call_id": placed.structured_content["call_id"],
                                                     "wait_seconds": WAIT_SECS}, progress_callback=on_progress)
        wall = time.perf_counter() - t0
    assert not answer.is_error, answer.content
    print(f"get_call wait_seconds={WAIT_SECS:g} on a ringing call: {wall:.2f} s wall, status "
          f"{answer.structured_content['status']}, {transport.reads} conversation reads, {len(notes)} progress "
          f"notifications (last: {notes[-1][2] if notes else None!r})")
    row(f"get_call wait {WAIT_SECS:g} s, wall s", wall, TARGET_WAIT_SECS, "{:.2f}", " s")
    row(f"get_call wait {WAIT_SECS:g} s, conversation reads", transport.reads, TARGET_WAIT_REQUESTS)
    ROWS.append((f"get_call wait {WAIT_SECS:g} s, progress notifications", str(len(notes)), "≥ 1", len(notes) >= 1))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="submit_batch runs per set-up (default 3)")
    parser.add_argument("--quick", action="store_true", help=f"skip the {WAIT_SECS:g} s wait of part 4")
    args = parser.parse_args()
    leaked = sorted(k for k in os.environ if k.startswith("ELEVENLABS_"))
    if leaked:
        print(f"note: {', '.join(leaked)} set in this shell but not passed to the servers", file=sys.stderr)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.runs} run(s) per set-up")
    with tempfile.TemporaryDirectory(prefix="caller-mcp-bench-") as tmp:
        await part_batches(args, tmp)
        await part_long_call(tmp)
        if not args.quick:
            await part_wait(tmp)

    width = max(len(r[0]) for r in ROWS)
    print(f"\n{'figure':<{width}}  {'measured':>16}  {'target':>10}  result")
    for figure, measured, target, ok in ROWS:
        print(f"{figure:<{width}}  {measured:>16}  {target:>10}  {'' if ok is None else 'OK' if ok else 'ABOVE'}")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
