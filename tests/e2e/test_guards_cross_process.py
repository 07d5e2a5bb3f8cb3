"""The guards across processes: real ``caller-mcp`` servers (stdio) on one database, as two or
three MCP clients on one machine launch them, placing the same calls at the same moment against a
provider stub on 127.0.0.1 that counts the call-placing POSTs. A number must never be rung twice
and the hourly cap never exceeded, however the processes interleave."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections import Counter

import pytest

from tests.e2e.test_cli import SCRIPT, StdioServer, initialize, rpc
from tests.e2e.test_crash import provider_env
from tests.fakes import PIZZA, StubHTTP

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")

CALL_PATH = "/v1/convai/twilio/outbound-call"
CALL_OK = json.dumps(
    {"success": True, "message": "Outbound call initiated successfully.", "conversation_id": "conv_1", "callSid": "CA1"}
).encode()
#: 50 distinct valid US numbers.
NUMBERS = [f"+1415555{100 + i:04d}" for i in range(50)]
PROCESSES = 3


def servers(env: dict[str, str], count: int) -> list[StdioServer]:
    started = [StdioServer([SCRIPT], env) for _ in range(count)]
    for server in started:
        initialize(server)
    return started


def place_all(started: list[StdioServer], numbers: list[str]) -> list[dict]:
    """Send every process a place_call for every number, all before reading any answer; return
    every answer's ``result``."""
    for server in started:
        for index, number in enumerate(numbers):
            server.send(rpc(100 + index, "tools/call", {
                "name": "place_call", "arguments": {"to_number": number, "business_description": PIZZA},
            }))
    return [result for server in started for result in answers(server, range(100, 100 + len(numbers)))]


def answers(server: StdioServer, ids, timeout: float = 120) -> list[dict]:
    """The ``result`` of every response in ``ids``, in any order of arrival (bounded wait)."""
    deadline = time.monotonic() + timeout
    found: dict[int, dict] = {}
    while len(found) < len(ids):
        line = server.lines.get(timeout=max(0.1, deadline - time.monotonic()))
        assert line is not None, "the server closed stdout"
        message = json.loads(line)
        if message.get("id") in ids:
            found[message["id"]] = message["result"]
    return [found[i] for i in ids]


def close_all(started: list[StdioServer]) -> None:
    for server in started:
        stderr = server.close()
        assert server.process.returncode == 0, stderr


def posted_numbers(stub: StubHTTP) -> Counter:
    return Counter(json.loads(body)["to_number"] for method, path, body in stub.requests if path == CALL_PATH)


def test_the_same_calls_from_three_processes_ring_each_number_once(tmp_path):
    stub = StubHTTP("answer", body=CALL_OK).start()
    try:
        env = provider_env(tmp_path, stub.url) | {"CALLER_MCP_MAX_CALLS_PER_HOUR": "1000"}
        started = servers(env, PROCESSES)
        try:
            answers = place_all(started, NUMBERS)
        finally:
            close_all(started)
    finally:
        stub.stop()
    rung = posted_numbers(stub)
    assert [number for number, times in rung.items() if times > 1] == []  # no number rung twice
    assert sorted(rung) == sorted(NUMBERS)  # and every one rung once
    assert all(not a["isError"] for a in answers), [a for a in answers if a["isError"]][:2]
    duplicates = [a["structuredContent"] for a in answers if a["structuredContent"].get("duplicate_of")]
    assert len(duplicates) == len(NUMBERS) * (PROCESSES - 1)


@pytest.mark.parametrize("trial", range(3))
def test_an_hourly_cap_of_one_holds_across_three_processes(tmp_path, trial):
    stub = StubHTTP("answer", body=CALL_OK).start()
    try:
        env = provider_env(tmp_path, stub.url) | {"CALLER_MCP_MAX_CALLS_PER_HOUR": "1"}
        started = servers(env, PROCESSES)
        try:
            # Each process a different number: only the cap stands between them.
            for index, server in enumerate(started):
                server.send(rpc(100, "tools/call", {
                    "name": "place_call", "arguments": {"to_number": NUMBERS[index], "business_description": PIZZA},
                }))
            answers = [server.answer(100, timeout=120)["result"] for server in started]
        finally:
            close_all(started)
    finally:
        stub.stop()
    assert stub.posts(CALL_PATH) == 1
    refused = [a for a in answers if a["isError"]]
    assert len(refused) == PROCESSES - 1
    assert all("Hourly call cap reached" in a["content"][0]["text"] for a in refused)


def test_another_applications_database_is_refused_and_left_unchanged(tmp_path):
    foreign = tmp_path / "notes.sqlite3"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    db.execute("INSERT INTO notes (body) VALUES ('keep me')")
    db.commit()
    db.close()
    before = foreign.read_bytes()
    env = provider_env(tmp_path, "http://127.0.0.1:9") | {"CALLER_MCP_DB": str(foreign)}
    [server] = servers(env, 1)
    try:
        server.send(rpc(2, "tools/call", {"name": "list_calls", "arguments": {}}))
        [answer] = answers(server, [2])
    finally:
        close_all([server])
    assert answer["isError"]
    message = answer["content"][0]["text"]
    assert "another application's SQLite database" in message and "nothing in it was changed" in message
    assert "CALLER_MCP_DB" in message
    assert foreign.read_bytes() == before  # no WAL switch, no tables, no version
    assert not (tmp_path / "notes.sqlite3-wal").exists()
