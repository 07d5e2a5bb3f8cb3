"""SQLite persistence (stdlib ``sqlite3``): the business context, every call and every batch.

Each dial writes its intent *before* the provider request and its outcome after, each in its own
committed transaction, so a process that dies mid-request still leaves a row saying what it was
about to do. Times are Unix seconds (float).

Call statuses written here: ``dialling`` (intent recorded, request under way), ``initiated``
(the provider accepted the call), ``failed`` without a conversation id (the provider refused it or
was unreachable: nothing was dialled), ``outcome_unknown`` (the request may have reached the
provider); then, once the provider reports on the call, its normalised status (``queued``,
``ringing``, ``in_progress``, ``processing``, ``done``, ``failed`` — a call that rang but did not
connect has a conversation id), with the provider's own value in ``provider_status``.
A batch recipient's call is recorded once the provider names its conversation; its ``call_id``
is :func:`batch_call_id` of it (unique per provider) and ``batch_id`` says which batch it belongs
to. A placed call's row is keyed by its local id; the reference its provider answered is stored as
given, never refused (an outcome is never lost to a constraint).
Batch statuses: ``submitting`` (intent), then the provider's own (``pending``, ``in_progress``,
``completed``, ``failed``, ``cancelled``), or ``failed`` / ``outcome_unknown`` as for calls.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

import functools

from .journal import OutcomeJournal, RecordPending
from .migrations import check_ours, migrate
from .records import BatchRecord, BusinessContext, CallRecord, RetryRecord

#: The principal of rows written without one (stdio; loopback HTTP without authentication).
LOCAL_PRINCIPAL = "local"
from .runs import TestRunQueries

#: Owner tokens of the stores open in this process (their in-flight rows are not interrupted).
_LIVE_OWNERS: set[str] = set()
#: On systems where a process cannot be probed (Windows), an in-flight row older than this is
#: taken as interrupted; far longer than any request may take (connect + read timeouts).
STALE_IN_FLIGHT_SECS = 600

#: The outcome writes kept in the journal when the database refuses them: method → (table, key
#: column). A replay applies one only to a row still waiting for its outcome (:data:`_AWAITING`).
_JOURNALED = {
    "record_call_outcome": ("calls", "call_id"),
    "record_batch_outcome": ("batches", "local_id"),
    "record_retry_outcome": ("batch_retries", "retry_id"),
}
_AWAITING = ("dialling", "submitting", "retrying", "outcome_unknown")


def _journaled(method: Callable[..., Any]) -> Callable[..., Any]:
    """An outcome write that, when the database refuses it (one of the store's :attr:`~SqliteStore.refusals`:
    locked past the busy timeout, disk full, I/O error, a lost server connection), is kept in the journal and raises
    :class:`RecordPending` instead. Waiting entries are replayed first."""

    @functools.wraps(method)
    def write(self: SqliteStore, *args: Any, **kwargs: Any) -> Any:
        try:
            self.replay_journal()
            return method(self, *args, **kwargs)
        except self.refusals as exc:
            if self.journal is None:
                raise
            try:
                self.journal.append(method.__name__, args, kwargs)
            except OSError as journal_error:
                raise RecordPending(self.journal.path, f"{exc}; journal: {journal_error}", kept=False) from exc
            raise RecordPending(self.journal.path, str(exc)) from exc

    return write


#: The columns of a :class:`RetryRecord`.
_RETRY_COLUMNS = "retry_id, batch_id, created_at, updated_at, recipients, status, error"

#: Seconds a webhook event's key is kept for replay protection: far past every provider's
#: freshness window (ElevenLabs 30 min, TalkifAI's last retry at 35.5 min).
WEBHOOK_MEMORY_SECS = 2 * 24 * 3600

#: A call row that may have rung a phone: anything but a refusal with no conversation.
_MAY_HAVE_RUNG = "NOT (status = 'failed' AND conversation_id IS NULL)"


class SqliteStore(TestRunQueries):
    """The SQLite store (test-run queries in :mod:`.runs`). One connection, used from the server's event-loop thread.

    Args:
        path: the database file (created with its parent folder), or ``":memory:"``.
    Raises:
        sqlite3.Error: the file cannot be opened or is not a caller-mcp database
            (``ForeignDatabase``: another application's; it is left unchanged).
    """

    #: Where refused outcome writes wait; ``None``: none (an in-memory database; a subclass
    #: whose database is not a file).
    journal: OutcomeJournal | None = None
    _replaying = False
    #: The database's refusals of a write that a later try may get through (the journal keeps the
    #: outcome meanwhile): SQLite's locked database, full disk, I/O error.
    refusals: tuple[type[Exception], ...] = (sqlite3.OperationalError,)

    #: The subquery that finds a recipient (``?`` number, ``?`` scenario) among a batch's
    #: recipients (index ``batch_recipients_batch_number``).
    _HAS_RECIPIENT = (
        "SELECT 1 FROM batch_recipients AS r WHERE r.phone_number = ? AND r.scenario = ? "
        "AND r.local_id = batches.local_id"
    )

    def __init__(self, path: str | Path, *, busy_timeout: float = 10.0) -> None:
        memory = str(path) == ":memory:"
        if not memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        #: Where refused outcome writes wait (``None`` for an in-memory database).
        self.journal = None if memory else OutcomeJournal(f"{self.path}-outcomes.jsonl")
        self._replaying = False
        self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        try:
            check_ours(self._db)  # before WAL or the schema touch the file
        except BaseException:
            self._db.close()
            raise
        self._set_wal(busy_timeout)
        self._db.execute("PRAGMA synchronous=NORMAL")
        migrate(self._db)
        #: Identifies the rows this process writes, to tell its in-flight requests from a dead one's.
        self.owner = uuid.uuid4().hex
        _LIVE_OWNERS.add(self.owner)
        self._replay_on_open()
        self.recover_interrupted()

    def _replay_on_open(self) -> None:
        """Replay kept outcomes before the recovery: a kept outcome is better than "unknown"."""
        try:
            self.replay_journal()
        except self.refusals:
            pass  # still refused: kept for the next write

    def _try_replay(self) -> None:
        """Replay kept outcomes before a read, if any wait and the database accepts them now."""
        if self.journal is not None and not self._replaying and self.journal.pending():
            try:
                self.replay_journal()
            except self.refusals:
                pass  # still refused: the read shows the rows as they are

    def replay_journal(self) -> int:
        """Write the outcomes the journal kept (see :mod:`.journal`), each only to a row still
        waiting for one; returns how many entries were replayed.

        Raises:
            One of :attr:`refusals`: the database still refuses (the entries stay).
        """
        if self.journal is None or self._replaying or not self.journal.pending():
            return 0

        def apply(method: str, args: list[Any], kwargs: dict[str, Any]) -> None:
            table, key = _JOURNALED[method]
            row = self._db.execute(f"SELECT status FROM {table} WHERE {key} = ?", (args[0],)).fetchone()
            if row is not None and row["status"] in _AWAITING:
                getattr(type(self), method).__wrapped__(self, *args, **kwargs)

        self._replaying = True  # the writes below read rows back: no replay within the replay
        try:
            return self.journal.replay(apply)
        finally:
            self._replaying = False

    def _set_wal(self, busy_timeout: float) -> None:
        """Switch a new file to WAL. Another process opening it at the same moment can make the
        switch answer "database is locked" at once (it needs the file to itself, and SQLite does
        not always wait): retry within the busy timeout."""
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        """Close the connection; every write is already committed."""
        _LIVE_OWNERS.discard(self.owner)
        self._db.close()

    # -- business context ----------------------------------------------------------------------

    def get_context(self, principal: str = LOCAL_PRINCIPAL) -> BusinessContext | None:
        """Return ``principal``'s business context, or ``None`` if it never set one."""
        row = self._db.execute(
            "SELECT description, scenario, updated_at FROM principal_context WHERE principal = ?", (principal,)
        ).fetchone()
        return BusinessContext(row["description"], row["scenario"], row["updated_at"]) if row else None

    def set_context(self, description: str, scenario: str | None, principal: str = LOCAL_PRINCIPAL) -> BusinessContext:
        """Replace ``principal``'s business context (no other principal's); returns what was stored."""
        now = time.time()
        self._db.execute(
            "INSERT INTO principal_context (principal, description, scenario, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (principal) DO UPDATE SET description = excluded.description, "
            "scenario = excluded.scenario, updated_at = excluded.updated_at",
            (principal, description, scenario, now),
        )
        return BusinessContext(description, scenario, now)

    # -- calls ---------------------------------------------------------------------------------

    @contextmanager
    def _immediate(self) -> Iterator[None]:
        """One write transaction taken at its start (``BEGIN IMMEDIATE``): what it reads cannot
        change under it, in this process or another on the same file, until it commits."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def reserve_call(
        self,
        *,
        call_id: str,
        provider: str,
        to_number: str,
        scenario: str,
        business_description: str,
        guard_since: float | None,
        cap_window_start: float,
        check_cap: Callable[[list[tuple[float, int]]], None],
        overrides: str | None = None,
        principal: str = LOCAL_PRINCIPAL,
    ) -> tuple[CallRecord, bool]:
        """Decide the redial guard and the hourly cap and write the ``dialling`` intent, all in one
        transaction, so any number of processes sharing the file behave as one.

        Args:
            guard_since: Unix time from which an earlier call to the same number and scenario is
                returned instead (``None``: no guard).
            cap_window_start: Unix time the hourly cap counts from.
            check_cap: called with :meth:`dials_since` ``(cap_window_start)``; raises to refuse.
            overrides: the call's controls as JSON, stored with it (``None``: none).
            principal: who places it. The guard and the cap count every principal's calls: a
                number is not rung twice because two members asked.
        Returns:
            ``(record, True)`` for the new intent, or ``(earlier record, False)`` for a duplicate
            (see :meth:`recent_call`: an earlier call or batch recipient).
        Raises:
            Whatever ``check_cap`` raises (nothing is written).
        """
        with self._immediate():
            if guard_since is not None:
                earlier = self.recent_call(to_number, scenario, guard_since)
                if earlier is not None:
                    return earlier, False
            check_cap(self.dials_since(cap_window_start))
            self.record_call_intent(
                call_id=call_id, provider=provider, to_number=to_number, scenario=scenario,
                business_description=business_description, overrides=overrides, principal=principal,
            )
        return self.get_call(call_id), True  # type: ignore[return-value]

    def record_call_intent(
        self,
        *,
        call_id: str,
        provider: str,
        to_number: str,
        scenario: str,
        business_description: str,
        overrides: str | None = None,
        principal: str = LOCAL_PRINCIPAL,
    ) -> CallRecord:
        """Write a ``dialling`` row before the provider request is sent; returns it.

        Args:
            overrides: the call's controls as JSON (``CallOverrides.as_dict``), ``None`` for none.
            principal: who places it.
        """
        now = time.time()
        self._db.execute(
            "INSERT INTO calls (call_id, created_at, updated_at, provider, to_number, scenario, "
            "business_description, status, owner, pid, overrides, principal) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'dialling', ?, ?, ?, ?)",
            (
                call_id, now, now, provider, to_number, scenario, business_description, self.owner, os.getpid(),
                overrides, principal,
            ),
        )
        return self.get_call(call_id)  # type: ignore[return-value]

    @_journaled
    def record_call_outcome(
        self,
        call_id: str,
        *,
        status: str,
        conversation_id: str | None = None,
        call_sid: str | None = None,
        phone_provider: str | None = None,
        error: str | None = None,
    ) -> CallRecord:
        """Write the outcome of a dial to its row; returns the updated row.

        Raises:
            KeyError: no row has ``call_id``.
            RecordPending: the database refused the write; the outcome is kept in the journal.
        """
        cursor = self._db.execute(
            "UPDATE calls SET status = ?, conversation_id = COALESCE(?, conversation_id), "
            "call_sid = COALESCE(?, call_sid), phone_provider = COALESCE(?, phone_provider), error = ?, "
            "updated_at = ? WHERE call_id = ?",
            (status, conversation_id, call_sid, phone_provider, error, time.time(), call_id),
        )
        if cursor.rowcount == 0:
            raise KeyError(call_id)
        return self.get_call(call_id)  # type: ignore[return-value]

    def get_call(self, call_id: str) -> CallRecord | None:
        """Return the call with this local id, or ``None`` (kept outcomes are written first)."""
        self._try_replay()
        row = self._db.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        return CallRecord(**dict(row)) if row else None

    def find_call(self, call_or_conversation_id: str) -> CallRecord | None:
        """Return the call whose local id, provider conversation id or provider call id (learnt
        from a webhook) is given, or ``None``."""
        self._try_replay()
        row = self._db.execute(
            "SELECT * FROM calls WHERE call_id = ? OR conversation_id = ? OR provider_call_id = ? "
            "ORDER BY call_id = ? DESC LIMIT 1",
            (call_or_conversation_id,) * 4,
        ).fetchone()
        return CallRecord(**dict(row)) if row else None

    def record_provider_report(
        self,
        call_id: str,
        *,
        status: str,
        provider_status: str | None,
        outcome: str | None = None,
        termination_reason: str | None = None,
        duration_secs: float | None = None,
        started_at: float | None = None,
        cost: float | None = None,
        cost_unit: str | None = None,
        cost_usd: float | None = None,
    ) -> None:
        """Store what the provider last reported on a call (normalised ``status`` and the
        provider's own value, outcome, termination reason, duration in seconds, start in Unix
        seconds, cost in ``cost_unit`` and in USD), so ``list_calls`` shows the last known state
        and a batch's cost can be summed. Unknown ``call_id``: no-op."""
        self._db.execute(
            "UPDATE calls SET status = ?, provider_status = ?, outcome = COALESCE(?, outcome), "
            "termination_reason = COALESCE(?, termination_reason), duration_secs = COALESCE(?, duration_secs), "
            "started_at = COALESCE(?, started_at), cost = COALESCE(?, cost), cost_unit = COALESCE(?, cost_unit), "
            "cost_usd = COALESCE(?, cost_usd), updated_at = ? WHERE call_id = ?",
            (
                status, provider_status, outcome, termination_reason, duration_secs, started_at, cost, cost_unit,
                cost_usd, time.time(), call_id,
            ),
        )

    def apply_webhook(
        self,
        *,
        provider: str,
        event_key: str,
        received_at: float,
        refs: tuple[str, ...],
        to_number: str | None,
        merge: Callable[[str | None], tuple[str, dict[str, Any]]],
        bind_window_secs: float = 0,
    ) -> tuple[str, CallRecord | None]:
        """Apply one verified webhook event to its call, in one transaction: the replay check,
        finding the call, and writing the report.

        Args:
            provider: the provider the event came from. event_key: its unique key; an event
                whose key is already stored changes nothing (a replay).
            received_at: Unix seconds. refs: references that may name the call (its conversation
                id, the provider's call id).
            to_number: the destination the event names; with ``bind_window_secs`` > 0, a call of
                this provider to that number placed within that many seconds that no event has
                named yet is taken as the one meant (TalkifAI's first event names a callId the
                outbound answer did not), and the first ref is recorded as its provider call id.
            merge: given the call's stored report JSON (``None`` if none), returns the merged
                report as ``(json, columns)``: ``columns`` are the ``calls`` fields it sets
                (``status``, ``provider_status``, ``outcome``, …).
        Returns:
            ``("replay", None)``, ``("unknown", None)`` (no call matches; the event is still
            remembered), or ``("applied", record)`` with the updated row.
        """
        with self._immediate():
            inserted = self._db.execute(
                "INSERT INTO webhook_events (provider, event_key, received_at) VALUES (?, ?, ?) "
                "ON CONFLICT (provider, event_key) DO NOTHING",
                (provider, event_key, received_at),
            ).rowcount
            if not inserted:
                return "replay", None
            self._db.execute("DELETE FROM webhook_events WHERE received_at < ?", (received_at - WEBHOOK_MEMORY_SECS,))
            row = None
            if refs:
                marks = ", ".join("?" * len(refs))
                row = self._db.execute(
                    f"SELECT * FROM calls WHERE provider = ? AND (conversation_id IN ({marks}) OR "
                    f"provider_call_id IN ({marks}) OR call_id IN ({marks})) ORDER BY created_at DESC LIMIT 1",
                    (provider, *refs, *refs, *refs),
                ).fetchone()
            bound = None
            if row is None and to_number and bind_window_secs > 0 and refs:
                row = self._db.execute(
                    "SELECT * FROM calls WHERE provider = ? AND to_number = ? AND provider_call_id IS NULL "
                    "AND report_json IS NULL AND batch_id IS NULL AND created_at >= ? "
                    f"AND {_MAY_HAVE_RUNG} ORDER BY created_at DESC LIMIT 1",
                    (provider, to_number, received_at - bind_window_secs),
                ).fetchone()
                bound = refs[0] if row is not None else None
            if row is None:
                return "unknown", None
            report_json, columns = merge(row["report_json"])
            allowed = {
                "status", "provider_status", "outcome", "termination_reason", "duration_secs", "started_at",
                "cost", "cost_unit", "cost_usd",
            }
            sets = {key: value for key, value in columns.items() if key in allowed}
            assignments = ", ".join(f"{key} = COALESCE(?, {key})" for key in sets)
            self._db.execute(
                f"UPDATE calls SET {assignments + ', ' if assignments else ''}report_json = ?, "
                "provider_call_id = COALESCE(provider_call_id, ?), updated_at = ? WHERE call_id = ?",
                (*sets.values(), report_json, bound, time.time(), row["call_id"]),
            )
        return "applied", self.get_call(row["call_id"])

    def record_batch_calls(self, batch_id: str, provider: str, calls: list[dict[str, Any]]) -> int:
        """Record or update the calls of a batch's recipients, keyed by conversation id.

        Args:
            calls: one dict per recipient that has a conversation: ``conversation_id``,
                ``to_number``, ``scenario``, ``status`` (normalised), ``provider_status`` (the
                recipient status), ``created_at`` (Unix seconds), and optionally ``recipient_id``
                (the caller's own id) and ``overrides`` (JSON of the recipient's controls).
        Returns:
            The number of rows written (rows whose status did not change are not rewritten).
        """
        now = time.time()
        before = self._db.total_changes
        self._db.execute("BEGIN")  # one transaction: thousands of recipients, one commit
        try:
            batch = self._db.execute("SELECT principal FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
            self._db.executemany(
                "INSERT INTO calls (call_id, created_at, updated_at, provider, to_number, scenario, "
                "business_description, status, provider_status, conversation_id, batch_id, recipient_id, overrides, "
                "principal) "
                "VALUES (:call_id, :created_at, :now, :provider, :to_number, :scenario, '', :status, "
                ":provider_status, :conversation_id, :batch_id, :recipient_id, :overrides, "
                ":principal) "
                "ON CONFLICT (call_id) DO UPDATE SET status = excluded.status, "
                "provider_status = excluded.provider_status, updated_at = excluded.updated_at, "
                "scenario = CASE WHEN calls.scenario = '' THEN excluded.scenario ELSE calls.scenario END, "
                "recipient_id = COALESCE(calls.recipient_id, excluded.recipient_id), "
                "overrides = COALESCE(calls.overrides, excluded.overrides) "
                "WHERE calls.provider = excluded.provider AND (calls.provider_status IS NOT excluded.provider_status "
                "OR (calls.scenario = '' AND excluded.scenario != '') "
                "OR (calls.recipient_id IS NULL AND excluded.recipient_id IS NOT NULL))",
                [
                    {
                        "recipient_id": None, "overrides": None, **c, "now": now, "provider": provider,
                        "batch_id": batch_id, "principal": batch[0] if batch else None,
                        "call_id": batch_call_id(provider, c["conversation_id"]),
                    }
                    for c in calls
                ],
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return self._db.total_changes - before

    def batch_call_statuses(self, batch_id: str) -> dict[str, str | None]:
        """``{conversation id: provider status}`` of the calls recorded for a batch's recipients
        (what a status poll compares the provider's answer with, to write only what changed)."""
        rows = self._db.execute(
            "SELECT conversation_id, provider_status FROM calls WHERE batch_id = ? AND conversation_id IS NOT NULL",
            (batch_id,),
        ).fetchall()
        return {row[0]: row[1] for row in rows}

    def list_calls(
        self,
        limit: int = 20,
        *,
        status: str | None = None,
        to_number: str | None = None,
        since: float | None = None,
        principal: str | None = None,
    ) -> list[CallRecord]:
        """Return the newest calls first, at most ``limit``, optionally filtered.

        Args:
            status: only calls in this status. to_number: only calls to this number (E.164).
            since: only calls created at or after this Unix time.
            principal: only the calls this principal placed (its batches' calls included).
        Kept outcomes (the journal) are written first, when the database accepts them.
        """
        self._try_replay()
        clauses, values = [], []
        for clause, value in (
            ("status = ?", status), ("to_number = ?", to_number), ("created_at >= ?", since), ("principal = ?", principal)
        ):
            if value is not None:
                clauses.append(clause)
                values.append(value)
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        rows = self._db.execute(
            f"SELECT * FROM calls {where}ORDER BY created_at DESC, rowid DESC LIMIT ?", (*values, limit)
        ).fetchall()
        return [CallRecord(**dict(r)) for r in rows]

    def recent_call(self, to_number: str, scenario: str, since: float) -> CallRecord | None:
        """The newest call to ``to_number`` with ``scenario`` since ``since`` (Unix time) that may
        have rung (anything but a refusal without a conversation); else the newest batch of that
        time with this number and scenario among its recipients (:meth:`recent_batch_recipient`).
        For the redial guard."""
        row = self._db.execute(
            "SELECT * FROM calls WHERE to_number = ? AND scenario = ? AND created_at >= ? "
            f"AND {_MAY_HAVE_RUNG} ORDER BY created_at DESC LIMIT 1",
            (to_number, scenario, since),
        ).fetchone()
        return CallRecord(**dict(row)) if row else self.recent_batch_recipient(to_number, scenario, since)

    def recent_batch_recipient(self, to_number: str, scenario: str, since: float) -> CallRecord | None:
        """The newest batch submitted since ``since`` (Unix time) that may have dialled and has
        ``to_number`` with ``scenario`` among its recipients, as a call record: ``call_id`` is the
        batch's local id (``batch_…``), ``batch_id`` the provider's (``None`` until known),
        ``status`` the batch's. A batch's recipients count as calls for the redial guard."""
        row = self._db.execute(
            "SELECT local_id, batch_id, created_at, updated_at, provider, status FROM batches "
            "WHERE created_at >= ? AND NOT (status = 'failed' AND batch_id IS NULL) AND EXISTS ("
            f"{self._HAS_RECIPIENT}) ORDER BY created_at DESC LIMIT 1",
            (since, to_number, scenario),
        ).fetchone()
        if row is None:
            return None
        return CallRecord(
            call_id=row["local_id"], created_at=row["created_at"], updated_at=row["updated_at"],
            provider=row["provider"], to_number=to_number, scenario=scenario, business_description="",
            status=row["status"], phone_provider=None, conversation_id=None, call_sid=None, error=None,
            batch_id=row["batch_id"],
        )

    def dials_since(self, since: float) -> list[tuple[float, int]]:
        """``(created_at, number of dials)`` for every call, batch and batch retry since ``since``
        that may have dialled, oldest first; a batch counts its recipients (its recipients' own
        call rows are not counted again), a retry the recipients it called again. A batch is left out
        only when its submission failed (no batch id); one the provider later reports ``failed``
        may have dialled. For the hourly cap."""
        rows = self._db.execute(
            f"SELECT created_at, 1 FROM calls WHERE created_at >= ? AND batch_id IS NULL AND {_MAY_HAVE_RUNG} "
            "UNION ALL SELECT created_at, total_recipients FROM batches WHERE created_at >= ? "
            "AND NOT (status = 'failed' AND batch_id IS NULL) "
            "UNION ALL SELECT created_at, recipients FROM batch_retries WHERE created_at >= ? AND status != 'failed' "
            "ORDER BY 1",
            (since, since, since),
        ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def recover_interrupted(self) -> int:
        """Mark requests left in flight by a process that no longer runs as ``outcome_unknown``.

        A ``dialling`` call or ``submitting`` batch written by another process whose pid is gone
        (SIGKILL, crash, power loss) may or may not have reached the provider. Returns the number
        of rows changed.
        """
        changed = 0
        for table, key, status in (
            ("calls", "call_id", "dialling"),
            ("batches", "local_id", "submitting"),
            ("batch_retries", "retry_id", "retrying"),
            ("test_runs", "run_id", "submitting"),
        ):
            rows = self._db.execute(
                f"SELECT {key}, pid, owner, created_at FROM {table} WHERE status = ? AND (owner IS NULL OR owner != ?)",
                (status, self.owner),
            ).fetchall()
            for row in rows:
                if self._writer_alive(row["pid"], row["owner"], row["created_at"]):
                    continue
                changed += self._db.execute(
                    f"UPDATE {table} SET status = 'outcome_unknown', error = ?, updated_at = ? "
                    f"WHERE {key} = ? AND status = ?",
                    (
                        f"The server process (pid {row['pid']}) stopped while the request was in flight; "
                        "it may or may not have reached the provider.",
                        time.time(),
                        row[key],
                        status,
                    ),
                ).rowcount
        return changed

    # -- batches -------------------------------------------------------------------------------

    def record_batch_intent(
        self,
        *,
        local_id: str,
        provider: str,
        name: str,
        recipients: list[dict[str, Any]],
        scheduled_time_unix: int | None,
        principal: str = LOCAL_PRINCIPAL,
        recipients_key: str | None = None,
    ) -> BatchRecord:
        """Write a ``submitting`` row before the batch is submitted.

        Args:
            recipients: one ``{"phone_number", "scenario", "id"?, "overrides"?}`` object per
                recipient, kept in ``batch_recipients`` in this order (``overrides`` as JSON).
            principal: who submits it (its recipients' calls are recorded under it too).
            recipients_key: what identifies the batch for the duplicate guard (a digest of its
                recipients as a set, their scenarios and scripts), ``None`` for none.
        """
        now = time.time()
        self._db.execute(
            "INSERT INTO batches (local_id, created_at, updated_at, provider, name, status, total_recipients, "
            "scheduled_time_unix, owner, pid, principal, recipients_key) "
            "VALUES (?, ?, ?, ?, ?, 'submitting', ?, ?, ?, ?, ?, ?)",
            (
                local_id, now, now, provider, name, len(recipients), scheduled_time_unix,
                self.owner, os.getpid(), principal, recipients_key,
            ),
        )
        self._db.executemany(
            "INSERT INTO batch_recipients (local_id, seq, phone_number, scenario, recipient_id, overrides) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    local_id, seq, r["phone_number"], r.get("scenario"), r.get("id"),
                    orjson.dumps(r["overrides"]).decode() if r.get("overrides") else None,
                )
                for seq, r in enumerate(recipients)
            ],
        )
        return self._batch_where("local_id = ?", local_id)  # type: ignore[return-value]

    def reserve_batch(
        self,
        *,
        local_id: str,
        provider: str,
        name: str,
        recipients: list[dict[str, Any]],
        scheduled_time_unix: int | None,
        cap_window_start: float,
        check_cap: Callable[[list[tuple[float, int]]], None],
        principal: str = LOCAL_PRINCIPAL,
        recipients_key: str | None = None,
        guard_since: float | None = None,
    ) -> tuple[BatchRecord, bool]:
        """Decide the batch duplicate guard and the hourly cap and write the ``submitting``
        intent in one transaction (see :meth:`reserve_call`).

        Args:
            principal: who submits it. recipients_key: see :meth:`record_batch_intent`.
            guard_since: Unix time from which an earlier batch with the same ``recipients_key``
                that may have dialled is returned instead (``None``: no guard).
        Returns:
            ``(record, True)`` for the new intent, or ``(earlier batch, False)`` for a duplicate.
        Raises:
            Whatever ``check_cap`` raises (nothing is written).
        """
        with self._immediate():
            if guard_since is not None and recipients_key is not None:
                earlier = self.recent_batch(recipients_key, guard_since)
                if earlier is not None:
                    return earlier, False
            check_cap(self.dials_since(cap_window_start))
            record = self.record_batch_intent(
                local_id=local_id, provider=provider, name=name, recipients=recipients,
                scheduled_time_unix=scheduled_time_unix, principal=principal, recipients_key=recipients_key,
            )
        return record, True

    def recent_batch(self, recipients_key: str, since: float) -> BatchRecord | None:
        """The newest batch with ``recipients_key`` created since ``since`` (Unix time) that may
        have dialled (anything but a submission that failed without a batch id), or ``None``.
        For the batch duplicate guard."""
        return self._batch_where(
            "recipients_key = ? AND created_at >= ? AND NOT (status = 'failed' AND batch_id IS NULL) "
            "ORDER BY created_at DESC LIMIT 1",
            recipients_key, since,
        )

    @_journaled
    def record_batch_outcome(
        self, local_id: str, *, status: str, batch_id: str | None = None, error: str | None = None
    ) -> BatchRecord:
        """Write the outcome of a submission (the provider's batch id and status, or the error).

        A batch id already recorded for another local batch is not stored twice; the row keeps
        the outcome and says so in ``error``.
        """
        try:
            self._db.execute(
                "UPDATE batches SET status = ?, batch_id = COALESCE(?, batch_id), error = ?, updated_at = ? "
                "WHERE local_id = ?",
                (status, batch_id, error, time.time(), local_id),
            )
        except sqlite3.IntegrityError:
            self._db.execute(
                "UPDATE batches SET status = ?, error = ?, updated_at = ? WHERE local_id = ?",
                (status, f"The provider returned batch id {batch_id}, already recorded for another batch.", time.time(), local_id),
            )
        return self._batch_where("local_id = ?", local_id)  # type: ignore[return-value]

    def update_batch_status(self, batch_id: str, status: str) -> None:
        """Record the last status the provider reported for a batch this server submitted (no-op otherwise)."""
        self._db.execute(
            "UPDATE batches SET status = ?, updated_at = ? WHERE batch_id = ? AND status != ?",
            (status, time.time(), batch_id, status),
        )

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        """Return the batch with this provider id, or ``None`` if this server did not submit it."""
        return self._batch_where("batch_id = ?", batch_id)

    def batch_costs(self, batch_id: str) -> dict[str, Any]:
        """What the recorded calls of a batch cost, as the provider reported them (``get_call``):
        ``{"calls": n with a cost, "cost": sum, "cost_unit": unit, "cost_usd": sum or None,
        "calls_usd": n with a USD cost}``; one unit per batch (a batch has one provider)."""
        row = self._db.execute(
            "SELECT COUNT(cost) AS calls, SUM(cost) AS cost, MAX(cost_unit) AS cost_unit, "
            "COUNT(cost_usd) AS calls_usd, SUM(cost_usd) AS cost_usd FROM calls WHERE batch_id = ?",
            (batch_id,),
        ).fetchone()
        return dict(row)

    def batch_recipients(self, batch_id: str) -> list[dict[str, Any]]:
        """The ``{"phone_number", "scenario"}`` list recorded when this server submitted the
        batch, in submission order; empty for a batch submitted elsewhere."""
        rows = self._db.execute(
            "SELECT r.phone_number, r.scenario, r.recipient_id, r.overrides FROM batches AS b "
            "JOIN batch_recipients AS r ON r.local_id = b.local_id WHERE b.batch_id = ? ORDER BY r.seq",
            (batch_id,),
        ).fetchall()
        return [_entry(row) for row in rows]

    def batch_recipient_entries(
        self, batch_id: str, *, numbers: Sequence[str] = (), ids: Sequence[str] = ()
    ) -> list[dict[str, Any]] | None:
        """The entries of :meth:`batch_recipients` whose number is in ``numbers`` or whose
        caller's id is in ``ids``, in submission order; ``None`` for a batch submitted elsewhere.
        Indexed lookups (``batch_recipients_batch_number``, ``batch_recipients_id``), so a poll that
        records a few thousand calls of a 50,000-recipient batch reads only their entries."""
        batch = self._db.execute("SELECT local_id FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
        if batch is None:
            return None
        found: dict[int, Any] = {}
        for where, values in (("phone_number IN", list(numbers)), ("recipient_id IS NOT NULL AND recipient_id IN", list(ids))):
            for start in range(0, len(values), _IN_CHUNK):
                chunk = values[start : start + _IN_CHUNK]
                for row in self._db.execute(
                    "SELECT seq, phone_number, scenario, recipient_id, overrides FROM batch_recipients "
                    f"WHERE local_id = ? AND {where} ({', '.join('?' * len(chunk))})",
                    (batch["local_id"], *chunk),
                ):
                    found[row["seq"]] = row
        return [_entry(found[seq]) for seq in sorted(found)]

    def list_batches(self, limit: int = 20, *, principal: str | None = None) -> list[BatchRecord]:
        """The batches this server submitted (or tried to), newest first, at most ``limit``;
        only ``principal``'s when given."""
        where, values = ("WHERE principal = ? ", (principal,)) if principal is not None else ("", ())
        rows = self._db.execute(
            "SELECT local_id, batch_id, created_at, updated_at, provider, name, status, total_recipients, "
            f"scheduled_time_unix, error, principal FROM batches {where}ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (*values, limit),
        ).fetchall()
        return [BatchRecord(**dict(r)) for r in rows]

    def record_retry_intent(self, batch_id: str, recipients: int) -> str:
        """Write a ``retrying`` row before a batch retry is sent (it counts towards the hourly
        cap: ``recipients`` phones may ring again); returns its id."""
        retry_id = f"retry_{uuid.uuid4().hex[:20]}"
        now = time.time()
        self._db.execute(
            "INSERT INTO batch_retries (retry_id, batch_id, created_at, updated_at, recipients, status, owner, pid) "
            "VALUES (?, ?, ?, ?, ?, 'retrying', ?, ?)",
            (retry_id, batch_id, now, now, recipients, self.owner, os.getpid()),
        )
        return retry_id

    def reserve_retry(
        self,
        batch_id: str,
        recipients: int,
        *,
        cap_window_start: float,
        check_cap: Callable[[list[tuple[float, int]]], None],
        guard_since: float | None = None,
    ) -> tuple[RetryRecord, bool]:
        """Decide the retry guard and the hourly cap and write the ``retrying`` intent in one
        transaction (see :meth:`reserve_call`).

        Args:
            guard_since: Unix time from which an earlier retry of the same batch that may have
                dialled (anything but ``failed``) is returned instead (``None``: no guard).
        Returns:
            ``(new retry, True)``, or ``(earlier retry, False)`` for a duplicate.
        Raises:
            Whatever ``check_cap`` raises (nothing is written).
        """
        with self._immediate():
            if guard_since is not None:
                earlier = self.recent_retry(batch_id, guard_since)
                if earlier is not None:
                    return earlier, False
            check_cap(self.dials_since(cap_window_start))
            retry_id = self.record_retry_intent(batch_id, recipients)
            row = self._db.execute(f"SELECT {_RETRY_COLUMNS} FROM batch_retries WHERE retry_id = ?", (retry_id,)).fetchone()
        return RetryRecord(**dict(row)), True

    def recent_retry(self, batch_id: str, since: float) -> RetryRecord | None:
        """The newest retry of ``batch_id`` created since ``since`` (Unix time) that may have
        dialled (anything but ``failed``), or ``None``. For the retry guard."""
        row = self._db.execute(
            f"SELECT {_RETRY_COLUMNS} FROM batch_retries WHERE batch_id = ? AND created_at >= ? "
            "AND status != 'failed' ORDER BY created_at DESC LIMIT 1",
            (batch_id, since),
        ).fetchone()
        return RetryRecord(**dict(row)) if row else None

    @_journaled
    def record_retry_outcome(self, retry_id: str, *, status: str, error: str | None = None) -> None:
        """Write a retry's outcome: ``retried``, ``failed`` (nothing dialled) or ``outcome_unknown``."""
        self._db.execute(
            "UPDATE batch_retries SET status = ?, error = ?, updated_at = ? WHERE retry_id = ?",
            (status, error, time.time(), retry_id),
        )

    def _batch_where(self, clause: str, *values: object) -> BatchRecord | None:
        row = self._db.execute(
            "SELECT local_id, batch_id, created_at, updated_at, provider, name, status, total_recipients, "
            f"scheduled_time_unix, error, principal FROM batches WHERE {clause}",
            values,
        ).fetchone()
        return BatchRecord(**dict(row)) if row else None


    @staticmethod
    def _writer_alive(pid: int | None, owner: str | None, created_at: float) -> bool:
        """Whether the store that wrote an in-flight row may still be working on it (see
        :func:`writer_alive`; a store shared across machines decides otherwise)."""
        return writer_alive(pid, owner, created_at)


#: Values per ``IN (…)`` list (SQLite's older builds allow 999 parameters per statement).
_IN_CHUNK = 500


def _entry(row: Any) -> dict[str, Any]:
    """A ``batch_recipients`` row as the entry submitted: ``{"phone_number", "scenario", "id"?, "overrides"?}``."""
    entry: dict[str, Any] = {"phone_number": row["phone_number"], "scenario": row["scenario"]}
    if row["recipient_id"] is not None:
        entry["id"] = row["recipient_id"]
    if row["overrides"] is not None:
        entry["overrides"] = orjson.loads(row["overrides"])
    return entry


def batch_call_id(provider: str, conversation_id: str) -> str:
    """The local id of a batch recipient's call: ElevenLabs' conversation id itself (as since the
    first release); another provider's reference prefixed with its name (``talkifai_outbound_…``),
    so two providers' references never share a row."""
    return conversation_id if provider == "elevenlabs" else f"{provider}_{conversation_id}"


def writer_alive(pid: int | None, owner: str | None, created_at: float) -> bool:
    """Whether the store that wrote an in-flight row may still be working on it."""
    if pid is None:
        return False
    if pid == os.getpid():  # this process: alive if that store is still open here
        return owner in _LIVE_OWNERS
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return time.time() - created_at < STALE_IN_FLIGHT_SECS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
