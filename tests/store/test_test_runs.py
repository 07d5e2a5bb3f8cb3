"""Test-run records: the run guard decided with the write, units and verdicts kept, an
interrupted submission marked outcome_unknown by the next process."""

from __future__ import annotations

import os
import time

from caller_mcp.store import SqliteStore

UNITS = [
    {"case_id": "order", "repeat": 1, "to_number": "+15551234567", "scenario": "order a pizza"},
    {"case_id": "order", "repeat": 2, "to_number": "+15551234567", "scenario": "order a pizza"},
]


def reserve(store: SqliteStore, run_id: str, *, guard_since: float | None = None, fingerprint: str = "f1"):
    return store.reserve_run(
        run_id=run_id, suite_name="smoke", fingerprint=fingerprint, source="smoke.yaml", suite_yaml="name: smoke",
        provider="elevenlabs", mode="batch", batch_name=f"smoke {run_id}", notes=["a note"], units=UNITS,
        guard_since=guard_since,
    )


def test_a_run_is_written_with_its_units_in_order(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite3")
    run, new = reserve(store, "run_1")
    assert new and run.status == "submitting" and run.notes == ["a note"]
    assert [u.key for u in store.run_units("run_1")] == ["order#1", "order#2"]
    store.update_unit("run_1", "order", 2, status="done", final=1, transcript=[("business", "hi")], checks=[{"check": "x"}])
    unit = store.run_units("run_1")[1]
    assert unit.final == 1 and unit.transcript == [("business", "hi")] and unit.checks == [{"check": "x"}]


def test_the_same_suite_within_the_guard_returns_the_earlier_run_across_processes(tmp_path):
    first, second = SqliteStore(tmp_path / "db.sqlite3"), SqliteStore(tmp_path / "db.sqlite3")
    reserve(first, "run_1", guard_since=time.time() - 120)
    earlier, new = reserve(second, "run_2", guard_since=time.time() - 120)
    assert (earlier.run_id, new) == ("run_1", False)
    assert second.get_run("run_2") is None and second.run_units("run_2") == []
    other, new = reserve(second, "run_3", guard_since=time.time() - 120, fingerprint="f2")
    assert new and other.run_id == "run_3"


def test_a_failed_run_does_not_block_running_it_again(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite3")
    reserve(store, "run_1")
    store.update_run("run_1", status="failed", error="cap")
    assert reserve(store, "run_2", guard_since=0)[1]


def test_a_verdict_is_replaced_not_duplicated(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite3")
    reserve(store, "run_1")
    store.record_verdict("run_1", "order", 1, "confirms", passed=False, evidence="no pizza today", role="business")
    store.record_verdict("run_1", "order", 1, "confirms", passed=True, evidence="your order is in", role="business")
    (verdict,) = store.run_verdicts("run_1")
    assert (verdict.passed, verdict.evidence) == (1, "your order is in")


def test_previous_run_is_the_newest_earlier_one_of_the_same_suite(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite3")
    reserve(store, "run_1")
    reserve(store, "run_2")
    reserve(store, "run_3")
    store.update_run("run_2", status="failed")
    latest = store.get_run("run_3")
    assert store.previous_run("smoke", latest.created_at, "run_3").run_id == "run_1"
    assert store.previous_run("other", latest.created_at, "run_3") is None


def test_a_submission_left_by_a_dead_process_becomes_outcome_unknown(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite3")
    reserve(store, "run_1")
    store._db.execute("UPDATE test_runs SET pid = ?, owner = 'gone' WHERE run_id = 'run_1'", (2**22 + os.getpid(),))
    store.close()
    reopened = SqliteStore(tmp_path / "db.sqlite3")
    run = reopened.get_run("run_1")
    assert run.status == "outcome_unknown" and "may or may not have reached the provider" in run.error


def test_runs_from_before_principals_become_the_local_principals(tmp_path):
    path = tmp_path / "db.sqlite3"
    store = SqliteStore(path)
    reserve(store, "run_1")
    store._db.execute("DROP INDEX test_runs_principal")
    store._db.execute("ALTER TABLE test_runs DROP COLUMN principal")  # a version 5-7 table
    store._db.execute("PRAGMA user_version = 7")
    store.close()
    reopened = SqliteStore(path)
    assert [r.run_id for r in reopened.list_runs(principal="local")] == ["run_1"]
    assert reopened.get_run("run_1").principal == "local" and reopened.list_runs(principal="alice") == []


def test_runs_units_verdicts_and_the_guard_on_postgresql(pg_url):
    from caller_mcp.store.postgres import PostgresStore

    first, second = PostgresStore(pg_url), PostgresStore(pg_url)  # two replicas on one database
    try:
        run, new = reserve(first, "run_1", guard_since=time.time() - 120)
        assert new and run.principal == "local"
        assert reserve(second, "run_2", guard_since=time.time() - 120)[0].run_id == "run_1"
        second.update_unit("run_1", "order", 1, status="done", final=1, transcript=[("business", "We open at 11 am")])
        assert first.run_units("run_1")[0].transcript == [("business", "We open at 11 am")]
        first.record_verdict("run_1", "order", 1, "hours", passed=False, evidence="We open at 11 am", role="business")
        second.record_verdict("run_1", "order", 1, "hours", passed=True, evidence="We open at 11 am", role="business")
        assert [(v.passed, v.role) for v in first.run_verdicts("run_1")] == [(1, "business")]
        reserve(first, "run_3", fingerprint="f2")
        latest = first.get_run("run_3")
        assert first.previous_run("smoke", latest.created_at, "run_3").run_id == "run_1"
        assert [r.run_id for r in second.list_runs(principal="local")] == ["run_3", "run_1"]
        assert second.list_runs(principal="alice") == []
    finally:
        first.close()
        second.close()
