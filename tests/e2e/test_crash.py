"""SIGKILL while a call-placing POST is in flight: the next server process must report the call as
``outcome_unknown`` (it may have rung), never lose it and never leave it ``dialling``."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from tests.e2e.test_cli import SCRIPT, StdioServer, clean_env, initialize, rpc
from tests.fakes import KEY, PIZZA, StubHTTP

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and pid probing are POSIX")

TO_NUMBER = "+14155550123"
CALL_PATH = "/v1/convai/twilio/outbound-call"


def provider_env(tmp_path, api_base: str) -> dict[str, str]:
    env = {k: v for k, v in clean_env(tmp_path).items() if not k.lower().endswith("_proxy")}
    env.update(
        CALLER_MCP_PROVIDER="elevenlabs",
        ELEVENLABS_API_KEY=KEY,
        ELEVENLABS_AGENT_ID="agent_1",
        ELEVENLABS_AGENT_PHONE_NUMBER_ID="phnum_1",
        ELEVENLABS_PHONE_PROVIDER="twilio",
        ELEVENLABS_API_BASE=api_base,
        CALLER_MCP_DB=str(tmp_path / "crash.sqlite3"),
    )
    return env


def reap(server: StdioServer) -> None:
    """Close the pipes of a process that was killed, once it is gone."""
    server.process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while server.lines.get(timeout=max(0.1, deadline - time.monotonic())) is not None:
        pass  # the pump thread ends at end of stdout
    for pipe in (server.process.stdin, server.process.stdout, server.process.stderr):
        try:
            pipe.close()
        except BrokenPipeError:
            pass


def test_call_in_flight_when_the_server_is_killed_is_reported_outcome_unknown_by_the_next(tmp_path):
    stub = StubHTTP("hang").start()
    try:
        env = provider_env(tmp_path, stub.url)
        first = StdioServer([SCRIPT], env)
        try:
            initialize(first)
            first.send(rpc(2, "tools/call", {
                "name": "place_call", "arguments": {"to_number": TO_NUMBER, "business_description": PIZZA},
            }))
            assert stub.received.wait(timeout=30), "the outbound-call POST never reached the stub"
            os.kill(first.process.pid, signal.SIGKILL)
        finally:
            if first.process.poll() is None:
                first.process.kill()
            reap(first)  # waited for: a zombie would still answer kill(pid, 0) and look alive
        assert first.process.returncode == -signal.SIGKILL
        assert stub.posts(CALL_PATH) == 1
        assert json.loads(stub.requests[0][2])["to_number"] == TO_NUMBER

        second = StdioServer([SCRIPT], env)
        initialize(second)
        second.send(rpc(2, "tools/call", {"name": "list_calls", "arguments": {}}))
        listed = second.answer(2)["result"]
        second.send(rpc(3, "tools/call", {
            "name": "place_call", "arguments": {"to_number": TO_NUMBER, "business_description": PIZZA},
        }))
        repeated = second.answer(3)["result"]
        stderr = second.close()
        assert second.process.returncode == 0, stderr
    finally:
        stub.stop()

    assert listed["isError"] is False
    [call] = listed["structuredContent"]["calls"]
    assert call["to_number"] == TO_NUMBER
    assert call["status"] == "outcome_unknown"
    assert f"server process (pid {first.process.pid}) stopped while the request was in flight" in call["error"]
    # The model repeating the call is given the unknown one back, and nothing is sent again.
    assert repeated["isError"] is False
    assert repeated["structuredContent"]["duplicate_of"] == call["call_id"]
    assert stub.posts(CALL_PATH) == 1
