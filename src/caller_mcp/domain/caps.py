"""Dial caps: the hourly cap and the batch-size cap, as pure arithmetic over the store's counts.

The operator sets them (``CALLER_MCP_MAX_CALLS_PER_HOUR``, ``CALLER_MCP_MAX_BATCH_SIZE``); the
store supplies what was dialled in the last hour, so a restart does not reset them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import CapExceeded

#: The rolling window of ``CALLER_MCP_MAX_CALLS_PER_HOUR``, seconds.
CAP_WINDOW_SECS = 3600


def iso(ts: float) -> str:
    """Unix seconds → ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Caps:
    """The caps in force; ``None`` = no cap.

    Attributes:
        per_hour: dials per rolling hour, batch recipients included.
        batch_size: recipients per batch.
    """

    per_hour: int | None = None
    batch_size: int | None = None

    def check_size(self, dials: int, *, batch: bool) -> None:
        """Refuse a dial that exceeds a cap on its own, whatever was dialled before.

        Raises:
            CapExceeded: too many recipients for one batch, or more than the hourly cap.
        """
        if batch and self.batch_size is not None and dials > self.batch_size:
            raise CapExceeded(
                f"{dials:,} recipients exceed CALLER_MCP_MAX_BATCH_SIZE={self.batch_size:,}; split the batch."
            )
        if self.per_hour is not None and dials > self.per_hour:
            raise CapExceeded(
                f"{dials:,} calls exceed CALLER_MCP_MAX_CALLS_PER_HOUR={self.per_hour:,} on their own; "
                "submit fewer at a time."
            )

    def check_hourly(self, recent: list[tuple[float, int]], dials: int, now: float, *, batch: bool) -> None:
        """Refuse ``dials`` more dials when the last hour's dials and these exceed the hourly cap.

        Args:
            recent: ``(Unix time, dials)`` of every dial in the window, oldest first.
            dials: how many phones the new dial rings.
            now: Unix seconds.
        Raises:
            CapExceeded: with ``retry_at``, the Unix time when enough dials have left the window.
        """
        if self.per_hour is None:
            return
        used = sum(n for _, n in recent)
        if used + dials <= self.per_hour:
            return
        total = used
        retry_at = now
        for created_at, n in recent:  # oldest first: when have enough dials left the window?
            used -= n
            retry_at = created_at + CAP_WINDOW_SECS
            if used + dials <= self.per_hour:
                break
        raise CapExceeded(
            f"Hourly call cap reached: {total:,} calls in the last hour and "
            f"CALLER_MCP_MAX_CALLS_PER_HOUR={self.per_hour:,}. The next "
            f"{'batch of ' + format(dials, ',') + ' calls' if batch else 'call'} is allowed at "
            f"{iso(retry_at)} (in {max(1, int(retry_at - now + 0.999)):,} s).",
            retry_at=retry_at,
        )
