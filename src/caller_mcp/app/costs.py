"""A price before dialling: the LLM part of what calls will cost (seed ``003_…``).

The provider names its agent's LLM and that LLM's price per minute for the caller prompt's length
(ElevenLabs: ``GET /v1/convai/agents/{id}`` and ``POST /v1/convai/llm-usage/calculate``, both
cached per process); the estimate is that price × the expected minutes × the number of calls.
It leaves out telephony and voice, so it is labelled as the LLM part only and approximate. The
same estimate goes into every dry run and confirmation question; a failure to estimate never
stops a dial (the answer says why there is none).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ..domain.calls import LlmPrice, llm_estimate_usd
from ..domain.script import CallerScript, build_script
from ..errors import CallerError, InvalidInput, provider_words
from ..ports import Provider
from .context import NO_DESCRIPTION_ERROR, defaults
from .results import CostEstimateResult
from .services import LOCAL_PRINCIPAL, Services

#: Minutes a call is expected to last when nobody says (``estimate_cost``, dry runs, questions).
DEFAULT_EXPECTED_MINUTES = 3.0
MAX_EXPECTED_MINUTES = 240.0
MAX_CALLS = 1_000_000
#: Said with every estimate.
BASIS = (
    "Approximate: the agent's LLM price per minute (provider's LLM-usage calculator) × expected minutes × calls. "
    "LLM part only: telephony and voice are not included."
)


def _check(calls: object, expected_minutes: object) -> tuple[int, float]:
    if isinstance(calls, bool) or not isinstance(calls, int) or not 1 <= calls <= MAX_CALLS:
        raise InvalidInput(f"calls must be a whole number from 1 to {MAX_CALLS:,}; got {calls!r}.")
    if (
        isinstance(expected_minutes, bool)
        or not isinstance(expected_minutes, (int, float))
        or not math.isfinite(expected_minutes)
        or not 0 < expected_minutes <= MAX_EXPECTED_MINUTES
    ):
        raise InvalidInput(
            f"expected_minutes must be more than 0 and at most {MAX_EXPECTED_MINUTES:g}; got {expected_minutes!r}."
        )
    return calls, float(expected_minutes)


async def estimate(
    services: Services,
    provider: Provider,
    scripts: Iterable[CallerScript],
    calls: int,
    expected_minutes: float = DEFAULT_EXPECTED_MINUTES,
) -> CostEstimateResult:
    """Estimate ``calls`` calls with these caller scripts on ``provider``.

    A batch's scripts differ in length; the longest one is priced (one price request, an upper
    bound on the LLM part). Never raises for a provider failure: the answer then has no price and
    says why in ``note``.

    Args:
        scripts: the distinct scripts of the dial (at least one).
        calls: how many calls. expected_minutes: minutes each is expected to last.
    Returns:
        The estimate: ``llm``, ``usd_per_minute`` (as the provider gives it), ``estimated_usd``.
    """
    answered = {"provider": provider.name, "sandbox": provider.sandbox}  # the dial's answer carries the note
    if not provider.capabilities.cost_estimate:
        said = f"{provider.name} gives no price before dialling."
        return CostEstimateResult(calls=calls, expected_minutes=expected_minutes, note=said, **answered)
    longest = max(scripts, key=lambda s: len(s.prompt))
    try:
        price = await provider.llm_price(longest)
    except CallerError as exc:
        answer = CostEstimateResult(calls=calls, expected_minutes=expected_minutes, note=f"No estimate: {exc}", **answered)
        return answer.quoting("note") if provider_words(exc) else answer
    return _priced(price, calls, expected_minutes, answered)


def _priced(price: LlmPrice, calls: int, minutes: float, answered: dict[str, Any]) -> CostEstimateResult:
    """The estimate of ``calls`` calls of ``minutes`` minutes at ``price`` (an LLM price per
    minute, USD), with ``answered`` (:meth:`Services.answered_by`)."""
    return CostEstimateResult(
        llm=price.llm,
        usd_per_minute=price.usd_per_minute,
        prompt_length=price.prompt_length,
        calls=calls,
        expected_minutes=minutes,
        estimated_usd=llm_estimate_usd(price, calls, minutes),
        basis=BASIS,
        **answered,
    )


def estimate_line(result: CostEstimateResult) -> str:
    """The estimate in one line for a confirmation question."""
    if result.estimated_usd is None:
        return f"Cost: no estimate ({(result.note or 'unavailable').rstrip('.')})."
    calls = f"{result.calls:,} call{'s' if result.calls != 1 else ''}"
    return (
        f"Estimated LLM cost: about ${result.estimated_usd:,.4f} ({calls} × {result.expected_minutes:g} min × "
        f"${result.usd_per_minute:g}/min, {result.llm}); LLM part only, approximate."
    )


async def estimate_cost(
    services: Services,
    calls: int = 1,
    expected_minutes: float = DEFAULT_EXPECTED_MINUTES,
    business_description: str | None = None,
    scenario: str | None = None,
    *,
    principal: str = LOCAL_PRINCIPAL,
    provider_name: str | None = None,
) -> CostEstimateResult:
    """The ``estimate_cost`` tool: what ``calls`` calls of ``expected_minutes`` minutes with this
    description and scenario (default: the stored context, as ``place_call``) will cost in LLM
    usage on ``provider_name`` (default: ``CALLER_MCP_PROVIDER``'s). Reads only; dials nothing.

    Raises:
        InvalidInput: bad counts, or no description (``Provide a business description first.``).
        NotSupported: the provider gives no price before dialling. ConfigError.
        ProviderError: the agent or the price list could not be read.
    """
    calls, minutes = _check(calls, expected_minutes)
    description, goal = await defaults(services, business_description, scenario, principal)
    if description is None:
        raise InvalidInput(NO_DESCRIPTION_ERROR)
    provider = services.provider(provider_name)
    services.require(provider, "cost_estimate")
    price = await provider.llm_price(build_script(description, goal))
    return _priced(price, calls, minutes, services.answered_by(provider))
