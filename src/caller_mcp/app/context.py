"""The business context (seed 002 ``/api/context``): who the business is and the default caller goal."""

from __future__ import annotations

import json

from ..domain import inputs
from ..domain.caps import iso
from ..domain.script import DEFAULT_SCENARIO
from ..errors import InvalidInput
from ..store import BusinessContext
from .results import BusinessContextResult
from .services import LOCAL_PRINCIPAL, Services

#: Seed 002's error when neither the call nor the stored context gives a business description.
NO_DESCRIPTION_ERROR = "Provide a business description first."


async def set_context(
    services: Services, description: str, scenario: str | None = None, *, principal: str = LOCAL_PRINCIPAL
) -> BusinessContextResult:
    """Store ``principal``'s business description and default scenario (seed 002 ``/api/context``);
    another principal's context and calls are untouched.

    Args:
        description: who the business is; trimmed, must not be blank.
        scenario: default caller goal; normalised; blank or ``None`` means seed 002's default.
    Returns:
        The stored context, with the scenario that will apply.
    Raises:
        InvalidInput: blank or oversized description, oversized scenario.
    """
    text = inputs.description(description, "description")
    if text is None:
        raise InvalidInput("description must not be empty: describe the business the calls go to.")
    stored = await services.store.set_context(text, inputs.scenario(scenario), principal)
    return context_result(stored, "Business context saved. place_call and submit_batch will use it.")


async def context_json(services: Services, principal: str = LOCAL_PRINCIPAL) -> str:
    """``principal``'s business context as JSON (the ``caller://context`` resource, shaped like
    ``set_business_context``'s answer), or a JSON object saying none is set."""
    context = await services.store.get_context(principal)
    if context is None:
        return json.dumps({"description": None, "message": "No business context is set; call set_business_context."})
    return context_result(context, "The context place_call and submit_batch use by default.").model_dump_json()


def context_result(stored: BusinessContext, message: str) -> BusinessContextResult:
    """A stored business context as an answer; an unset scenario shows seed 002's default."""
    return BusinessContextResult(
        description=stored.description,
        scenario=stored.scenario or DEFAULT_SCENARIO,
        scenario_is_default=stored.scenario is None,
        updated_at=iso(stored.updated_at),
        message=message,
    )


async def defaults(
    services: Services, business_description: str | None, scenario: str | None, principal: str = LOCAL_PRINCIPAL
) -> tuple[str | None, str]:
    """The description and scenario a dial uses: the arguments, else the stored context, else
    (scenario only) seed 002's default. The stored context is ``principal``'s.

    Returns:
        ``(description or None, scenario)``.
    Raises:
        InvalidInput: an argument fails its checks.
    """
    context = await services.store.get_context(principal)
    description = inputs.description(business_description, "business_description") or (
        context.description if context else None
    )
    goal = inputs.scenario(scenario) or (context.scenario if context else None) or DEFAULT_SCENARIO
    return description, goal
