"""May this number be dialled? Every destination passes through here before any request is built.

Checks, in order:

1. Seed 002's E.164 pattern ``^\\+[1-9]\\d{7,14}$`` with seed 002's error text.
2. Against a real provider only (the guide's safety rules): ``phonenumbers`` must find a valid,
   assignable number whose E.164 re-format equals the input. The sandbox skips this check so the
   fictional ``+1555…`` numbers of the examples keep working.
"""

from __future__ import annotations

import re

from .errors import InvalidInput, PolicyViolation

#: Seed 002 "Phone Number Validation".
E164_PATTERN = re.compile(r"^\+[1-9]\d{7,14}$", re.ASCII)  # ASCII: \d must not match other scripts' digits
#: Seed 002's error text for a number that fails the pattern.
E164_ERROR = "Phone number must be in E.164 format, for example +15551234567."


def check_e164(to_number: object) -> str:
    """Return ``to_number`` when it matches seed 002's E.164 pattern exactly.

    No trimming or reformatting is done: the number dialled is the number given.

    Raises:
        InvalidInput: with seed 002's text, for anything else (including non-strings).
    """
    if not isinstance(to_number, str) or not E164_PATTERN.fullmatch(to_number):
        raise InvalidInput(E164_ERROR)
    return to_number


def check_dialable(to_number: str, *, real_provider: bool) -> str:
    """Apply the whole dial policy to one destination.

    Args:
        to_number: the destination as given by the caller.
        real_provider: True when a real phone would ring (not the sandbox).
    Returns:
        The number, unchanged (E.164).
    Raises:
        InvalidInput: the number is not E.164 (seed 002's text).
        PolicyViolation: a real provider is configured and the number is not a valid,
            assignable number, or its E.164 form differs from the input.
    """
    check_e164(to_number)
    if real_provider:
        # Imported here: phonenumbers' metadata is not needed to start the server or list tools.
        import phonenumbers

        try:
            parsed = phonenumbers.parse(to_number, None)
        except phonenumbers.NumberParseException as exc:
            raise PolicyViolation(f"{to_number} is not a phone number that can be dialled: {exc}.") from exc
        if not phonenumbers.is_valid_number(parsed):
            raise PolicyViolation(
                f"{to_number} is not a valid, assignable phone number (no country assigns that range); "
                "check the digits and the country code."
            )
        if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != to_number:
            raise PolicyViolation(f"{to_number} is not in canonical E.164 form; check the digits.")
    return to_number
