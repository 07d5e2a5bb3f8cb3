"""Several processes opening one new database file at the same moment all get a store.

Switching a new file to WAL takes an exclusive lock, and SQLite answers ``database is locked``
at once (without its busy handler) to the processes that lose that race; before the store
retried it, about one start in ten of four servers on a fresh file failed this way.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from caller_mcp.store.sqlite import SqliteStore

PROCESSES = 4
ROUNDS = 12


def _open(path: str, barrier, results) -> None:
    barrier.wait(timeout=30)
    try:
        SqliteStore(path).close()
        results.put("ok")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_file_together_all_get_the_store(tmp_path: Path):
    context = multiprocessing.get_context("spawn")
    failures = []
    for round_ in range(ROUNDS):
        path = str(tmp_path / f"round{round_}.sqlite3")
        barrier, results = context.Barrier(PROCESSES), context.Queue()
        workers = [context.Process(target=_open, args=(path, barrier, results)) for _ in range(PROCESSES)]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        failures += [outcome for outcome in outcomes if outcome != "ok"]
    assert failures == []
