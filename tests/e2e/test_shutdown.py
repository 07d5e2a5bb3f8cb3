"""A graceful stop of the stdio server while a call-placing POST is in flight: on stdin EOF,
SIGTERM or SIGINT the real ``caller-mcp`` process takes no new dials, waits for the provider's
answer (a stub on 127.0.0.1 that answers only when the test lets it), records the call as placed
with its conversation id, then exits. Without the stop the call was cut off and recorded
``outcome_unknown`` although the provider had placed it."""

from __future__ import annotations

import json
import queue
import signal
import sqlite3
import sys
import threading
import time

import pytest

from tests.e2e.test_cli import SCRIPT, StdioServer, initialize, rpc
from tests.e2e.test_crash import provider_env
from tests.fakes import PIZZA, StubHTTP

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pipes")

TO_NUMBER = "+14155550123"
OTHER_NUMBER = "+14155550124"
CALL_PATH = "/v1/convai/twilio/outbound-call"
CALL_OK = json.dumps(
    {"success": True, "message": "Outbound call initiated successfully.", "conversation_id": "conv_1", "callSid": "CA1"}
).encode()
#: What the server logs on stderr once it refuses new dials and waits for the one in flight.
DRAINING = "no new dials; waiting up to"


class Server(StdioServer):
    """A stdio server whose stderr is read line by line as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        super().__init__(args, env)
        self.errors: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.ended = False  # stderr read to its end
        self.out: list[dict] | None = None  # every message on stdout, once the process is gone
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    def _pump_stderr(self) -> None:
        for line in self.process.stderr:
            self.errors.put(line)
        self.errors.put(None)

    def saw_on_stderr(self, text: str, timeout: float = 30) -> bool:
        """Wait for a stderr line containing ``text``: False when stderr ends (the process is gone)
        or ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while not self.ended and time.monotonic() < deadline:
            try:
                line = self.errors.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if line is None:
                self.ended = True
                return False
            self.stderr.append(line)
            if text in line:
                return True
        return False

    def finish(self) -> int:
        """Wait for the exit (bounded), close the pipes; returns the exit code."""
        try:
            self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
        while self.saw_on_stderr("\0", timeout=10):  # read stderr to its end, which a gone process reaches
            pass
        if self.out is None:
            self.out = []
            while (line := self.lines.get(timeout=10)) is not None:
                self.out.append(json.loads(line))
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                pipe.close()
            except (BrokenPipeError, OSError):
                pass
        return self.process.returncode

    def stdout_answer(self, id_: int) -> dict | None:
        """The response with ``id_`` among what the process wrote before it exited (after
        :meth:`finish`), if any."""
        return next((message for message in self.out or () if message.get("id") == id_), None)


def calls(db: str) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT to_number, status, conversation_id FROM calls ORDER BY created_at").fetchall()


def place(server: Server, id_: int, number: str) -> None:
    server.send(rpc(id_, "tools/call", {
        "name": "place_call", "arguments": {"to_number": number, "business_description": PIZZA},
    }))


@pytest.fixture
def dialling(tmp_path):
    """A server with one place_call whose POST the stub holds; yields (server, stub, hold, db)."""
    hold = threading.Event()
    stub = StubHTTP("answer", body=CALL_OK, hold=hold).start()
    env = provider_env(tmp_path, stub.url)
    server = Server([SCRIPT], env)
    try:
        initialize(server)
        place(server, 2, TO_NUMBER)
        assert stub.received.wait(timeout=30), "the outbound-call POST never reached the stub"
        yield server, stub, hold, env["CALLER_MCP_DB"]
    finally:
        hold.set()
        if server.process.poll() is None:
            server.process.kill()
        server.finish()
        stub.stop()


def stop_and_answer(server: Server, hold: threading.Event, stop) -> tuple[bool, int, dict | None]:
    """Stop the server with ``stop()``, let the provider answer once the server says it waits,
    and return (it said so, exit code, the in-flight call's response)."""
    stop()
    draining = server.saw_on_stderr(DRAINING)
    hold.set()
    code = server.finish()
    return draining, code, server.stdout_answer(2)


def assert_recorded_as_placed(db: str, stub: StubHTTP, answer: dict | None) -> None:
    assert calls(db) == [(TO_NUMBER, "initiated", "conv_1")]  # not outcome_unknown: the answer was waited for
    assert stub.posts(CALL_PATH) == 1
    assert answer is not None and answer["result"]["isError"] is False
    assert answer["result"]["structuredContent"]["conversation_id"] == "conv_1"


def test_stdin_closed_while_a_call_is_in_flight_waits_for_the_answer_and_records_it(dialling):
    server, stub, hold, db = dialling
    draining, code, answer = stop_and_answer(server, hold, server.process.stdin.close)
    assert_recorded_as_placed(db, stub, answer)  # the answer still went out on stdout
    assert code == 0, "".join(server.stderr)
    assert draining, "".join(server.stderr)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_with_stdin_open_waits_for_the_call_in_flight_records_it_and_exits(dialling, signum):
    server, stub, hold, db = dialling
    draining, code, answer = stop_and_answer(server, hold, lambda: server.process.send_signal(signum))
    assert code == 0, "".join(server.stderr)
    assert_recorded_as_placed(db, stub, answer)
    assert draining, "".join(server.stderr)


def test_a_call_asked_for_while_the_server_stops_is_refused_and_not_dialled(dialling):
    server, stub, hold, db = dialling
    server.process.send_signal(signal.SIGTERM)
    assert server.saw_on_stderr(DRAINING), "".join(server.stderr)
    place(server, 3, OTHER_NUMBER)  # stdin is still read while the stop waits
    refused = server.answer(3)["result"]
    hold.set()
    code = server.finish()
    assert code == 0, "".join(server.stderr)
    assert refused["isError"] is True
    text = refused["content"][0]["text"]
    assert "shutting down (SIGTERM)" in text and "Nothing was dialled" in text
    assert stub.posts(CALL_PATH) == 1  # only the call in flight
    assert [json.loads(body)["to_number"] for _, path, body in stub.requests if path == CALL_PATH] == [TO_NUMBER]
    assert calls(db) == [(TO_NUMBER, "initiated", "conv_1")]  # nothing written for the refused call
    assert_recorded_as_placed(db, stub, server.stdout_answer(2))


def test_a_second_sigint_stops_at_once_and_the_call_in_flight_is_outcome_unknown(dialling):
    server, stub, hold, db = dialling
    server.process.send_signal(signal.SIGINT)
    assert server.saw_on_stderr(DRAINING), "".join(server.stderr)
    server.process.send_signal(signal.SIGINT)
    code = server.finish()  # the stub still holds its answer
    assert code == 128 + signal.SIGINT, "".join(server.stderr)
    [(number, status, conversation_id)] = calls(db)
    assert (number, status, conversation_id) == (TO_NUMBER, "outcome_unknown", None)
    assert stub.posts(CALL_PATH) == 1
