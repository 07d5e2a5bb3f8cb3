"""Nothing placed is lost: when the store refuses the outcome of a call, batch or retry the provider
accepted (another process holds the write lock past the busy timeout; the disk is full), the answer still carries the
provider's ids and says the record is pending; the outcome is kept in the journal beside the
database and written once it accepts writes — by this server, or by the next one to open it."""

from __future__ import annotations

import sqlite3

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


# -- a full disk: the store refuses every write while the provider answers ---------------------

FULL = "database or disk is full"


class FullDisk:
    """The connection of a store on a disk that fills up: while :attr:`full`, every write
    statement raises ``sqlite3.OperationalError("database or disk is full")`` (as SQLite says
    ``SQLITE_FULL``); reads go on. Everything else is the real connection."""

    WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

    def __init__(self, db, refusal=lambda: sqlite3.OperationalError(FULL)) -> None:
        self._db = db
        self.refusal = refusal
        self.full = False

    def execute(self, sql, *args):
        if self.full and sql.lstrip().upper().startswith(self.WRITES):
            raise self.refusal()
        return self._db.execute(sql, *args)

    def executemany(self, sql, *args):
        if self.full and sql.lstrip().upper().startswith(self.WRITES):
            raise self.refusal()
        return self._db.executemany(sql, *args)

    def __getattr__(self, name):
        return getattr(self._db, name)


def full_disk_store(db_path) -> tuple[SqliteStore, FullDisk]:
    store = SqliteStore(db_path)
    disk = store._db = FullDisk(store._db)
    return store, disk


BATCH_OK = {
    "id": "btcal_1", "name": "own batch", "agent_id": "agent_1", "status": "pending", "phone_provider": "twilio",
    "created_at_unix": 1767225600, "scheduled_time_unix": 1767225600, "total_calls_scheduled": 2,
    "total_calls_dispatched": 0, "last_updated_at_unix": 1767225600,
}
RETRIED_BATCH = {
    **BATCH_OK, "status": "completed", "total_calls_dispatched": 2,
    "recipients": [
        {"id": "r1", "phone_number": "+14155550123", "status": "failed", "conversation_id": "conv_1"},
        {"id": "r2", "phone_number": "+14155550124", "status": "completed", "conversation_id": "conv_2"},
    ],
}


class DiskFillsDuringPost:
    """A provider that accepts each dialling POST (a call, a batch, a retry) while the disk fills up."""

    def __init__(self, disk: FullDisk) -> None:
        self.disk = disk
        self.posts: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == "/v1/convai/batch-calling/btcal_1":
            return httpx.Response(200, json=RETRIED_BATCH)
        if request.method == "POST":
            self.posts.append(path)
            self.disk.full = True
            if path.endswith("/outbound-call"):
                return httpx.Response(200, json=CALL_OK)
            if path == "/v1/convai/batch-calling/submit":
                return httpx.Response(200, json=BATCH_OK)
            if path == "/v1/convai/batch-calling/btcal_1/retry":
                return httpx.Response(200, json={**RETRIED_BATCH, "status": "in_progress"})
        return httpx.Response(404, json={"detail": {"status": "not_found", "message": "no"}})


def full_disk_server(db_path, opened=None):
    store, disk = opened or full_disk_store(db_path)
    api = DiskFillsDuringPost(disk)
    settings = real_settings(db_path, KEY)
    return build_server(settings, services=bootstrap(settings, transport=httpx.MockTransport(api), store=store)), api, disk


def reopened(db_path):
    """The database as the next server to open it sees it (a restart replays the journal)."""
    store = SqliteStore(db_path)
    try:
        return (
            store.list_calls(),
            [tuple(r) for r in store._db.execute("SELECT local_id, batch_id, status FROM batches")],
            [tuple(r) for r in store._db.execute("SELECT batch_id, status FROM batch_retries")],
        )
    finally:
        store.close()


async def test_a_full_disk_after_the_call_was_placed_keeps_its_ids_and_writes_them_once_space_is_back(db_path):
    server, api, disk = full_disk_server(db_path)
    async with Client(server, raise_exceptions=True) as client:
        answer = await place(client)
        [waiting] = (await client.call_tool("list_calls", {})).structured_content["calls"]
        disk.full = False  # space is freed
        [row] = (await client.call_tool("list_calls", {})).structured_content["calls"]
        read = (await client.call_tool("get_call", {"call_id": answer["call_id"]})).structured_content
        again = (await client.call_tool("place_call", {"to_number": TO_NUMBER, "business_description": PIZZA})).structured_content
    assert api.posts == ["/v1/convai/twilio/outbound-call"]
    assert answer["ok"] is True and answer["status"] == "initiated" and answer["conversation_id"] == "conv_77"
    assert FULL in answer["record_pending"] and "-outcomes.jsonl" in answer["record_pending"]
    assert waiting["status"] == "dialling"  # still full: the journal holds the outcome
    assert (row["status"], row["conversation_id"]) == ("initiated", "conv_77")
    assert read["conversation_id"] == "conv_77" and again["duplicate_of"] == answer["call_id"]


async def test_a_call_kept_through_a_full_disk_is_written_by_the_next_server(db_path):
    server, _, _ = full_disk_server(db_path)
    async with Client(server, raise_exceptions=True) as client:
        answer = await place(client)  # the server stops with the disk still full
    [row], _, _ = reopened(db_path)
    assert FULL in answer["record_pending"]
    assert (row.call_id, row.status, row.conversation_id, row.call_sid) == (answer["call_id"], "initiated", "conv_77", "CA77")


async def test_a_batch_submitted_as_the_disk_fills_answers_its_id_and_is_recorded_after_a_restart(db_path):
    server, api, _ = full_disk_server(db_path)
    async with Client(server, raise_exceptions=True) as client:
        result = await client.call_tool(
            "submit_batch", {"recipients": ["+14155550123", "+14155550124"], "business_description": PIZZA}
        )
    assert not result.is_error, result.content[0].text
    answer = result.structured_content
    assert api.posts == ["/v1/convai/batch-calling/submit"]
    assert answer["batch_id"] == "btcal_1" and FULL in answer["record_pending"]
    _, [batch], _ = reopened(db_path)
    assert batch[1:] == ("btcal_1", "pending")


async def test_a_retry_sent_as_the_disk_fills_is_answered_and_recorded_after_a_restart(db_path):
    server, api, _ = full_disk_server(db_path)
    async with Client(server, raise_exceptions=True) as client:
        result = await client.call_tool("retry_batch", {"batch_id": "btcal_1"})
    assert not result.is_error, result.content[0].text
    answer = result.structured_content
    assert api.posts == ["/v1/convai/batch-calling/btcal_1/retry"] and answer["recipients_retried"] == 1
    assert FULL in answer["record_pending"]
    _, _, [retry] = reopened(db_path)
    assert retry == ("btcal_1", "retried")


# -- PostgreSQL: the connection to the server is lost after the provider accepted the call ------

LOST = "server closed the connection unexpectedly"


def lost_connection_store(pg_url, journal_dir):
    """A PostgreSQL store whose writes fail as a dropped server connection does, while ``full``."""
    import psycopg

    from caller_mcp.store.postgres import PostgresStore

    store = PostgresStore(pg_url, journal_dir=journal_dir)
    disk = store._db = FullDisk(store._db, lambda: psycopg.OperationalError(LOST))
    return store, disk


async def test_a_placed_call_whose_postgresql_write_fails_is_kept_and_written_when_the_server_is_back(pg_url, tmp_path):
    from caller_mcp.store.postgres import PostgresStore

    opened = lost_connection_store(pg_url, tmp_path)
    server, api, disk = full_disk_server(tmp_path / "unused.sqlite3", opened)
    async with Client(server, raise_exceptions=True) as client:
        answer = await place(client)
        disk.full = False  # the server is back
        [row] = (await client.call_tool("list_calls", {})).structured_content["calls"]
        again = (await client.call_tool("place_call", {"to_number": TO_NUMBER, "business_description": PIZZA})).structured_content
    assert api.posts == ["/v1/convai/twilio/outbound-call"]
    assert answer["ok"] is True and answer["conversation_id"] == "conv_77"
    assert LOST in answer["record_pending"] and str(tmp_path) in answer["record_pending"]
    assert (row["status"], row["conversation_id"]) == ("initiated", "conv_77")
    assert again["duplicate_of"] == answer["call_id"]
    reopened_store = PostgresStore(pg_url, journal_dir=tmp_path)
    try:
        assert not reopened_store.journal.pending()  # written once, nothing left to replay
    finally:
        reopened_store.close()


async def test_a_call_kept_while_postgresql_was_down_is_written_by_the_next_server(pg_url, tmp_path):
    from caller_mcp.store.postgres import PostgresStore

    opened = lost_connection_store(pg_url, tmp_path)
    server, _, _ = full_disk_server(tmp_path / "unused.sqlite3", opened)
    async with Client(server, raise_exceptions=True) as client:
        answer = await place(client)  # the server stops with the outcome only in the journal
    assert LOST in answer["record_pending"] and opened[0].journal.pending()
    store = PostgresStore(pg_url, journal_dir=tmp_path)  # a restart
    try:
        [row] = store.list_calls()
    finally:
        store.close()
    assert (row.call_id, row.status, row.conversation_id, row.call_sid) == (answer["call_id"], "initiated", "conv_77", "CA77")
