"""Nothing placed is lost: when the store refuses the outcome of a call the provider placed
(another process holds the write lock past the busy timeout), the answer still carries the
provider's ids and says the record is pending; the outcome is kept in the journal beside the
database and written once it accepts writes — by this server, or by the next one to open it."""

from __future__ import annotations

import httpx
import pytest
from mcp import Client

from caller_mcp.bootstrap import bootstrap
from caller_mcp.mcp.server import build_server
from caller_mcp.store import SqliteStore

from tests.fakes import PIZZA, WriteLockHolder, real_settings

pytestmark = pytest.mark.anyio

KEY = "sk_live_PENDING_0042"
TO_NUMBER = "+14155550123"
CALL_OK = {"success": True, "message": "Outbound call initiated successfully.", "conversation_id": "conv_77", "callSid": "CA77"}


class LockDuringPost:
    """A provider that, while answering the call-placing POST, has another process take the
    database's write lock (as a second caller-mcp busy writing would)."""

    def __init__(self, db_path) -> None:
        self.holder = WriteLockHolder(db_path)
        self.posts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/outbound-call"):
            self.posts += 1
            self.holder.__enter__()
            return httpx.Response(200, json=CALL_OK)
        return httpx.Response(404, json={"detail": {"status": "not_found", "message": "no"}})


def server_on(db_path, api: LockDuringPost):
    settings = real_settings(db_path, KEY)
    services = bootstrap(settings, transport=httpx.MockTransport(api), store=SqliteStore(db_path, busy_timeout=0.2))
    return build_server(settings, services=services)


async def place(client) -> dict:
    result = await client.call_tool("place_call", {"to_number": TO_NUMBER, "business_description": PIZZA})
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def test_a_placed_call_whose_outcome_cannot_be_written_answers_its_ids_and_is_recorded_later(db_path):
    api = LockDuringPost(db_path)
    try:
        async with Client(server_on(db_path, api), raise_exceptions=True) as client:
            answer = await place(client)
            api.holder.release()
            [row] = (await client.call_tool("list_calls", {})).structured_content["calls"]
            followed = (await client.call_tool("place_call", {"to_number": TO_NUMBER, "business_description": PIZZA}))
    finally:
        api.holder.release()
    assert api.posts == 1
    assert answer["ok"] is True and answer["status"] == "initiated"
    assert answer["conversation_id"] == "conv_77" and answer["call_sid"] == "CA77"
    assert "database is locked" in answer["record_pending"] and "-outcomes.jsonl" in answer["record_pending"]
    assert (row["call_id"], row["status"], row["conversation_id"]) == (answer["call_id"], "initiated", "conv_77")
    assert followed.structured_content["duplicate_of"] == answer["call_id"]  # and never rung twice


async def test_a_kept_outcome_is_written_by_the_next_server_to_open_the_database(db_path):
    api = LockDuringPost(db_path)
    try:
        async with Client(server_on(db_path, api), raise_exceptions=True) as client:
            answer = await place(client)
    finally:
        api.holder.release()  # the first server has stopped with the outcome only in the journal
    assert answer["record_pending"]
    store = SqliteStore(db_path)  # a restart
    try:
        [row] = store.list_calls()
    finally:
        store.close()
    assert (row.call_id, row.status, row.conversation_id, row.call_sid) == (answer["call_id"], "initiated", "conv_77", "CA77")
