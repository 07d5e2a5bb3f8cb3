"""Batches of 1,000 / 10,000 / 50,000 recipients: submit time, peak memory, ping latency while
submitting, progress, and status polls, each beside its floor, measured in one run.

Every run is a fresh ``caller-mcp`` stdio process on a fresh temp ``CALLER_MCP_DB``
(``CALLER_MCP_CONFIRM=never``, caps raised to the batch size), driven by a real MCP client:

* ``sandbox``: ``CALLER_MCP_PROVIDER=sandbox`` (the emulator runs inside the server process, so
  its work and memory are counted too);
* ``real mode``: ``CALLER_MCP_PROVIDER=elevenlabs`` against ``caller-mcp sandbox-api`` on a free
  loopback port (the real-provider dial policy checks every number).

Per run: first a ``submit_batch`` dry run of one number, timed on its own (the server's one-time
start: services, the provider's HTTP client, the phone-number metadata the dial policy loads on
first use — the floor's process has them already); then the server's resident memory when
idle and its peak (``VmHWM``) once the submit has been answered; ``submit_batch`` wall time (tool call → answer, progress
notifications counted); a ``ping`` sent every 50 ms from 0.05 s after the submit starts (the
slowest answer and the median are reported); then ``get_batch_status`` three times: the first
poll records every recipient with a conversation (sandbox speed 1000 after a pause, so thousands
have one), the later ones find nothing changed.

Floors, timed in this process in the same rounds (interleaved with the server runs):

* submit floor = validate (``DialPolicy.check`` of every number) + encode (``orjson``) + POST of
  the same body the server sends to ``sandbox-api``;
* status floor = ``GET`` of the batch from ``sandbox-api`` + ``orjson.loads`` of the answer.

Targets (issue 10): sandbox submit 10k ≤ 0.5 s and 50k ≤ 2.5 s; real mode ≤ 1.5× its floor;
ping ≤ 100 ms; peak ≤ 120 MiB above idle at 50k; status poll at 50k ≤ 1.3× its floor.
No request leaves the machine.

    .venv/bin/python benchmarks/batch_scale.py [--sizes 1000,10000,50000] [--runs 3] [--setups sandbox,real]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
import orjson
import phonenumbers
from mcp import Client, StdioServerParameters

from caller_mcp.domain.policy import DialPolicy
from caller_mcp.domain.script import build_script
from caller_mcp.providers.elevenlabs.config import SANDBOX_AGENT_ID, SANDBOX_API_KEY, SANDBOX_PHONE_NUMBER_ID
from caller_mcp.providers.elevenlabs.mapping import client_data

CALLER_MCP = Path(sys.executable).parent / "caller-mcp"
DESCRIPTION = "Tony's Pizza, a pizzeria in Springfield. Large pizzas cost $18; delivery until 11 pm."
SCENARIO = "order a large pepperoni pizza"
FAST_SPEED = 1000  # sandbox seconds per real second for the status polls (the most the server allows)
PING_EVERY_SECS = 0.05
TARGET_SANDBOX_SECS = {10_000: 0.5, 50_000: 2.5}
TARGET_REAL_RATIO = 1.5
TARGET_PING_MS = 100.0
TARGET_PEAK_MIB = 120.0
TARGET_STATUS_RATIO = 1.3
MIB = 1024 * 1024

ROWS: list[tuple[str, str, str, str]] = []  # figure, measured, floor, target/result


def us_numbers(n: int) -> list[str]:
    """``n`` distinct valid US numbers (+1 212 2xx xxxx); refuses to run with an invalid one."""
    numbers = [f"+1212{2_000_000 + i:07d}" for i in range(n)]
    bad = [x for x in numbers if not phonenumbers.is_valid_number(phonenumbers.parse(x))]
    if bad:
        sys.exit(f"refusing to run: {len(bad)} generated numbers are not valid, e.g. {bad[:3]}")
    return numbers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox_api(tmp: str, speed: float) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = open(Path(tmp) / f"sandbox-api-{port}.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [str(CALLER_MCP), "sandbox-api", "--port", str(port), "--speed", str(speed)],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"caller-mcp sandbox-api exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("caller-mcp sandbox-api did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def server_pid() -> int:
    """The pid of this process's ``caller-mcp`` stdio child (the one MCP server running)."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and any(b"caller-mcp" in part for part in cmdline) and b"sandbox-api" not in cmdline:
            return int(entry)
    raise RuntimeError("no caller-mcp child process found")


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak) of ``pid``, KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


async def server_run(env: dict[str, str], tmp: str, numbers: list[str], pause: float) -> dict:
    """One fresh stdio server: idle memory, the submit with pings beside it, peak memory, three polls."""
    params = StdioServerParameters(command=str(CALLER_MCP), env=env, cwd=tmp)
    args = {"recipients": numbers, "call_name": "scale benchmark", "business_description": DESCRIPTION,
            "scenario": SCENARIO}
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async with Client(params, mode="legacy") as client:  # ping is a request of the initialize era
        await client.list_tools()
        # One dry run of one number first: the server's one-time start (its services, the
        # provider's HTTP client, the phone-number metadata the dial policy loads on first use)
        # is timed here, apart from the submit; nothing is dialled or written.
        t0 = time.perf_counter()
        warm = await client.call_tool("submit_batch", {**args, "recipients": numbers[:1], "dry_run": True})
        first_call = time.perf_counter() - t0
        assert not warm.is_error, warm.content
        pid = server_pid()
        await anyio.sleep(0.2)
        idle = memory_kib(pid)["VmRSS"]
        pings: list[float] = []
        result: dict = {}

        async def submit() -> None:
            t0 = time.perf_counter()
            answer = await client.call_tool("submit_batch", args, progress_callback=on_progress)
            result["secs"] = time.perf_counter() - t0
            result["answer"] = answer

        async with anyio.create_task_group() as tg:
            tg.start_soon(submit)
            await anyio.sleep(PING_EVERY_SECS)
            while "answer" not in result:
                t0 = time.perf_counter()
                await client.send_ping()
                pings.append((time.perf_counter() - t0) * 1000)
                await anyio.sleep(PING_EVERY_SECS)
        answer = result["answer"]
        assert not answer.is_error, answer.content
        peak = memory_kib(pid)["VmHWM"]
        batch_id = answer.structured_content["batch_id"]
        await anyio.sleep(pause)
        polls = []
        for _ in range(3):
            t0 = time.perf_counter()
            status = await client.call_tool("get_batch_status", {"batch_id": batch_id})
            polls.append(time.perf_counter() - t0)
            assert not status.is_error, status.content
        dispatched = status.structured_content["total_calls_dispatched"]
    return {"first_call": first_call, "secs": result["secs"], "idle_mib": idle / 1024, "peak_mib": (peak - idle) / 1024, "pings": pings,
            "progress": len(progress), "polls": polls, "batch_id": batch_id, "dispatched": dispatched}


async def submit_floor(base: str, numbers: list[str]) -> float:
    """Validate + encode + POST of the body ``submit_batch`` sends, seconds."""
    t0 = time.perf_counter()
    policy = DialPolicy(real_provider=True)
    for number in numbers:
        policy.check(number)
    data = client_data(build_script(DESCRIPTION, SCENARIO))
    body = orjson.dumps({
        "call_name": "scale benchmark floor", "agent_id": SANDBOX_AGENT_ID, "agent_phone_number_id": SANDBOX_PHONE_NUMBER_ID,
        "scheduled_time_unix": None,
        "recipients": [{"phone_number": n, "conversation_initiation_client_data": data} for n in numbers],
    })
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        response = await http.post("/v1/convai/batch-calling/submit", content=body,
                                   headers={"xi-api-key": SANDBOX_API_KEY, "content-type": "application/json"})
        response.raise_for_status()
    return time.perf_counter() - t0


async def status_floor(base: str, batch_id: str) -> float:
    """GET of the batch + orjson.loads of the answer, seconds."""
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        t0 = time.perf_counter()
        response = await http.get(f"/v1/convai/batch-calling/{batch_id}", headers={"xi-api-key": SANDBOX_API_KEY})
        orjson.loads(response.content)
        return time.perf_counter() - t0


def mark(ok: bool) -> str:
    return "OK" if ok else "ABOVE"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="batch sizes (default 1000,10000,50000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per size and set-up (default 3)")
    parser.add_argument("--setups", default="sandbox,real", help="sandbox, real or both (default both)")
    parser.add_argument("--pause", type=float, default=3.0, help="real seconds between submit and the first poll")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    setups = [s.strip() for s in args.setups.split(",")]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.runs} run(s) per size and set-up")
    with tempfile.TemporaryDirectory(prefix="caller-mcp-scale-") as tmp:
        api, port = start_sandbox_api(tmp, FAST_SPEED)
        base = f"http://127.0.0.1:{port}"
        try:
            counter = iter(range(10**6))
            for size in sizes:
                numbers = us_numbers(size)
                common = {"CALLER_MCP_CONFIRM": "never", "CALLER_MCP_MAX_BATCH_SIZE": str(size),
                          "CALLER_MCP_MAX_CALLS_PER_HOUR": str(10 * size * (args.runs + 1) * 2)}
                envs = {
                    "sandbox": {**common, "CALLER_MCP_PROVIDER": "sandbox", "CALLER_MCP_SANDBOX_SPEED": str(FAST_SPEED)},
                    "real": {**common, "CALLER_MCP_PROVIDER": "elevenlabs", "ELEVENLABS_API_BASE": base,
                             "ELEVENLABS_API_KEY": SANDBOX_API_KEY, "ELEVENLABS_AGENT_ID": SANDBOX_AGENT_ID,
                             "ELEVENLABS_AGENT_PHONE_NUMBER_ID": SANDBOX_PHONE_NUMBER_ID,
                             "ELEVENLABS_PHONE_PROVIDER": "twilio"},
                }
                runs: dict[str, list[dict]] = {s: [] for s in setups}
                floors: list[float] = []
                polls_floor: list[float] = []
                for _ in range(args.runs):  # interleaved: floor, sandbox, real, floor, …
                    floors.append(await submit_floor(base, numbers))
                    for setup in setups:
                        env = {**envs[setup], "CALLER_MCP_DB": str(Path(tmp) / f"run{next(counter)}.sqlite3")}
                        run = await server_run(env, tmp, numbers, args.pause)
                        runs[setup].append(run)
                        if setup == "real":
                            polls_floor.append(await status_floor(base, run["batch_id"]))
                floor = statistics.median(floors)
                label = f"{size // 1000}k"
                for setup, done in runs.items():
                    secs = statistics.median(r["secs"] for r in done)
                    ping_max = max((max(r["pings"]) for r in done if r["pings"]), default=0.0)
                    pings = [p for r in done for p in r["pings"]]
                    peak = statistics.median(r["peak_mib"] for r in done)
                    first = statistics.median(r["polls"][0] for r in done)
                    later = statistics.median(p for r in done for p in r["polls"][1:])
                    print(f"{label} {setup}: submit " + ", ".join(f"{r['secs']:.2f}" for r in done)
                          + f" s (floor {floor:.2f} s); idle {done[0]['idle_mib']:.0f} MiB, peak +"
                          + ", +".join(f"{r['peak_mib']:.0f}" for r in done) + " MiB; pings "
                          + f"{len(pings)} (median {statistics.median(pings) if pings else 0:.1f} ms, max {ping_max:.1f} ms); "
                          + f"progress notes {done[0]['progress']}; polls "
                          + "; ".join(", ".join(f"{p:.3f}" for p in r["polls"]) for r in done)
                          + f" s; dispatched {done[-1]['dispatched']:,}")
                    if setup == "sandbox":
                        target = TARGET_SANDBOX_SECS.get(size)
                        verdict = f"≤ {target} s {mark(secs <= target)}" if target else "-"
                    else:
                        verdict = f"≤ {TARGET_REAL_RATIO}× floor: {secs / floor:.2f}× {mark(secs <= TARGET_REAL_RATIO * floor)}"
                    ROWS.append((f"submit_batch {label}, {setup}", f"{secs:.2f} s", f"{floor:.2f} s", verdict))
                    first_call = statistics.median(r["first_call"] for r in done)
                    ROWS.append((f"  first tool call (dry run, 1 number), {setup}", f"{first_call:.2f} s", "-", "-"))
                    ROWS.append((f"  ping during submit, {setup}, max", f"{ping_max:.0f} ms", "-",
                                 f"≤ {TARGET_PING_MS:.0f} ms {mark(ping_max <= TARGET_PING_MS)}"))
                    peak_verdict = f"≤ {TARGET_PEAK_MIB:.0f} {mark(peak <= TARGET_PEAK_MIB)}" if size >= 50_000 else "-"
                    ROWS.append((f"  peak RSS above idle, {setup}", f"{peak:.0f} MiB", "-", peak_verdict))
                    ROWS.append((f"  progress notifications, {setup}", str(done[0]["progress"]), "-", "-"))
                    if setup == "real" and polls_floor:
                        pfloor = statistics.median(polls_floor)
                        ratio = first / pfloor
                        ROWS.append((f"get_batch_status {label}, real, first poll", f"{first:.3f} s", f"{pfloor:.3f} s",
                                     f"{ratio:.2f}×" + (f" ≤ {TARGET_STATUS_RATIO}× {mark(ratio <= TARGET_STATUS_RATIO)}"
                                                        if size >= 50_000 else "")))
                        ratio = later / pfloor
                        ROWS.append((f"get_batch_status {label}, real, unchanged poll", f"{later:.3f} s", f"{pfloor:.3f} s",
                                     f"{ratio:.2f}×" + (f" ≤ {TARGET_STATUS_RATIO}× {mark(ratio <= TARGET_STATUS_RATIO)}"
                                                        if size >= 50_000 else "")))
                    else:
                        ROWS.append((f"get_batch_status {label}, {setup}, first / later poll",
                                     f"{first:.3f} / {later:.3f} s", "-", "-"))
        finally:
            stop(api)
    width = max(len(r[0]) for r in ROWS)
    print(f"\n{'figure':<{width}}  {'measured':>16}  {'floor':>9}  target")
    for figure, measured, floor, target in ROWS:
        print(f"{figure:<{width}}  {measured:>16}  {floor:>9}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
