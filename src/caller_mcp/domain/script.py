"""What the AI caller is told: scenario normalisation, the caller prompt and the first message.

Every text here is carried over from seed 002 (``shared/reference/002_…``, "Caller Prompt",
"First Message" and the default scenario of ``/api/call``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .overrides import NO_OVERRIDES, CallOverrides

#: Seed 002: the scenario used when neither the call nor the business context names one.
DEFAULT_SCENARIO = "check availability, complete a typical customer task, and avoid speaking to a human if possible"

#: Seed 002's caller prompt, with the business description and caller goal filled in.
CALLER_PROMPT_TEMPLATE = (
    "You are simulating a real customer contacting the business below. "
    "The other side is the company, an operator, or an IVR. "
    "Stay in character as the caller/customer, try to complete the task, "
    "and avoid escalating to a human unless the flow requires it.\n"
    "\n"
    "Business description: {business_description}\n"
    "\n"
    "Caller goal: {scenario}\n"
    "\n"
    "Speak naturally, ask one thing at a time, and keep each response concise."
)

#: The caller prompt to paste into an ElevenLabs agent for ``ELEVENLABS_SCRIPT_MODE=variables``:
#: seed 002's, with the description and goal left as ``{{…}}`` dynamic variables that each call fills.
AGENT_PROMPT_TEMPLATE = CALLER_PROMPT_TEMPLATE.format(
    business_description="{{business_description}}", scenario="{{scenario}}"
)

#: Seed 002's first message.
FIRST_MESSAGE_TEMPLATE = "Hi, I'm calling because I'd like to {scenario}."

_WHITESPACE = re.compile(r"\s+")
_TRAILING_PUNCTUATION = ".!?,;: "


def normalize_scenario(scenario: str | None) -> str | None:
    """Normalise a caller goal as seed 002 does before using it.

    Trims it, collapses every run of inner whitespace (newlines, tabs) to one space and removes
    trailing punctuation, so that it reads well inside the first message
    ("… I'd like to order a pizza.").

    Args:
        scenario: the goal as given, or ``None``.
    Returns:
        The normalised goal, or ``None`` when nothing is left (``None``, blank or only punctuation).
    """
    if scenario is None:
        return None
    text = _WHITESPACE.sub(" ", scenario).strip().rstrip(_TRAILING_PUNCTUATION).strip()
    return text or None


def normalize_description(description: str | None) -> str | None:
    """Trim a business description; ``None`` when blank. Inner line breaks are kept."""
    if description is None:
        return None
    text = description.strip()
    return text or None


@dataclass(frozen=True)
class CallerScript:
    """The instructions one call is placed with, in no provider's format.

    Attributes:
        business_description: who the business is (trimmed).
        scenario: the normalised caller goal.
        prompt: the system prompt for the caller (seed 002 "Caller Prompt").
        first_message: what the caller says first (seed 002 "First Message").
        overrides: language, voice, dynamic variables and ring time (``NO_OVERRIDES`` = the agent's own).

    Frozen and hashable: recipients with the same description, scenario and overrides share one.
    """

    business_description: str
    scenario: str
    prompt: str
    first_message: str
    overrides: CallOverrides = NO_OVERRIDES


def build_script(business_description: str, scenario: str, overrides: CallOverrides = NO_OVERRIDES) -> CallerScript:
    """Fill seed 002's caller prompt and first message.

    Args:
        business_description: already trimmed, non-empty.
        scenario: already normalised (see :func:`normalize_scenario`), non-empty.
        overrides: the call's controls (checked by :func:`caller_mcp.domain.overrides.overrides`).
    Returns:
        The :class:`CallerScript` for the call.
    """
    return CallerScript(
        business_description=business_description,
        scenario=scenario,
        prompt=CALLER_PROMPT_TEMPLATE.format(business_description=business_description, scenario=scenario),
        first_message=FIRST_MESSAGE_TEMPLATE.format(scenario=scenario),
        overrides=overrides,
    )
