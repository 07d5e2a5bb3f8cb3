"""The console script, launched as a desktop client launches it."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

SCRIPT = str(Path(sys.executable).with_name("caller-mcp"))


def clean_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ELEVENLABS_", "CALLER_MCP_"))}
    env["CALLER_MCP_DB"] = str(tmp_path / "stdio.sqlite3")
    return env


def rpc(id_: int, method: str, params: dict | None = None) -> str:
    message = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message)


class StdioServer:
    """The console script under a line-by-line JSON-RPC conversation, with bounded waits."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def answer(self, id_: int, timeout: float = 30) -> dict:
        """Read stdout lines until the response with ``id_`` arrives."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "the server closed stdout"
            self.stdout.append(line)
            message = json.loads(line)
            if message.get("id") == id_:
                return message

    def close(self) -> str:
        """Close stdin, wait for exit; returns stderr."""
        self.process.stdin.close()
        self.process.wait(timeout=30)
        while (line := self.lines.get(timeout=10)) is not None:
            self.stdout.append(line)
        stderr = self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        return stderr


def initialize(server: StdioServer) -> dict:
    server.send(rpc(1, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))
    answer = server.answer(1)
    server.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    return answer


def test_stdio_session_places_a_sandbox_call_and_stdout_is_only_json_rpc(tmp_path):
    # The log level is raised so that anything logged would show up, on stderr only.
    env = {**clean_env(tmp_path), "CALLER_MCP_LOG_LEVEL": "DEBUG"}
    server = StdioServer([SCRIPT], env)
    by_id = {1: initialize(server)}
    requests = {
        2: ("tools/list", None),
        3: ("tools/call", {"name": "set_business_context", "arguments": {"description": "We are Pizza Palace."}}),
        4: ("tools/call", {"name": "place_call", "arguments": {"to_number": "+15551234567"}}),
        5: ("tools/call", {"name": "place_call", "arguments": {"to_number": "not a number"}}),
    }
    for id_, (method, params) in requests.items():
        server.send(rpc(id_, method, params))
        by_id[id_] = server.answer(id_)
    stderr = server.close()
    assert server.process.returncode == 0, stderr
    out_lines = [line for line in server.stdout if line.strip()]
    messages = [json.loads(line) for line in out_lines]  # every stdout line parses as JSON
    assert all(m.get("jsonrpc") == "2.0" for m in messages)
    assert {m["id"] for m in messages if "id" in m} == {1, 2, 3, 4, 5}
    assert by_id[1]["result"]["serverInfo"]["name"] == "caller-mcp"
    assert len(by_id[2]["result"]["tools"]) == 14
    placed = by_id[4]["result"]
    assert placed["isError"] is False
    assert placed["structuredContent"]["provider"] == "elevenlabs" and placed["structuredContent"]["sandbox"] is True
    assert placed["structuredContent"]["message"] == "Call initiated."
    refused = by_id[5]["result"]
    assert refused["isError"] is True and "E.164" in refused["content"][0]["text"]
    assert "HTTP Request" in stderr  # the debug log went to stderr, not stdout


def test_python_dash_m_lists_tools(tmp_path):
    server = StdioServer([sys.executable, "-m", "caller_mcp"], clean_env(tmp_path))
    initialize(server)
    server.send(rpc(2, "tools/list"))
    tools = server.answer(2)["result"]["tools"]
    server.close()
    assert len(tools) == 14


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sandbox_api_serves_the_emulator_on_loopback(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [SCRIPT, "sandbox-api", "--port", str(port)], env=clean_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/v1/convai/phone-numbers/phnum_sandbox_twilio",
                    headers={"xi-api-key": "sandbox"},
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "sandbox-api did not start"
                assert process.poll() is None, process.stderr.read().decode()
                time.sleep(0.1)
        assert answer.status_code == 200
        assert answer.json()["provider"] == "twilio"
        assert answer.json()["sandbox"]["provider"] == "sandbox"
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
