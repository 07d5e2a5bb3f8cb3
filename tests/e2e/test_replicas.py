"""Two ``caller-mcp serve --transport http`` replicas on one PostgreSQL database: the identical
place_call sent to both at once rings the number once."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import threading

import anyio
import pytest

from tests.fakes import PIZZA, StubHTTP
from tests.web.conftest import mcp_client

from .test_cli import SCRIPT
from .test_crash import CALL_PATH, provider_env

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Replica:
    """One ``serve --transport http`` process; :meth:`ready` waits (bounded) for uvicorn's start line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [SCRIPT, "serve", "--transport", "http", "--port", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def ready(self, timeout: float = 60) -> None:
        while True:
            line = self.lines.get(timeout=timeout)
            assert line is not None, "".join(self.stderr)
            self.stderr.append(line)
            if "Uvicorn running on" in line:
                return

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        while self.lines.get(timeout=10) is not None:  # the pump ends at the end of stderr
            pass
        self.process.stderr.close()


async def test_two_replicas_on_one_postgresql_dial_an_identical_call_once(tmp_path, pg_url):
    answer = {"success": True, "message": "Outbound call initiated successfully", "conversation_id": "conv_r1", "callSid": "CA1"}
    stub = StubHTTP("answer", 200, json.dumps(answer).encode()).start()
    env = {**provider_env(tmp_path, stub.url), "CALLER_MCP_DB": pg_url, "CALLER_MCP_ALLOWED_NUMBERS": "+15551230000"}
    replicas = [Replica(env), Replica(env)]
    try:
        for replica in replicas:
            replica.ready()
        results = []

        async def place(replica: Replica) -> None:
            async with mcp_client(replica.url) as client:
                results.append(await client.call_tool("place_call", {"to_number": "+15551230000", "business_description": PIZZA}))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for replica in replicas:
                    tg.start_soon(place, replica)
        async with mcp_client(replicas[1].url) as client:
            listed = (await client.call_tool("list_calls", {})).structured_content["calls"]
    finally:
        for replica in replicas:
            replica.stop()
        stub.stop()
    assert all(not r.is_error for r in results), [r.content for r in results]
    assert stub.posts(CALL_PATH) == 1
    answers = sorted((r.structured_content for r in results), key=lambda a: "duplicate_of" in a)
    assert "duplicate_of" not in answers[0] and answers[1]["duplicate_of"] == answers[0]["call_id"]
    assert [c["call_id"] for c in listed] == [answers[0]["call_id"]]
