"""A large test run through the tool layer on the sandbox (manual clock): a 1,000-call suite
(50 cases × 20 repeats), how long run_test_suite, get_test_run and get_test_report take, and how
many characters their answers (and the report files) are.

    .venv/bin/python benchmarks/suite_runs.py
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
from mcp import Client

from caller_mcp.mcp.server import build_server
from caller_mcp.sandbox import ManualClock, create_app
from caller_mcp.settings import Settings

CASES, REPEATS = 50, 20


def suite() -> str:
    cases = "".join(
        f"  - id: case-{i:02d}\n    scenario: ask about delivery option {i}\n"
        f"    success_criteria: [the business answers the question]\n"
        f"    checks: {{business_says: [\"40 minutes\"], outcome: completed, max_duration_secs: 60}}\n"
        for i in range(CASES)
    )
    return (
        "name: big-run\nto_number: \"+15551234567\"\n"
        "business_description: We are Pizza Palace. Delivery takes about 40 minutes.\n"
        f"defaults: {{repeats: {REPEATS}}}\ncases:\n{cases}"
    )


async def timed(client: Client, tool: str, arguments: dict) -> tuple[float, dict, int]:
    start = time.perf_counter()
    result = await client.call_tool(tool, arguments)
    elapsed = time.perf_counter() - start
    assert not result.is_error, result.content[0].text
    return elapsed, result.structured_content, len(result.content[0].text)


async def main() -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    clock = ManualClock(start=float(int(time.time())))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, caller_mcp_db=Path(tmp) / "db.sqlite3")
        server = build_server(settings, transport=httpx.ASGITransport(app=create_app(clock=clock)))
        async with Client(server) as client:
            secs, started, size = await timed(client, "run_test_suite", {"suite": suite()})
            print(f"run_test_suite, {started['calls']:,} calls: {secs:.2f} s, {size:,} characters")
            clock.advance(3_600)  # every wave dispatched and ended
            secs, run, size = await timed(client, "get_test_run", {"run_id": started["run_id"]})
            print(f"get_test_run, first read after the end (1,000 conversations read and checked): {secs:.2f} s, {size:,} characters, status {run['status']}")
            secs, run, size = await timed(client, "get_test_run", {"run_id": started["run_id"]})
            print(f"get_test_run, again (from the records): {secs:.2f} s, {size:,} characters ({len(run['units'])} units shown)")
            secs, report, size = await timed(client, "get_test_report", {"run_id": started["run_id"]})
            print(f"get_test_report: {secs:.2f} s, {size:,} characters")
            for uri in (report["report_uri"], report["junit_uri"]):
                start = time.perf_counter()
                text = (await client.read_resource(uri)).contents[0].text
                print(f"{uri.rsplit('/', 1)[1]}: {time.perf_counter() - start:.2f} s, {len(text):,} characters")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
