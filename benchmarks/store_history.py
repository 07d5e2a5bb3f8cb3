"""Store queries at a large history (issue 10): before and after the version-4 indexes.

Builds a database of ``--rows`` calls (default 1,000,000) in a temp folder: ~95% batch recipients
(batches of ~100), the rest direct calls, over a year up to now; statuses spread; a few
``dialling`` calls, a ``submitting`` batch and a ``retrying`` retry left by a dead process.
It is written with the version-3 indexes, then opened with :class:`SqliteStore`, which adds the
new ones (the migration time is printed). Each query is timed (median of ``--runs`` after a
warm-up) with the new indexes (AFTER), then again on the same open store once they are dropped
and version 3's ``calls_batch`` is put back (BEFORE). Target: every AFTER ≤ 5 ms.

    .venv/bin/python benchmarks/store_history.py [--rows 1000000] [--runs 25] [--keep]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from caller_mcp.store.sqlite import SqliteStore

TARGET_MS = 5.0
#: The indexes version 4 adds; version 3 had calls_batch (batch_id) instead.
NEW_INDEXES = (
    "calls_status", "calls_batch_created", "batches_created", "batches_status",
    "batch_retries_created", "batch_retries_status",
)
V3_INDEXES = (
    "CREATE INDEX calls_created ON calls (created_at)",
    "CREATE INDEX calls_number ON calls (to_number, created_at)",
    "CREATE INDEX calls_conversation ON calls (conversation_id)",
    "CREATE INDEX calls_batch ON calls (batch_id)",
)
CALL_STATUSES = (
    ("done", 70), ("failed", 12), ("initiated", 4), ("in_progress", 1), ("processing", 1),
    ("outcome_unknown", 3), ("queued", 5), ("ringing", 4),
)
NUMBERS = 20_000
DIALLING = 5


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def build(path: Path, rows: int, now: float, seed: int = 10) -> dict:
    """Write the history with the version-3 schema and indexes; returns what the queries need."""
    SqliteStore(path).close()  # the current schema's tables
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA cache_size=-400000")
    for name in (*NEW_INDEXES, "calls_created", "calls_number", "calls_conversation"):
        db.execute(f"DROP INDEX IF EXISTS {name}")  # indexes are built after the rows: faster
    db.execute("PRAGMA user_version=3")
    rng = random.Random(seed)
    statuses = [s for s, _ in CALL_STATUSES]
    weights = [w for _, w in CALL_STATUSES]
    numbers = [f"+1555{n:07d}" for n in range(NUMBERS)]
    span = 365 * 86400
    pid = dead_pid()
    calls, batches, retries = [], [], []
    t = now - span
    step = span / rows
    while len(calls) < rows:
        if rng.random() < 0.05 / (0.05 + 0.95 / 100):  # a direct call (5% of the calls) ...
            t += step * rng.uniform(0.5, 1.5)
            cid = f"call_{uuid.uuid4().hex[:24]}"
            status = rng.choices(statuses, weights)[0]
            conv = None if status == "failed" and rng.random() < 0.5 else f"conv_{uuid.uuid4().hex}"
            calls.append((cid, t, t, "elevenlabs", rng.choice(numbers), "book", "Clinic", status, conv, None))
        else:  # ... or a batch of ~100 recipients
            n = rng.randint(50, 150)
            bid = f"btcal_{uuid.uuid4().hex[:24]}"
            batches.append((f"batch_{uuid.uuid4().hex[:20]}", bid, t, t, "elevenlabs", "campaign", "completed", n, "[]"))
            if rng.random() < 0.05:
                retries.append((f"retry_{uuid.uuid4().hex[:20]}", bid, t + 600, t + 600, n // 10, "retried"))
            for _ in range(n):
                t += step * rng.uniform(0.5, 1.5)
                conv = f"conv_{uuid.uuid4().hex}"
                status = rng.choices(statuses, weights)[0]
                calls.append((conv, t, t, "elevenlabs", rng.choice(numbers), "book", "", status, conv, bid))
    calls = calls[:rows]
    # A process killed mid-request: a few dialling calls, a submitting batch, a retrying retry.
    dialling = [f"call_dialling_{i}" for i in range(DIALLING)]
    for i, cid in enumerate(dialling):
        calls[-1 - i * 1000] = (cid, *calls[-1 - i * 1000][1:7], "dialling", None, None)
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO calls (call_id, created_at, updated_at, provider, to_number, scenario, business_description, "
        "status, conversation_id, batch_id, owner, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'dead', "
        f"CASE WHEN ?8 = 'dialling' THEN {pid} END)",
        calls,
    )
    db.executemany(
        "INSERT INTO batches (local_id, batch_id, created_at, updated_at, provider, name, status, total_recipients, "
        "recipients_json, owner, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'dead', NULL)",
        batches,
    )
    db.execute(
        "INSERT INTO batches (local_id, created_at, updated_at, provider, name, status, total_recipients, "
        "recipients_json, owner, pid) VALUES ('batch_submitting', ?, ?, 'elevenlabs', 'x', 'submitting', 3, '[]', "
        "'dead', ?)",
        (now - 7200, now - 7200, pid),
    )
    db.executemany(
        "INSERT INTO batch_retries (retry_id, batch_id, created_at, updated_at, recipients, status, owner) "
        "VALUES (?, ?, ?, ?, ?, ?, 'dead')",
        [*retries, ("retry_retrying", batches[-1][1], now - 7200, now - 7200, 4, "retrying")],
    )
    for statement in V3_INDEXES:
        db.execute(statement)
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    direct = [c for c in calls if c[9] is None]
    return {
        "pid": pid, "dialling": dialling, "batches": len(batches), "retries": len(retries) + 1,
        "number": direct[-1][4], "scenario": "book",
    }


def selected(value) -> object:
    """What a query selected: call ids (rows' update times differ once recovery has run)."""
    if isinstance(value, list):
        return [getattr(v, "call_id", v) for v in value]
    return getattr(value, "call_id", value)


def median_ms(fn, runs: int, before=None) -> float:
    for _ in range(2):  # warm-up
        if before:
            before()
        fn()
    times = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (its path is printed)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="caller-mcp-history-"))
    try:
        path = folder / "history.sqlite3"
        now = time.time()
        start = time.perf_counter()
        info = build(path, args.rows, now)
        built = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
        start = time.perf_counter()
        store = SqliteStore(path)  # adds the version-4 indexes; recovers the dead process's rows
        migrated = time.perf_counter() - start
        print(f"{args.rows:,} calls, {info['batches']:,} batches, {info['retries']:,} retries: "
              f"built in {built:.1f} s ({size_mb:.0f} MB); first open as version 4 (migration) {migrated:.2f} s")

        def interrupted_again() -> None:  # not timed: the dead process's rows back in flight
            marks = ",".join("?" * len(info["dialling"]))
            store._db.execute(f"UPDATE calls SET status = 'dialling' WHERE call_id IN ({marks})", info["dialling"])
            store._db.execute("UPDATE batches SET status = 'submitting' WHERE local_id = 'batch_submitting'")
            store._db.execute("UPDATE batch_retries SET status = 'retrying' WHERE retry_id = 'retry_retrying'")

        def recover() -> None:
            changed = store.recover_interrupted()
            assert changed == len(info["dialling"]) + 2, changed

        queries = {
            "list_calls(status='nonexistent')": lambda: store.list_calls(status="nonexistent"),
            "list_calls(status='done', limit=20)": lambda: store.list_calls(20, status="done"),
            "list_calls(to_number=…)": lambda: store.list_calls(to_number=info["number"]),
            "list_calls(since=now-1d)": lambda: store.list_calls(since=now - 86400),
            "dials_since(now-3600)": lambda: store.dials_since(now - 3600),
            "recover_interrupted()": recover,
            "recent_call (redial guard)": lambda: store.recent_call(info["number"], info["scenario"], now - 86400),
        }
        setup = {"recover_interrupted()": interrupted_again}
        after = {name: median_ms(fn, args.runs, setup.get(name)) for name, fn in queries.items()}
        results_after = {name: selected(fn()) for name, fn in queries.items() if name != "recover_interrupted()"}

        for name in NEW_INDEXES:
            store._db.execute(f"DROP INDEX {name}")
        store._db.execute("CREATE INDEX calls_batch ON calls (batch_id)")
        before = {name: median_ms(fn, args.runs, setup.get(name)) for name, fn in queries.items()}
        results_before = {name: selected(fn()) for name, fn in queries.items() if name != "recover_interrupted()"}
        store.close()
        assert results_before == results_after, "the indexes changed a query's result"

        width = max(map(len, queries))
        print(f"\nmedian of {args.runs} runs, ms{'':<{width - 17}}    BEFORE     AFTER    ratio")
        for name in queries:
            flag = "" if after[name] <= TARGET_MS else f"  > {TARGET_MS:g} ms target"
            print(f"{name:<{width}}  {before[name]:>8.2f}  {after[name]:>8.3f}  {before[name] / after[name]:>7.1f}x{flag}")
        print(f"\nsame results before and after: yes; target ≤ {TARGET_MS:g} ms AFTER: "
              f"{'met' if max(after.values()) <= TARGET_MS else 'NOT met'}")
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
