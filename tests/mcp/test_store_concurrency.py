"""The store never blocks the event loop: while another process holds the database's write lock,
the server keeps answering (a ``ping``), and the tool call that waits for the lock completes once
it is released."""

from __future__ import annotations

import anyio
import httpx
import pytest
from mcp import Client

from caller_mcp.mcp.server import build_server
from caller_mcp.store import SqliteStore

from tests.fakes import PIZZA, WriteLockHolder

pytestmark = pytest.mark.anyio


async def test_ping_is_answered_while_a_tool_call_waits_for_another_processs_write_lock(settings, sandbox_app, db_path):
    SqliteStore(db_path).close()  # the file exists, with caller-mcp's schema
    done: list[object] = []
    server = build_server(settings, transport=httpx.ASGITransport(app=sandbox_app))
    with WriteLockHolder(db_path) as holder:
        async with Client(server, raise_exceptions=True, mode="legacy") as client:  # ping: the legacy era's

            async def set_context() -> None:
                done.append(await client.call_tool("set_business_context", {"description": PIZZA}))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(set_context)
                # Every task now waits: the tool call for the lock (on old code, the whole loop
                # was stuck inside the tool until SQLite's busy timeout gave up).
                await anyio.wait_all_tasks_blocked()
                with anyio.fail_after(5):
                    await client.session.send_ping()  # Client.send_ping warns on every era
                assert done == [], "the tool call finished while the write lock was held"
                holder.release()
            [answer] = done
            assert not answer.is_error, answer.content
            assert answer.structured_content["description"] == PIZZA
