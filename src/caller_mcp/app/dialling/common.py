"""What every dial shares: the plan's fingerprint, the provider's kind in questions, and the
read-only cap check used by questions, dry runs and declined confirmations."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

from ...domain.caps import CAP_WINDOW_SECS
from ...domain.overrides import CAPABILITY_OF, CallOverrides
from ...errors import NotSupported
from ...ports import CAPABILITY_WORDS, Provider
from ..services import Services

#: Invalid recipients (or refused numbers) named one by one in an error; the rest are counted.
MAX_LISTED_ERRORS = 20
#: How a batch's local id (the store's record before the provider names it) begins.
LOCAL_BATCH_PREFIX = "batch_"


def guard_since(services: Services, now: float, *, opt_out: bool = False) -> float | None:
    """Unix time from which an earlier dial counts as a duplicate (``CALLER_MCP_REDIAL_GUARD_SECS``
    before ``now``), or ``None`` when the guard is off (window 0) or the caller opted out."""
    window = services.settings.caller_mcp_redial_guard_secs
    return None if opt_out or window <= 0 else now - window


def fingerprint(content: Any) -> str:
    """A short, stable digest of a plan's request: 12 hex characters of SHA-256 over its
    canonical JSON. Shown in the confirmation question, so an answer given to one plan never
    confirms another."""
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:12]


def kind(provider: Provider) -> str:
    return "sandbox" if provider.sandbox else "REAL, paid"



def script_not_sent(provider: Provider) -> str:
    """What a call answer, dry run and question say when ``provider`` takes no caller script
    (capability ``per_call_script``; TalkifAI, seed 004: the call carries no prompt); else ``""``."""
    if provider.capabilities.per_call_script:
        return ""
    return (
        f"The {provider.name} agent assigned to the calling number speaks with its own prompt (set in the "
        f"provider's studio); the business description and scenario were checked and recorded here but "
        f"not sent to {provider.name}'s agent."
    )


def require_overrides(provider: Provider, overrides: CallOverrides, where: str = "") -> None:
    """Refuse controls ``provider`` cannot send (its :class:`~caller_mcp.ports.Capabilities`): a
    control is never dropped silently.

    Args:
        where: names the entry in the message (``recipients[2] ``), ``""`` for a single call.
    Raises:
        NotSupported: naming each control the provider lacks and what to do instead.
    """
    missing = provider.capabilities.missing(*(CAPABILITY_OF[name] for name in overrides.fields()))
    if missing:
        lacks = "; ".join(CAPABILITY_WORDS[name] for name in missing)
        raise NotSupported(
            f"{where}The {provider.name} provider does not support {lacks}. Nothing was dialled: leave "
            f"{'it' if len(missing) == 1 else 'them'} out (the agent's own settings apply), or use a provider that supports "
            f"{'it' if len(missing) == 1 else 'them'}."
        )


def controls_json(overrides: CallOverrides) -> str | None:
    """The overrides as stored with a call: canonical JSON, ``None`` when none is set."""
    return None if overrides.empty else json.dumps(overrides.as_dict(), sort_keys=True, ensure_ascii=False)


async def check_hourly(services: Services, provider: Provider, dials: int, *, batch: bool) -> None:
    """Apply both caps to ``dials`` more dials (read only: the decision that counts is taken
    again when the intent is written).

    Raises:
        CapExceeded: a cap would be exceeded.
    """
    caps = services.caps(provider)
    caps.check_size(dials, batch=batch)
    now = services.now()
    caps.check_hourly(await services.store.dials_since(now - CAP_WINDOW_SECS), dials, now, batch=batch)
