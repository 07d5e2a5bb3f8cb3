"""A graceful stop: once the server is told to stop (stdin closed, SIGTERM, SIGINT) it takes no
new dials, lets the dials in flight finish and records their outcomes, then exits.

A dial is *in flight* from the moment its intent is about to be written (``store.reserve_*``)
until its outcome is in the store (or the journal): the provider's answer to a call-placing
POST is worth waiting for, since cutting it off leaves the call ``outcome_unknown`` although it
was placed. The waiting is bounded by :func:`drain_bound_secs`, which outlasts the requests' own
timeouts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

from ..errors import ShuttingDown
from ..settings import Settings

logger = logging.getLogger(__name__)

#: Seconds allowed, past the provider's timeouts, for writing a dial's outcome (the SQLite busy
#: timeout is 10 s).
OUTCOME_WRITE_SECS = 15.0


def drain_bound_secs(settings: Settings) -> float:
    """The longest a graceful stop waits for the dials in flight, in seconds: the connect timeout
    plus the longest read timeout of a call-placing request (``CALLER_MCP_READ_TIMEOUT_SECS``, or
    ``TALKIFAI_READ_TIMEOUT_SECS``: TalkifAI's POST holds until the callee answers) plus
    :data:`OUTCOME_WRITE_SECS`. A request cannot outlast its own timeouts, so the bound is a
    safety net: the stop ends as soon as the last dial is recorded."""
    read = max(settings.caller_mcp_read_timeout_secs, settings.talkifai_read_timeout_secs)
    return settings.caller_mcp_connect_timeout_secs + read + OUTCOME_WRITE_SECS


class GracefulStop:
    """The server's stop state: whether it is stopping (and why), and the dials in flight.

    One per server process; every dial holds :meth:`dialling` (or :meth:`begin` … :meth:`end`
    when the dial continues in a background task) around writing its intent, sending the request
    and writing its outcome. Runs on one event loop: :meth:`begin` checks and counts without an
    await in between, so no dial starts after :meth:`stop` was called.
    """

    def __init__(self) -> None:
        #: Why the server is stopping (``"stdin closed"``, ``"SIGTERM"``, …), ``None`` while serving.
        self.reason: str | None = None
        #: Dials between their intent and their recorded outcome.
        self.in_flight = 0
        self._idle: anyio.Event | None = None

    def stop(self, reason: str) -> None:
        """Refuse every dial from now on (the first reason given is kept)."""
        if self.reason is None:
            self.reason = reason

    def begin(self) -> None:
        """Count one more dial in flight; pair with :meth:`end`.

        Raises:
            ShuttingDown: the server is stopping; nothing was dialled.
        """
        if self.reason is not None:
            raise ShuttingDown(
                f"The server is shutting down ({self.reason}): it takes no new dials while it finishes "
                f"the {self.in_flight} in flight. Nothing was dialled; send it again once your MCP client "
                "has restarted caller-mcp."
            )
        self.in_flight += 1

    def end(self) -> None:
        """One dial's outcome is recorded (or it stopped before dialling)."""
        self.in_flight -= 1
        if self.in_flight <= 0 and self._idle is not None:
            self._idle.set()

    @contextmanager
    def dialling(self) -> Iterator[None]:
        """:meth:`begin` on entry, :meth:`end` on exit.

        Raises:
            ShuttingDown: on entry, when the server is stopping.
        """
        self.begin()
        try:
            yield
        finally:
            self.end()

    async def drain(self, reason: str, bound_secs: float) -> int:
        """Stop taking dials (:meth:`stop`) and wait until those in flight are recorded.

        Args:
            reason: why, for the log and the refusal (``"stdin closed"``, ``"SIGTERM"``).
            bound_secs: the longest wait (:func:`drain_bound_secs`).
        Returns:
            How many dials were still in flight when the wait ran out (0: all recorded).
        """
        self.stop(reason)
        if self.in_flight > 0:
            logger.warning(
                "stopping (%s): no new dials; waiting up to %.0f s for %d dial(s) in flight to be recorded",
                self.reason, bound_secs, self.in_flight,
            )
            self._idle = self._idle or anyio.Event()
            with anyio.move_on_after(bound_secs):
                await self._idle.wait()
            if self.in_flight > 0:
                logger.error("stopping: %d dial(s) still in flight after %.0f s", self.in_flight, bound_secs)
        return self.in_flight
