"""The batch guards across processes: real ``caller-mcp`` servers (stdio) on one database, against
a provider stub on 127.0.0.1 that counts POSTs. The same ``submit_batch`` sent to three processes
at once is submitted once (the others answer ``duplicate_of``), and concurrent ``retry_batch`` of
one batch from several processes send one retry: both guards are decided in the store's
transaction that writes the intent, so the processes behave as one."""

from __future__ import annotations

import json
import sys

import pytest

from tests.e2e.test_cli import rpc
from tests.e2e.test_crash import provider_env
from tests.e2e.test_guards_cross_process import PROCESSES, answers, close_all, servers
from tests.fakes import PIZZA, StubHTTP

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")

SUBMIT_PATH = "/v1/convai/batch-calling/submit"
RETRY_PATH = "/v1/convai/batch-calling/btcal_1/retry"
RECIPIENTS = [f"+1415555{200 + i:04d}" for i in range(20)]
#: The stub's one answer: a batch (the submit's, the status read's and the retry's answer alike)
#: with failed and voicemail recipients to call again.
BATCH = json.dumps({
    "id": "btcal_1", "name": "cross-process", "agent_id": "agent_1", "status": "completed", "phone_provider": "twilio",
    "created_at_unix": 1767225600, "scheduled_time_unix": 1767225600, "total_calls_scheduled": len(RECIPIENTS),
    "total_calls_dispatched": len(RECIPIENTS), "last_updated_at_unix": 1767225600,
    "recipients": [
        {"id": f"r{i}", "phone_number": n, "status": "failed" if i % 3 == 0 else "voicemail" if i % 3 == 1 else "completed",
         "conversation_id": f"conv_{i}"}
        for i, n in enumerate(RECIPIENTS)
    ],
}).encode()
RETRIES = 5


@pytest.mark.parametrize("trial", range(3))
def test_the_same_batch_sent_to_three_processes_at_once_is_submitted_once(tmp_path, trial):
    stub = StubHTTP("answer", body=BATCH).start()
    try:
        started = servers(provider_env(tmp_path, stub.url) | {"CALLER_MCP_MAX_CALLS_PER_HOUR": "1000"}, PROCESSES)
        try:
            for server in started:
                server.send(rpc(100, "tools/call", {
                    "name": "submit_batch", "arguments": {"recipients": RECIPIENTS, "business_description": PIZZA},
                }))
            results = [result for server in started for result in answers(server, [100])]
        finally:
            close_all(started)
    finally:
        stub.stop()
    assert stub.posts(SUBMIT_PATH) == 1  # every recipient rung once, not three times
    assert all(not r["isError"] for r in results), [r["content"][0]["text"] for r in results if r["isError"]]
    shown = [r["structuredContent"] for r in results]
    assert sorted(bool(s.get("duplicate_of")) for s in shown) == [False] + [True] * (PROCESSES - 1)
    [submitted] = [s for s in shown if not s.get("duplicate_of")]
    assert submitted["batch_id"] == "btcal_1"
    # A duplicate names the batch, or its local id while the submission is still under way.
    assert all(s["duplicate_of"] == "btcal_1" or s["duplicate_of"].startswith("batch_") for s in shown if s is not submitted)


@pytest.mark.parametrize("trial", range(3))
def test_five_concurrent_retries_of_one_batch_across_processes_send_one_retry(tmp_path, trial):
    stub = StubHTTP("answer", body=BATCH).start()
    try:
        started = servers(provider_env(tmp_path, stub.url) | {"CALLER_MCP_MAX_CALLS_PER_HOUR": "1000"}, PROCESSES)
        try:
            sent: dict[int, list[int]] = {}
            for n in range(RETRIES):  # 2, 2 and 1 retries on the three processes
                index = n % PROCESSES
                sent.setdefault(index, []).append(200 + n)
                started[index].send(rpc(200 + n, "tools/call", {"name": "retry_batch", "arguments": {"batch_id": "btcal_1"}}))
            results = [result for index, ids in sent.items() for result in answers(started[index], ids)]
        finally:
            close_all(started)
    finally:
        stub.stop()
    assert stub.posts(RETRY_PATH) == 1
    assert all(not r["isError"] for r in results), [r["content"][0]["text"] for r in results if r["isError"]]
    shown = [r["structuredContent"] for r in results]
    retried = [s for s in shown if not s.get("duplicate_of")]
    assert len(retried) == 1 and retried[0]["recipients_retried"] == 14  # failed + voicemail
    assert len({s["duplicate_of"] for s in shown if s.get("duplicate_of")}) == 1 and len(shown) == RETRIES
