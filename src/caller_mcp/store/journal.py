"""The outcome journal: an append-only file beside the database that keeps the outcome of a
request that may have placed calls when the database refuses to record it (another process held
the write lock past the busy timeout, the disk is full, an I/O error).

A dial's intent is in the database before its request leaves; its outcome (the provider's ids)
arrives after. Losing that outcome would leave a ``dialling`` row with no conversation id for a
call that rang. Each refused outcome write is appended here as one JSON line (flushed and
fsynced), and replayed into the database — by this process or the next one to open it — as soon
as it accepts writes. Replaying applies an outcome only to a row still waiting for one (its
intent status, or ``outcome_unknown``), so it never overwrites what a later report wrote.

Appends and replays hold an exclusive ``flock`` on the file (POSIX; elsewhere appends of one
line are not interleaved by the OS and replays are best effort).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


class RecordPending(Exception):
    """An outcome could not be written to the database and is kept in the journal instead.

    Attributes:
        journal: the journal file's path. reason: the database's error.
    """

    def __init__(self, journal: str, reason: str, *, kept: bool = True) -> None:
        self.journal = journal
        self.reason = reason
        self.kept = kept
        super().__init__(
            f"The outcome could not be written to the call database ({reason}); it is kept in {journal} and "
            "will be written as soon as the database accepts writes (list_calls and get_call show it then)."
            if kept
            else f"The outcome could not be written to the call database ({reason}) nor to its journal {journal}: "
            "keep the ids in this answer; the local record stays without them."
        )


class OutcomeJournal:
    """The journal file of one database (``<database>-outcomes.jsonl``).

    Args:
        path: the journal file (created on first append).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    def pending(self) -> bool:
        """Whether entries wait to be replayed (one ``stat``)."""
        try:
            return os.path.getsize(self.path) > 0
        except OSError:
            return False

    @contextmanager
    def _locked(self, mode: str) -> Iterator[Any]:
        with open(self.path, mode, encoding="utf-8") as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield handle
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def append(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Keep one refused outcome write (a store method's name and JSON-able arguments).

        Raises:
            OSError: the journal cannot be written either (the disk is full): the caller reports
                the outcome with its provider ids all the same.
        """
        line = json.dumps({"method": method, "args": list(args), "kwargs": kwargs, "at": time.time()}) + "\n"
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._locked("a") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def replay(self, apply: Callable[[str, list[Any], dict[str, Any]], None]) -> int:
        """Apply every entry in order with ``apply(method, args, kwargs)``, then empty the file.

        Entries stay in the file if ``apply`` raises (the database still refuses): the next
        replay tries again. Returns the number of entries applied.
        """
        if not self.pending():
            return 0
        with self._locked("r+") as handle:
            entries = [json.loads(line) for line in handle if line.strip()]
            for entry in entries:
                apply(entry["method"], entry["args"], entry["kwargs"])
            handle.seek(0)
            handle.truncate()
            handle.flush()
            os.fsync(handle.fileno())
        return len(entries)
