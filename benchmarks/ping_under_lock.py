"""Ping latency while a tool call waits for another process's SQLite write lock (issue 9).

Another process holds ``BEGIN IMMEDIATE`` on the database; a ``set_business_context`` call waits
for it (up to the 10 s busy timeout) while this script sends pings on the same MCP session and
times them. Before the store ran on a worker thread, the wait froze the event loop and the first
ping took as long as the wait (9.1 s measured in the issue). Run by hand:

    .venv/bin/python benchmarks/ping_under_lock.py [--pings 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from caller_mcp.mcp.server import build_server  # noqa: E402
from caller_mcp.sandbox import create_app  # noqa: E402
from caller_mcp.settings import Settings  # noqa: E402
from caller_mcp.store import SqliteStore  # noqa: E402
from tests.fakes import PIZZA, WriteLockHolder  # noqa: E402


async def main(pings: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.sqlite3"
        SqliteStore(db).close()
        server = build_server(Settings(_env_file=None, caller_mcp_db=db), transport=httpx.ASGITransport(app=create_app()))
        times: list[float] = []
        with WriteLockHolder(db) as holder:
            async with Client(server, raise_exceptions=True, mode="legacy") as client:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(client.call_tool, "set_business_context", {"description": PIZZA})
                    await anyio.wait_all_tasks_blocked()
                    for _ in range(pings):
                        start = time.perf_counter()
                        await client.session.send_ping()
                        times.append(time.perf_counter() - start)
                    holder.release()
        ms = sorted(t * 1000 for t in times)
        print(f"{pings} pings while set_business_context waited for the write lock: "
              f"median {statistics.median(ms):.2f} ms, max {ms[-1]:.2f} ms (target < 100 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=20)
    anyio.run(main, parser.parse_args().pings)
