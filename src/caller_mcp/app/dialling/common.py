"""What every dial shares: the plan's fingerprint, the provider's kind in questions, and the
read-only cap check used by questions, dry runs and declined confirmations."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ...domain.caps import CAP_WINDOW_SECS
from ...ports import Provider
from ..services import Services

#: Invalid recipients (or refused numbers) named one by one in an error; the rest are counted.
MAX_LISTED_ERRORS = 20


def fingerprint(content: Any) -> str:
    """A short, stable digest of a plan's request: 12 hex characters of SHA-256 over its
    canonical JSON. Shown in the confirmation question, so an answer given to one plan never
    confirms another."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:12]


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


def check_hourly(services: Services, provider: Provider, dials: int, *, batch: bool) -> None:
    """Apply both caps to ``dials`` more dials (read only: the decision that counts is taken
    again when the intent is written).

    Raises:
        CapExceeded: a cap would be exceeded.
    """
    caps = services.caps(provider)
    caps.check_size(dials, batch=batch)
    now = services.now()
    caps.check_hourly(services.store.dials_since(now - CAP_WINDOW_SECS), dials, now, batch=batch)
