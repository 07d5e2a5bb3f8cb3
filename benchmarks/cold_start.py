"""Cold start of caller-mcp over stdio versus a hello-world MCPServer floor.

Cold start = spawn the process → MCP connect (default client mode) → ``tools/list`` answered.
Both servers run with the same interpreter and the same minimal environment (the SDK's safe
defaults plus ``CALLER_MCP_DB`` → a temp file; no ``ELEVENLABS_*``, so caller-mcp uses its sandbox).
Runs are interleaved (A, B, A, B …) after warm-up runs, so drift affects both alike. Process
shutdown is not timed.

    .venv/bin/python benchmarks/cold_start.py [--runs 25] [--warmup 2] [--fresh-db]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CALLER_MCP = BIN / "caller-mcp"
HELLO = HERE / "hello_server.py"
TARGET_RATIO = 1.10


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n*q/100), at least 1
    return ordered[int(rank) - 1]


async def cold_start(params: StdioServerParameters, mode: str = "auto") -> tuple[float, list[str], str]:
    """Return (ms from just before spawning to tools/list answered, tool names, protocol version)."""
    t0 = time.perf_counter()
    async with Client(params, mode=mode) as client:
        result = await client.list_tools()
        elapsed = (time.perf_counter() - t0) * 1000
        version = client.protocol_version
    return elapsed, [t.name for t in result.tools], version


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25, help="timed runs per server (default 25)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up runs per server (default 2)")
    parser.add_argument("--fresh-db", action="store_true", help="a new, empty CALLER_MCP_DB for every run")
    args = parser.parse_args()

    leaked = sorted(k for k in os.environ if k.startswith("ELEVENLABS_"))
    if leaked:  # the SDK passes only HOME/PATH/… anyway; say so rather than silently ignore
        print(f"note: {', '.join(leaked)} set in this shell but not passed to the servers", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="caller-mcp-bench-") as tmp:
        counter = iter(range(10**6))

        def params(name: str) -> StdioServerParameters:
            db = Path(tmp) / (f"run{next(counter)}.sqlite3" if args.fresh_db else "caller-mcp.sqlite3")
            env = {"CALLER_MCP_DB": str(db)}
            if name == "caller-mcp":
                return StdioServerParameters(command=str(CALLER_MCP), env=env, cwd=tmp)
            return StdioServerParameters(command=sys.executable, args=[str(HELLO)], env=env, cwd=tmp)

        names = ("caller-mcp", "floor")

        # Sanity: the classic initialize handshake works too, and both modes list the same tools.
        for name in names:
            _, legacy_tools, legacy_version = await cold_start(params(name), mode="legacy")
            _, auto_tools, auto_version = await cold_start(params(name), mode="auto")
            assert legacy_tools == auto_tools and legacy_tools, (name, legacy_tools, auto_tools)
            print(f"check {name:<10} {len(auto_tools)} tool(s) listed with mode=legacy (protocol {legacy_version}) "
                  f"and mode=auto (protocol {auto_version})")

        for _ in range(args.warmup):
            for name in names:
                await cold_start(params(name))

        times: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.runs):
            for name in names:
                ms, _, _ = await cold_start(params(name))
                times[name].append(ms)

    print()
    print(f"cold start: spawn → connect (mode=auto) → tools/list, {args.runs} interleaved runs after "
          f"{args.warmup} warm-up each, python {sys.version.split()[0]}")
    print(f"{'server':<12}{'median ms':>11}{'p90 ms':>9}{'min ms':>9}{'max ms':>9}")
    for name in names:
        t = times[name]
        print(f"{name:<12}{statistics.median(t):>11.1f}{percentile(t, 90):>9.1f}{min(t):>9.1f}{max(t):>9.1f}")
    ratio = statistics.median(times["caller-mcp"]) / statistics.median(times["floor"])
    verdict = "OK" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(f"ratio of medians caller-mcp / floor: {ratio:.3f}   (target ≤ {TARGET_RATIO}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
