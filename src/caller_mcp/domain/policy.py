"""May this number be dialled? Every destination passes through here before any request is built.

:meth:`DialPolicy.check` applies, in order (the dial-safety issue and the guide's safety rules):

1. Seed 002's E.164 pattern ``^\\+[1-9]\\d{7,14}$`` with seed 002's error text.
2. An exact number on the operator's allowlist (``CALLER_MCP_ALLOWED_NUMBERS``) passes at once:
   the operator vouches for it, even where ``phonenumbers`` does not know the range.
3. Against a real provider, ``phonenumbers`` must find a valid, assignable number whose E.164
   re-format equals the input. The sandbox skips this, so the fictional ``+1555…`` numbers of the
   examples keep working.
4. Numbers ``phonenumbers`` recognises as premium rate, shared cost, UAN, personal number, pager,
   an emergency number or a short code are refused, each with its reason (sandbox too).
5. When the operator configured an allowlist (number prefixes such as ``+1555*`` or ISO region
   codes in ``CALLER_MCP_ALLOWED_COUNTRIES``), the number must match one entry.

The allowlist comes from configuration only, never from a tool argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from ..errors import InvalidInput, PolicyViolation

#: Seed 002 "Phone Number Validation". ASCII: ``\d`` must not match other scripts' digits.
E164_PATTERN = re.compile(r"^\+[1-9]\d{7,14}$", re.ASCII)
#: Seed 002's error text for a number that fails the pattern.
E164_ERROR = "Phone number must be in E.164 format, for example +15551234567."

#: ``phonenumbers.PhoneNumberType`` values refused, with the reason given to the user.
REFUSED_TYPES = {
    "PREMIUM_RATE": "a premium-rate number (the caller would pay a surcharge)",
    "SHARED_COST": "a shared-cost number (the caller pays part of the charge)",
    "UAN": "a universal access number (routed at the operator's discretion, often charged)",
    "PERSONAL_NUMBER": "a personal number (follow-me routing to an unknown line, often charged)",
    "PAGER": "a pager number (no one can answer a voice call)",
}


def check_e164(to_number: object) -> str:
    """Return ``to_number`` when it matches seed 002's E.164 pattern exactly.

    No trimming or reformatting is done: the number dialled is the number given.

    Raises:
        InvalidInput: with seed 002's text, for anything else (including non-strings).
    """
    if not isinstance(to_number, str) or not E164_PATTERN.fullmatch(to_number):
        raise InvalidInput(E164_ERROR)
    return to_number


@dataclass(frozen=True)
class DialPolicy:
    """The operator's dial policy.

    Attributes:
        real_provider: True when a real phone would ring (not the sandbox).
        allowed_numbers: exact E.164 numbers and prefixes ending in ``*`` (``+1555*``).
        allowed_countries: ISO 3166-1 region codes (``US``, ``GB``).
    """

    real_provider: bool
    allowed_numbers: tuple[str, ...] = ()
    allowed_countries: tuple[str, ...] = ()

    @property
    def has_allowlist(self) -> bool:
        """True when the operator restricted the destinations."""
        return bool(self.allowed_numbers or self.allowed_countries)

    def check(self, to_number: object) -> str:
        """Apply the whole policy to one destination.

        Returns:
            The number, unchanged (E.164).
        Raises:
            InvalidInput: not E.164 (seed 002's text).
            PolicyViolation: not a valid number (real provider), a refused type, or not on the
                operator's allowlist; the message says which and why.
        """
        number = check_e164(to_number)
        if number in self.allowed_numbers:
            return number
        phonenumbers = _phonenumbers()
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException as exc:  # e.g. an unassigned country code
            if self.real_provider:
                raise PolicyViolation(
                    f"{number} is not a valid, assignable phone number (no country uses that code); check the country code."
                ) from exc
            return self._check_allowlist(number, None)
        national = phonenumbers.national_significant_number(parsed)
        # Every region of the country code, not only the one the number is valid in: an invalid
        # number has no region, "112…" still reaches emergency services in some countries, and a
        # valid number of one region can match another region's table (+1 919… is a Raleigh, US
        # number and an emergency prefix in BS and SX). The screen skips the sweep only when no
        # table of the country code can match, so the verdicts are the full sweep's.
        if _may_be_short_or_emergency(parsed.country_code, national):
            from phonenumbers import shortnumberinfo

            for candidate in phonenumbers.region_codes_for_country_code(parsed.country_code):
                if shortnumberinfo.connects_to_emergency_number(national, candidate):
                    raise PolicyViolation(f"{number} reaches an emergency number in {candidate}; caller-mcp never dials one.")
                if shortnumberinfo.is_valid_short_number_for_region(parsed, candidate):
                    raise PolicyViolation(f"{number} is a short code in {candidate}, not a line a test call can ring.")
        # One region lookup instead of three: ``number_type`` is UNKNOWN exactly when
        # ``is_valid_number`` is False (both look up the same region and metadata and test the
        # same patterns), and for +1 each lookup tests the number against the US patterns and
        # the leading digits of up to 25 regions.
        kind = phonenumbers.number_type(parsed)
        valid = kind != phonenumbers.PhoneNumberType.UNKNOWN
        if self.real_provider:
            if not valid:
                raise PolicyViolation(
                    f"{number} is not a valid, assignable phone number (no country assigns that range); "
                    "check the digits and the country code."
                )
            if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != number:
                raise PolicyViolation(f"{number} is not in canonical E.164 form; check the digits.")
        if valid:
            name = phonenumbers.PhoneNumberType.to_string(kind)
            if name in REFUSED_TYPES:
                raise PolicyViolation(f"{number} is {REFUSED_TYPES[name]}; caller-mcp does not dial it.")
        # The region only matters to a country allowlist: not looked up without one.
        region = phonenumbers.region_code_for_number(parsed) if self.allowed_countries else None
        return self._check_allowlist(number, region)

    def _check_allowlist(self, number: str, region: str | None) -> str:
        if self.has_allowlist and not self._allowed(number, region):
            raise PolicyViolation(
                f"{number} is not on the operator's allowlist (CALLER_MCP_ALLOWED_NUMBERS / "
                "CALLER_MCP_ALLOWED_COUNTRIES); ask the operator to add it. A tool argument cannot change it."
            )
        return number

    def _allowed(self, number: str, region: str | None) -> bool:
        for entry in self.allowed_numbers:
            if entry.endswith("*") and number.startswith(entry[:-1]):
                return True
        return region is not None and region in self.allowed_countries


@lru_cache(maxsize=1)
def _phonenumbers():
    """``phonenumbers``, imported on first use, with its compiled-pattern cache on.

    Imported here: phonenumbers' metadata is not needed to start the server or list tools.

    phonenumbers compiles its metadata patterns through ``re.compile``, whose cache holds 512
    patterns and evicts the oldest first. A batch across many regions needs more than that, so
    every pattern was compiled again on every number (milliseconds per number). Its documented
    ``enable_pattern_cache()`` keeps each compiled pattern instead: the same patterns, so the
    same verdicts, and a few MiB at most for all regions. Versions without it keep ``re``'s cache.
    """
    import phonenumbers

    enable = getattr(phonenumbers, "enable_pattern_cache", None)
    if enable is not None:
        enable()
    return phonenumbers


class _ShortNumberScreen(NamedTuple):
    """What any region of one country code could match in ``phonenumbers.shortnumberinfo``."""

    #: The distinct emergency patterns of the country code's regions.
    emergency: tuple[re.Pattern[str], ...]
    #: Every length a short code may have in some region; None when a region sets no length.
    short_lengths: frozenset[int] | None


@lru_cache(maxsize=None)  # one entry per country code: a few hundred at most
def _short_number_screen(country_code: int) -> _ShortNumberScreen:
    """Read the short-number metadata of every region of ``country_code`` once.

    The screen mirrors what ``shortnumberinfo`` itself requires (as read in phonenumbers 9.0.43):

    * ``connects_to_emergency_number(national, region)`` is False unless the region has short
      metadata with a non-empty ``emergency`` pattern that ``re.match``es ``national`` (a prefix
      match; BR, CL and NI further require the whole number to match);
    * ``is_valid_short_number_for_region(number, region)`` is False unless the region has short
      metadata and the length of ``national`` is one of ``general_desc.possible_length`` (when
      that list is empty, any length may pass on to the pattern).

    So when no pattern matches and the length is in no list, every call of the sweep answers
    False. tests/domain/test_policy_verdicts.py checks this against the full sweep.
    """
    phonenumbers = _phonenumbers()

    patterns: list[str] = []
    lengths: set[int] = set()
    any_length = False
    for region in phonenumbers.region_codes_for_country_code(country_code):
        metadata = phonenumbers.PhoneMetadata.short_metadata_for_region(region, None)
        if metadata is None:
            continue
        emergency = metadata.emergency
        if emergency is not None and emergency.national_number_pattern and emergency.national_number_pattern not in patterns:
            patterns.append(emergency.national_number_pattern)
        general = metadata.general_desc
        if general is None:
            continue
        if general.possible_length:
            lengths.update(general.possible_length)
        else:
            any_length = True
    return _ShortNumberScreen(
        emergency=tuple(re.compile(pattern) for pattern in patterns),
        short_lengths=None if any_length else frozenset(lengths),
    )


def _may_be_short_or_emergency(country_code: int, national: str) -> bool:
    """False only when no region of ``country_code`` can see ``national`` as emergency or short."""
    screen = _short_number_screen(country_code)
    if screen.short_lengths is None or len(national) in screen.short_lengths:
        return True
    return any(pattern.match(national) for pattern in screen.emergency)
