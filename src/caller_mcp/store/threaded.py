"""The :class:`~caller_mcp.ports.Store` port over a blocking store: its work runs on a worker
thread, one operation at a time, and the event loop awaits it.

SQLite waits: for another process's write lock (up to the busy timeout), for the disk. On the
event loop such a wait freezes the whole server (a ``ping`` included); here it holds only the
tool call that asked for it. The connection is used by one thread at a time (a capacity limiter
of one), so the store needs no locking of its own, and an operation, once asked for, runs to
its end even if the awaiting task is cancelled (an outcome is written even while the tool call
that placed it is being cancelled by a client's time-out).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from ..errors import StoreUnavailable
from ..ports import CapCheck
from .records import BatchRecord, BusinessContext, CallRecord, RetryRecord
from .sqlite import LOCAL_PRINCIPAL, SqliteStore

T = TypeVar("T")


class ThreadedStore:
    """A :class:`~caller_mcp.ports.Store` running a :class:`SqliteStore`'s methods on a worker thread.

    Args:
        open_store: builds the blocking store; called once, on the worker thread, by the first
            operation (so opening — migrations, recovery of interrupted rows — never blocks the
            loop either). What it raises (``ConfigError``) is raised by that operation and by
            every later one until an open succeeds.
    """

    def __init__(self, open_store: Callable[[], SqliteStore]) -> None:
        self._open = open_store
        self._store: SqliteStore | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._guard = threading.Lock()

    @property
    def sync(self) -> SqliteStore | None:
        """The blocking store once opened (for a graceful close and for tests), else ``None``."""
        return self._store

    def _opened(self) -> SqliteStore:
        with self._guard:
            if self._store is None:
                self._store = self._open()
            return self._store

    async def _run(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)

        def work() -> Any:
            return getattr(self._opened(), method)(*args, **kwargs)

        # Shielded: a write asked for (an outcome recorded while its request is being cancelled)
        # is made; the cancellation is delivered at the caller's next await.
        with anyio.CancelScope(shield=True):
            try:
                return await anyio.to_thread.run_sync(work, limiter=self._limiter)
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(
                    f"The call database did not accept the operation ({exc}): another caller-mcp process may be "
                    "holding it, or the disk is full. Nothing that needed it was done; try again in a moment."
                ) from exc

    def __getattr__(self, method: str) -> Callable[..., Any]:
        """Any other public method of the blocking store (the test-run queries, …), as a coroutine
        run the same way."""
        if method.startswith("_") or not callable(getattr(SqliteStore, method, None)):
            raise AttributeError(method)
        return partial(self._run, method)

    async def get_context(self, principal: str = LOCAL_PRINCIPAL) -> BusinessContext | None:
        return await self._run("get_context", principal)

    async def set_context(
        self, description: str, scenario: str | None, principal: str = LOCAL_PRINCIPAL
    ) -> BusinessContext:
        return await self._run("set_context", description, scenario, principal)

    async def reserve_call(self, *, check_cap: CapCheck, **fields: Any) -> tuple[CallRecord, bool]:
        return await self._run("reserve_call", check_cap=check_cap, **fields)

    async def record_call_outcome(self, call_id: str, **fields: Any) -> CallRecord:
        return await self._run("record_call_outcome", call_id, **fields)

    async def get_call(self, call_id: str) -> CallRecord | None:
        return await self._run("get_call", call_id)

    async def find_call(self, call_or_conversation_id: str) -> CallRecord | None:
        return await self._run("find_call", call_or_conversation_id)

    async def record_provider_report(self, call_id: str, **fields: Any) -> None:
        await self._run("record_provider_report", call_id, **fields)

    async def apply_webhook(self, **fields: Any) -> tuple[str, CallRecord | None]:
        return await self._run("apply_webhook", **fields)

    async def record_batch_calls(self, batch_id: str, provider: str, calls: list[dict[str, Any]]) -> int:
        return await self._run("record_batch_calls", batch_id, provider, calls)

    async def batch_call_statuses(self, batch_id: str) -> dict[str, str | None]:
        return await self._run("batch_call_statuses", batch_id)

    async def batch_costs(self, batch_id: str) -> dict[str, Any]:
        return await self._run("batch_costs", batch_id)

    async def list_calls(self, limit: int = 20, **filters: Any) -> list[CallRecord]:
        return await self._run("list_calls", limit, **filters)

    async def recent_call(self, to_number: str, scenario: str, since: float) -> CallRecord | None:
        return await self._run("recent_call", to_number, scenario, since)

    async def dials_since(self, since: float) -> list[tuple[float, int]]:
        return await self._run("dials_since", since)

    async def reserve_batch(self, *, check_cap: CapCheck, **fields: Any) -> tuple[BatchRecord, bool]:
        return await self._run("reserve_batch", check_cap=check_cap, **fields)

    async def recent_batch(self, recipients_key: str, since: float) -> BatchRecord | None:
        return await self._run("recent_batch", recipients_key, since)

    async def record_batch_outcome(self, local_id: str, **fields: Any) -> BatchRecord:
        return await self._run("record_batch_outcome", local_id, **fields)

    async def update_batch_status(self, batch_id: str, status: str) -> None:
        await self._run("update_batch_status", batch_id, status)

    async def get_batch(self, batch_id: str) -> BatchRecord | None:
        return await self._run("get_batch", batch_id)

    async def batch_recipients(self, batch_id: str) -> list[dict[str, Any]]:
        return await self._run("batch_recipients", batch_id)

    async def batch_recipient_entries(
        self, batch_id: str, *, numbers: Sequence[str] = (), ids: Sequence[str] = ()
    ) -> list[dict[str, Any]] | None:
        return await self._run("batch_recipient_entries", batch_id, numbers=numbers, ids=ids)

    async def list_batches(self, limit: int = 20, *, principal: str | None = None) -> list[BatchRecord]:
        return await self._run("list_batches", limit, principal=principal)

    async def reserve_retry(self, batch_id: str, recipients: int, **fields: Any) -> tuple[RetryRecord, bool]:
        return await self._run("reserve_retry", batch_id, recipients, **fields)

    async def recent_retry(self, batch_id: str, since: float) -> RetryRecord | None:
        return await self._run("recent_retry", batch_id, since)

    async def record_retry_outcome(self, retry_id: str, **fields: Any) -> None:
        await self._run("record_retry_outcome", retry_id, **fields)

    async def aclose(self) -> None:
        """Close the blocking store (on the worker thread, after any operation under way)."""
        if self._store is None:
            return
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(partial(self.close), limiter=self._limiter)

    def close(self) -> None:
        """Close the blocking store from a thread where no operation runs (test teardown)."""
        with self._guard:
            store, self._store = self._store, None
        if store is not None:
            store.close()
