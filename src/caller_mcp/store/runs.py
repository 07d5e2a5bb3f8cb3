"""Test runs in the store: a run of a suite, its units (one call per case and repeat) with their
check results, and the verdicts agents recorded with their evidence.

The schema is created by :mod:`.migrations` (version 5). :class:`TestRunQueries` is mixed into
:class:`~caller_mcp.store.sqlite.SqliteStore`; it uses its connection and its ``BEGIN IMMEDIATE``
transaction, so the run guard (the same suite started twice within the redial window) is decided
together with writing the run, whatever the number of processes sharing the file.

Run statuses: ``submitting`` (intent written, the dial under way), ``running`` (calls placed),
``done`` (every unit final), ``failed`` (nothing was dialled), ``outcome_unknown`` (the dial may
have reached the provider). Times are Unix seconds.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

TEST_RUN_SCHEMA = """
CREATE TABLE IF NOT EXISTS test_runs (
    run_id       TEXT PRIMARY KEY,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    suite_name   TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    source       TEXT NOT NULL,
    suite_yaml   TEXT NOT NULL,
    provider     TEXT NOT NULL,
    mode         TEXT NOT NULL,
    status       TEXT NOT NULL,
    batch_id     TEXT,
    batch_name   TEXT,
    error        TEXT,
    notes_json   TEXT NOT NULL DEFAULT '[]',
    owner        TEXT,
    pid          INTEGER,
    principal    TEXT
);
CREATE INDEX IF NOT EXISTS test_runs_suite ON test_runs (suite_name, created_at);
CREATE INDEX IF NOT EXISTS test_runs_fingerprint ON test_runs (fingerprint, created_at);
CREATE INDEX IF NOT EXISTS test_runs_status ON test_runs (status);
CREATE TABLE IF NOT EXISTS test_units (
    run_id             TEXT NOT NULL,
    case_id            TEXT NOT NULL,
    repeat             INTEGER NOT NULL,
    position           INTEGER NOT NULL,
    to_number          TEXT NOT NULL,
    scenario           TEXT NOT NULL,
    call_id            TEXT,
    conversation_id    TEXT,
    status             TEXT NOT NULL DEFAULT 'queued',
    final              INTEGER NOT NULL DEFAULT 0,
    outcome            TEXT,
    duration_secs      REAL,
    provider_outcome   TEXT,
    summary            TEXT,
    termination_reason TEXT,
    cost               REAL,
    cost_unit          TEXT,
    cost_usd           REAL,
    error              TEXT,
    transcript_json    TEXT NOT NULL DEFAULT '[]',
    checks_json        TEXT NOT NULL DEFAULT '[]',
    updated_at         REAL NOT NULL,
    PRIMARY KEY (run_id, case_id, repeat)
);
CREATE TABLE IF NOT EXISTS test_verdicts (
    run_id      TEXT NOT NULL,
    case_id     TEXT NOT NULL,
    repeat      INTEGER NOT NULL,
    criterion   TEXT NOT NULL,
    passed      INTEGER NOT NULL,
    evidence    TEXT NOT NULL,
    role        TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (run_id, case_id, repeat, criterion)
);
"""

#: Columns added after version 5 created the table (``migrations.migrate`` adds them), and the
#: statements run after them: version 8 records who started each run (a token's principal;
#: ``local`` over stdio) and lists a principal's own runs.
TEST_RUN_COLUMNS = {"test_runs": (("principal", "TEXT"),)}
TEST_RUN_INDEXES = (
    "UPDATE test_runs SET principal = 'local' WHERE principal IS NULL",
    "CREATE INDEX IF NOT EXISTS test_runs_principal ON test_runs (principal, created_at)",
)

#: Unit columns a refresh may write (:meth:`TestRunQueries.update_unit`).
UNIT_FIELDS = (
    "call_id", "conversation_id", "status", "final", "outcome", "duration_secs", "provider_outcome", "summary",
    "termination_reason", "cost", "cost_unit", "cost_usd", "error", "transcript_json", "checks_json",
)
RUN_FIELDS = ("status", "batch_id", "error", "notes_json")


@dataclass(frozen=True)
class TestRunRecord:
    """One row of ``test_runs`` (see the module docstring for ``status``; ``mode`` is ``batch`` or ``calls``)."""

    __test__ = False  # not a pytest test class

    run_id: str
    created_at: float
    updated_at: float
    suite_name: str
    fingerprint: str
    source: str
    suite_yaml: str
    provider: str
    mode: str
    status: str
    batch_id: str | None
    batch_name: str | None
    error: str | None
    notes_json: str
    owner: str | None = None
    pid: int | None = None
    principal: str | None = None

    @property
    def notes(self) -> list[str]:
        """What the run says about itself (settings not applied, how results are matched)."""
        return json.loads(self.notes_json)


@dataclass(frozen=True)
class TestUnitRecord:
    """One row of ``test_units``: a case at one repeat, its call and, once final, its results.

    ``status`` is the call's normalised status (``domain.calls.CALL_STATUSES``); ``outcome`` how it
    ended (``domain.suites.OUTCOMES``); ``transcript_json`` ``[[role, message], …]``;
    ``checks_json`` ``[{check, passed, reason}, …]``.
    """

    __test__ = False

    run_id: str
    case_id: str
    repeat: int
    position: int
    to_number: str
    scenario: str
    call_id: str | None
    conversation_id: str | None
    status: str
    final: int
    outcome: str | None
    duration_secs: float | None
    provider_outcome: str | None
    summary: str | None
    termination_reason: str | None
    cost: float | None
    cost_unit: str | None
    cost_usd: float | None
    error: str | None
    transcript_json: str
    checks_json: str
    updated_at: float

    @property
    def key(self) -> str:
        """``case-id#repeat``."""
        return f"{self.case_id}#{self.repeat}"

    @property
    def transcript(self) -> list[tuple[str, str]]:
        """The stored transcript as ``(role, message)`` turns."""
        return [(role, message) for role, message in json.loads(self.transcript_json)]

    @property
    def checks(self) -> list[dict[str, Any]]:
        """The stored check results."""
        return json.loads(self.checks_json)


@dataclass(frozen=True)
class VerdictRecord:
    """One row of ``test_verdicts``: a criterion judged with a quote found in the transcript (``role`` said it)."""

    run_id: str
    case_id: str
    repeat: int
    criterion: str
    passed: int
    evidence: str
    role: str
    recorded_at: float


class _Connected(Protocol):
    _db: Any
    owner: str

    def _immediate(self) -> AbstractContextManager[None]: ...


class TestRunQueries:
    """The test-run queries of :class:`~caller_mcp.store.sqlite.SqliteStore` (a mixin)."""

    __test__ = False

    def reserve_run(
        self: _Connected,
        *,
        run_id: str,
        suite_name: str,
        fingerprint: str,
        source: str,
        suite_yaml: str,
        provider: str,
        mode: str,
        batch_name: str | None,
        notes: list[str],
        units: list[dict[str, Any]],
        guard_since: float | None,
        principal: str = "local",
    ) -> tuple[TestRunRecord, bool]:
        """Write a ``submitting`` run and its units, unless the same suite (``fingerprint``) was
        started since ``guard_since`` (Unix time; ``None``: no guard), by anyone (the line is the
        team's, as with the redial guard), and may have dialled: then that earlier run is returned.
        One transaction.

        Args:
            units: ``{case_id, repeat, to_number, scenario}`` per unit, in dialling order.
        Returns:
            ``(run, True)`` for the new run, ``(earlier run, False)`` for a duplicate.
        """
        now = time.time()
        with self._immediate():
            if guard_since is not None:
                earlier = self.recent_run(fingerprint, guard_since)  # type: ignore[attr-defined]
                if earlier is not None:
                    return earlier, False
            self._db.execute(
                "INSERT INTO test_runs (run_id, created_at, updated_at, suite_name, fingerprint, source, suite_yaml, "
                "provider, mode, status, batch_name, notes_json, owner, pid, principal) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'submitting', ?, ?, ?, ?, ?)",
                (
                    run_id, now, now, suite_name, fingerprint, source, suite_yaml, provider, mode, batch_name,
                    json.dumps(notes), self.owner, os.getpid(), principal,
                ),
            )
            self._db.executemany(
                "INSERT INTO test_units (run_id, case_id, repeat, position, to_number, scenario, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (run_id, u["case_id"], u["repeat"], i, u["to_number"], u["scenario"], now)
                    for i, u in enumerate(units)
                ],
            )
        return self.get_run(run_id), True  # type: ignore[attr-defined, return-value]

    def recent_run(self: _Connected, fingerprint: str, since: float) -> TestRunRecord | None:
        """The newest run of the suite ``fingerprint`` since ``since`` (Unix time) that may have
        dialled (not ``failed``), whoever started it; for the run guard."""
        row = self._db.execute(
            "SELECT * FROM test_runs WHERE fingerprint = ? AND created_at >= ? AND status != 'failed' "
            "ORDER BY created_at DESC LIMIT 1",
            (fingerprint, since),
        ).fetchone()
        return TestRunRecord(**dict(row)) if row else None

    def get_run(self: _Connected, run_id: str) -> TestRunRecord | None:
        """The run with this id, or ``None``."""
        row = self._db.execute("SELECT * FROM test_runs WHERE run_id = ?", (run_id,)).fetchone()
        return TestRunRecord(**dict(row)) if row else None

    def list_runs(self: _Connected, limit: int = 20, principal: str = "local") -> list[TestRunRecord]:
        """``principal``'s newest runs first, at most ``limit``."""
        rows = self._db.execute(
            "SELECT * FROM test_runs WHERE principal = ? ORDER BY created_at DESC, rowid DESC LIMIT ?", (principal, limit)
        ).fetchall()
        return [TestRunRecord(**dict(r)) for r in rows]

    def previous_run(
        self: _Connected, suite_name: str, before: float, run_id: str, principal: str = "local"
    ) -> TestRunRecord | None:
        """``principal``'s newest run of the suite called ``suite_name`` created before ``before``
        (Unix time) that dialled (not ``failed``), other than ``run_id``; ``None`` when there is none."""
        row = self._db.execute(
            "SELECT * FROM test_runs WHERE suite_name = ? AND principal = ? AND created_at <= ? AND run_id != ? "
            "AND status != 'failed' ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (suite_name, principal, before, run_id),
        ).fetchone()
        return TestRunRecord(**dict(row)) if row else None

    def update_run(self: _Connected, run_id: str, **fields: Any) -> None:
        """Write some of :data:`RUN_FIELDS` of a run (``notes`` as a list)."""
        if "notes" in fields:
            fields["notes_json"] = json.dumps(fields.pop("notes"))
        _update(self._db, "test_runs", RUN_FIELDS, fields, "run_id = ?", (run_id,))

    def run_units(self: _Connected, run_id: str) -> list[TestUnitRecord]:
        """A run's units in dialling order."""
        rows = self._db.execute("SELECT * FROM test_units WHERE run_id = ? ORDER BY position", (run_id,)).fetchall()
        return [TestUnitRecord(**dict(r)) for r in rows]

    def update_unit(self: _Connected, run_id: str, case_id: str, repeat: int, **fields: Any) -> None:
        """Write some of :data:`UNIT_FIELDS` of a unit (``transcript`` and ``checks`` as lists)."""
        if "transcript" in fields:
            fields["transcript_json"] = json.dumps([list(t) for t in fields.pop("transcript")])
        if "checks" in fields:
            fields["checks_json"] = json.dumps(fields.pop("checks"))
        _update(self._db, "test_units", UNIT_FIELDS, fields, "run_id = ? AND case_id = ? AND repeat = ?", (run_id, case_id, repeat))

    def record_verdict(
        self: _Connected, run_id: str, case_id: str, repeat: int, criterion: str, *, passed: bool, evidence: str, role: str
    ) -> VerdictRecord:
        """Write (or replace) the verdict on one criterion of one unit; returns it."""
        now = time.time()
        self._db.execute(
            "INSERT INTO test_verdicts (run_id, case_id, repeat, criterion, passed, evidence, role, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, case_id, repeat, criterion) DO UPDATE SET "
            "passed = excluded.passed, evidence = excluded.evidence, role = excluded.role, "
            "recorded_at = excluded.recorded_at",
            (run_id, case_id, repeat, criterion, int(passed), evidence, role, now),
        )
        return VerdictRecord(run_id, case_id, repeat, criterion, int(passed), evidence, role, now)

    def run_verdicts(self: _Connected, run_id: str) -> list[VerdictRecord]:
        """Every verdict recorded for a run."""
        rows = self._db.execute(
            "SELECT * FROM test_verdicts WHERE run_id = ? ORDER BY case_id, repeat, recorded_at", (run_id,)
        ).fetchall()
        return [VerdictRecord(**dict(r)) for r in rows]


def _update(db: Any, table: str, allowed: tuple[str, ...], fields: dict[str, Any], where: str, key: tuple[Any, ...]) -> None:
    """``UPDATE table SET fields…, updated_at WHERE where``; only ``allowed`` column names are
    ever put into the SQL (the values are parameters).

    Raises:
        ValueError: a field outside ``allowed``.
    """
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ValueError(f"not {table} fields: {sorted(unknown)}")
    sets = "".join(f"{name} = ?, " for name in fields)
    db.execute(f"UPDATE {table} SET {sets}updated_at = ? WHERE {where}", (*fields.values(), time.time(), *key))
