"""Tool arguments checked and cleaned before any work: text limits, forbidden characters, ids,
waits, times and filters. Pure functions; each raises :class:`~caller_mcp.errors.InvalidInput`
with a message that names the argument and what to send instead.
"""

from __future__ import annotations

import math

import re
from datetime import datetime, timezone

from ..errors import InvalidInput
from .batches import RECIPIENT_STATUSES
from .script import normalize_description, normalize_scenario

MAX_DESCRIPTION_CHARS = 20_000
MAX_SCENARIO_CHARS = 2_000
MAX_CALL_NAME_CHARS = 200
#: Longest ``get_call`` wait, seconds: MCP clients give up on a tool call at about 60 s.
MAX_WAIT_SECS = 50.0
#: Most recipients per ``get_batch_status`` page, batches ``list_batches`` returns and calls
#: ``list_calls`` returns (here, beside the other limits, so the tool schemas read them without
#: importing the use cases).
MAX_RECIPIENT_PAGE = 100
MAX_BATCH_LIST = 500
MAX_LIST_LIMIT = 200
#: Longest a waiting tool call takes in all, seconds, the provider's reads included: the wait
#: (at most :data:`MAX_WAIT_SECS`) plus the last read must end before a client's ~60 s limit.
MAX_TOOL_SECS = 55.0
#: C0 controls but tab, line feed and carriage return; DEL and C1 controls; lone surrogates
#: (they cannot be encoded as UTF-8 for the provider or the store).
_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
#: A batch recipient id of the caller's own: sent in a request body, never in a URL, so ``#`` and
#: ``.`` are allowed too (a test run names its recipients ``case-id#repeat``).
_RECIPIENT_ID = re.compile(r"^[A-Za-z0-9_.#:\-]{1,128}$")


def identifier(value: object, field: str, what: str) -> str:
    """A provider or local id, trimmed: letters, digits, ``_`` and ``-``, at most 128 characters.

    Raises:
        InvalidInput: anything else (it never reaches a URL).
    """
    if not isinstance(value, str) or not _ID.fullmatch(value.strip()):
        raise InvalidInput(f"{field} must be {what} (letters, digits, '_' and '-'); got {shown(value)}.")
    return value.strip()


def recipient_id(value: object) -> str:
    """A batch recipient's own id, trimmed: letters, digits, ``_ - . # :``, at most 128 characters.

    Raises:
        InvalidInput: anything else.
    """
    if not isinstance(value, str) or not _RECIPIENT_ID.fullmatch(value.strip()):
        raise InvalidInput(f"id must be your own recipient id (letters, digits, '_', '-', '.', '#' and ':'); got {shown(value)}.")
    return value.strip()


def wait_seconds(value: object) -> float:
    """``wait_seconds`` checked: a number from 0 to :data:`MAX_WAIT_SECS`.

    Raises:
        InvalidInput: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_WAIT_SECS:
        raise InvalidInput(
            f"wait_seconds must be between 0 and {MAX_WAIT_SECS:g} (MCP clients give up on a tool call at about "
            "60 s); call get_call again to keep waiting."
        )
    return float(value)


def recipient_statuses(value: str | None) -> set[str] | None:
    """A comma-separated recipient status filter as a set; ``None`` for no filter.

    Raises:
        InvalidInput: a status the provider does not use.
    """
    cleaned = text(value, "status", 200)
    if cleaned is None:
        return None
    wanted = {part.strip().lower() for part in cleaned.split(",") if part.strip()}
    unknown = sorted(wanted - set(RECIPIENT_STATUSES))
    if unknown:
        raise InvalidInput(
            f"Unknown recipient status {', '.join(unknown)}; use one or more of {', '.join(RECIPIENT_STATUSES)} "
            "(comma-separated)."
        )
    return wanted or None


def text(value: str | None, field: str, limit: int) -> str | None:
    """Trim an optional text argument; ``None`` when blank.

    Raises:
        InvalidInput: longer than ``limit`` characters, or contains a control character or a
            lone surrogate.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string.")
    if len(value) > limit:
        raise InvalidInput(f"{field} is {len(value):,} characters long; the limit is {limit:,}.")
    bad = _FORBIDDEN_CHARS.search(value)
    if bad:
        raise InvalidInput(
            f"{field} contains the control or invalid character U+{ord(bad.group()):04X} at position "
            f"{bad.start()}; remove it (line breaks and tabs are fine)."
        )
    return value.strip() or None


def description(value: str | None, field: str) -> str | None:
    """A business description: checked by :func:`text`, trimmed; ``None`` when blank."""
    return normalize_description(text(value, field, MAX_DESCRIPTION_CHARS))


def scenario(value: str | None) -> str | None:
    """A caller goal: checked by :func:`text`, normalised as seed 002 does; ``None`` when blank."""
    return normalize_scenario(text(value, "scenario", MAX_SCENARIO_CHARS))


def clip(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, ending in ``…`` when cut."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def since(value: str | float | None) -> float | None:
    """Unix seconds from a number, a numeric text or an ISO 8601 text (naive = UTC).

    Raises:
        InvalidInput: none of these, or not finite (``NaN``, ``inf``).
    """
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number):
            raise InvalidInput(f"since must be a finite time: Unix seconds or ISO 8601 like 2026-11-21T09:00:00Z; got {shown(value)}.")
        return number
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"since must be Unix seconds or ISO 8601 like 2026-11-21T09:00:00Z; got {shown(value)}.") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def shown(value: object) -> str:
    """A short, quoted rendering of a user value for an error message."""
    if isinstance(value, dict) and "phone_number" in value:
        value = value["phone_number"]
    elif hasattr(value, "phone_number"):
        value = value.phone_number
    rendered = repr(value)
    return rendered if len(rendered) <= 60 else rendered[:57] + "…"
