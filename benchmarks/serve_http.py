"""Serving a team: tool calls per second over streamable HTTP, SQLite vs PostgreSQL, and how long
a waiting get_call takes to answer once a signed webhook arrives.

1. Throughput. The HTTP app (``web/app.py``, static bearer token, the built-in ElevenLabs sandbox
   on a frozen clock) is served by uvicorn on 127.0.0.1 in this process's thread; 1, 10 and 50
   concurrent SDK client sessions (each its own streamable-HTTP session, opened before timing)
   call tools until ``--calls`` calls have been answered. The mix per client loop: ``list_calls``
   (a store read) and ``set_business_context`` (a store write). Each level runs on a fresh SQLite
   file and on a fresh PostgreSQL schema (``postgresql://postgres@127.0.0.1:5432/test``), one
   after the other in the same run; PostgreSQL is skipped, saying so, when unreachable.
2. Webhook → waiting get_call. A call is placed; ``get_call(wait_seconds=50)`` is waiting (its
   sandbox clock stands still, so only the push can end it); a signed ``post_call_transcription``
   is POSTed to ``/webhooks/elevenlabs``. Timed: the webhook's answer, and from sending the
   webhook to get_call's answer arriving. ``--pushes`` repeats, median and max reported.

Client and server share this machine's cores, so the figures are of the whole round trip.

    .venv/bin/python benchmarks/serve_http.py [--calls 400] [--pushes 10]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from caller_mcp.providers.elevenlabs.webhooks import sign  # noqa: E402
from caller_mcp.sandbox import ManualClock, create_app as sandbox_app  # noqa: E402
from caller_mcp.settings import Settings  # noqa: E402
from caller_mcp.web.app import create_app  # noqa: E402
from caller_mcp.web.tokens import create_token  # noqa: E402
from tests.web.conftest import mcp_client, serving  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432/test"
PIZZA = "We are Pizza Palace, a pizza restaurant that takes orders and handles delivery inquiries."
SECRET = "whsec_bench"


def pg_schema() -> tuple[str, str] | None:
    try:
        with psycopg.connect(PG, autocommit=True, connect_timeout=3) as conn:
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL not reachable at {PG}: {str(exc).strip().splitlines()[0]}; SQLite only.")
        return None
    return f"{PG}?options=-csearch_path%3D{schema}", schema


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def throughput(url: str, token: str, clients: int, calls: int) -> float:
    """Tool calls per second with ``clients`` concurrent sessions answering ``calls`` calls in all."""
    done = 0
    async with AsyncExitStack() as stack:
        entered = [await stack.enter_async_context(mcp_client(url, token)) for _ in range(clients)]
        start = time.perf_counter()

        async def worker(client) -> None:  # noqa: ANN001
            nonlocal done
            i = 0
            while done < calls:
                done += 1
                if i % 2:
                    answer = await client.call_tool("set_business_context", {"description": PIZZA})
                else:
                    answer = await client.call_tool("list_calls", {"limit": 5})
                assert not answer.is_error, answer.content
                i += 1

        async with anyio.create_task_group() as tg:
            for client in entered:
                tg.start_soon(worker, client)
        elapsed = time.perf_counter() - start
    return done / elapsed


async def push_latency(url: str, token: str, sandbox, clock: ManualClock, pushes: int) -> tuple[list[float], list[float]]:
    """(webhook answer seconds, webhook sent → get_call answered seconds), one per push."""
    answers, wakes = [], []
    async with mcp_client(url, token) as client, httpx.AsyncClient() as http:
        for i in range(pushes):
            placed = await client.call_tool(
                "place_call", {"to_number": f"+15551{i:02d}0000", "business_description": PIZZA, "scenario": f"bench {uuid.uuid4().hex}"}
            )
            assert not placed.is_error, placed.content
            conversation = placed.structured_content["conversation_id"]
            data = sandbox.calls[conversation].conversation(clock() + 3600)
            body = json.dumps({"type": "post_call_transcription", "event_timestamp": int(time.time()), "data": data}).encode()
            finished = {}

            async def wait() -> None:
                await client.call_tool("get_call", {"call_id": placed.structured_content["call_id"], "wait_seconds": 50})
                finished["t"] = time.perf_counter()

            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                await anyio.sleep(0.3)  # the get_call is waiting (its first read is done)
                sent = time.perf_counter()
                answer = await http.post(
                    url + "/webhooks/elevenlabs", content=body,
                    headers={"ElevenLabs-Signature": sign(body, SECRET, int(time.time()))},
                )
                answers.append(time.perf_counter() - sent)
                assert answer.json()["result"] == "applied", answer.text
            wakes.append(finished["t"] - sent)
    return answers, wakes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--pushes", type=int, default=10)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    pg = pg_schema()
    levels = (1, 10, 50)
    results: dict[str, dict[int, float]] = {"SQLite": {}, "PostgreSQL": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tokens = Path(tmp) / "tokens"
        token = create_token("bench", tokens)
        stores = {"SQLite": str(Path(tmp) / "bench.sqlite3")}
        if pg:
            stores["PostgreSQL"] = pg[0]
        for name, db in stores.items():
            clock = ManualClock()
            emulator = sandbox_app(clock=clock)
            settings = Settings(_env_file=None, caller_mcp_db=db, caller_mcp_tokens_file=tokens, elevenlabs_webhook_secret=SECRET)
            make = lambda port: create_app(settings, port=port, transport=httpx.ASGITransport(app=emulator))  # noqa: E731
            with serving(make) as url:
                anyio.run(throughput, url, token, 1, 20)  # warm up
                for clients in levels:
                    results[name][clients] = anyio.run(throughput, url, token, clients, args.calls)
                    print(f"{name:10} {clients:3} clients: {results[name][clients]:7.1f} tool calls/s", flush=True)
                answers, wakes = anyio.run(push_latency, url, token, emulator.state.sandbox, clock, args.pushes)
                print(
                    f"{name:10} webhook answered in median {statistics.median(answers) * 1000:.1f} ms "
                    f"(max {max(answers) * 1000:.1f}); waiting get_call answered {statistics.median(wakes) * 1000:.1f} ms "
                    f"after the webhook was sent (max {max(wakes) * 1000:.1f}), {args.pushes} pushes",
                    flush=True,
                )
    if pg:
        drop_schema(pg[1])
    print("\n| clients | SQLite calls/s | PostgreSQL calls/s |\n| --- | --- | --- |")
    for clients in levels:
        sqlite = results["SQLite"].get(clients)
        postgres = results["PostgreSQL"].get(clients)
        print(f"| {clients} | {sqlite:.0f} | {f'{postgres:.0f}' if postgres else '—'} |")


if __name__ == "__main__":
    main()
