"""The dial policy gives exactly the verdicts, word for word, of its version before issue 10.

That version tested every number against the emergency and short-code tables of every region of
its country code (25 regions for +1): about 170 µs a number. Making it faster must not change a
verdict. Testing the number's own region only would: +1 919… (Raleigh, US) matches the emergency
prefix of BS and SX, +358 18 112 (AX) is a short code in FI, and a refusal names the first region of
the country code whose table matches, not the number's own.

``_old_check`` is that version (commit 6f530ae), comments aside: the reference. The sample is
deterministic: the example numbers of every type of every region of 21 country codes, the
short-number metadata's examples, emergency prefixes, seeded mutations of all of them, random
NANP numbers, national prefixes left in, and country codes no country uses.
"""

from __future__ import annotations

import functools
import random
from collections import Counter

import phonenumbers
import pytest
from phonenumbers import shortnumberinfo

from caller_mcp.errors import InvalidInput, PolicyViolation
from caller_mcp.domain.policy import REFUSED_TYPES, DialPolicy, _may_be_short_or_emergency, check_e164

# -- the reference: DialPolicy.check before issue 10, unchanged ------------------------------------


def _old_check(policy: DialPolicy, to_number: object) -> str:
    number = check_e164(to_number)
    if number in policy.allowed_numbers:
        return number
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        if policy.real_provider:
            raise PolicyViolation(
                f"{number} is not a valid, assignable phone number (no country uses that code); check the country code."
            ) from exc
        return _old_check_allowlist(policy, number, None)
    region = phonenumbers.region_code_for_number(parsed)
    national = phonenumbers.national_significant_number(parsed)
    for candidate in phonenumbers.region_codes_for_country_code(parsed.country_code):
        if shortnumberinfo.connects_to_emergency_number(national, candidate):
            raise PolicyViolation(f"{number} reaches an emergency number in {candidate}; caller-mcp never dials one.")
        if shortnumberinfo.is_valid_short_number_for_region(parsed, candidate):
            raise PolicyViolation(f"{number} is a short code in {candidate}, not a line a test call can ring.")
    valid = phonenumbers.is_valid_number(parsed)
    if policy.real_provider:
        if not valid:
            raise PolicyViolation(
                f"{number} is not a valid, assignable phone number (no country assigns that range); "
                "check the digits and the country code."
            )
        if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != number:
            raise PolicyViolation(f"{number} is not in canonical E.164 form; check the digits.")
    if valid:
        kind = phonenumbers.PhoneNumberType.to_string(phonenumbers.number_type(parsed))
        if kind in REFUSED_TYPES:
            raise PolicyViolation(f"{number} is {REFUSED_TYPES[kind]}; caller-mcp does not dial it.")
    return _old_check_allowlist(policy, number, region)


def _old_check_allowlist(policy: DialPolicy, number: str, region: str | None) -> str:
    if policy.has_allowlist and not _old_allowed(policy, number, region):
        raise PolicyViolation(
            f"{number} is not on the operator's allowlist (CALLER_MCP_ALLOWED_NUMBERS / "
            "CALLER_MCP_ALLOWED_COUNTRIES); ask the operator to add it. A tool argument cannot change it."
        )
    return number


def _old_allowed(policy: DialPolicy, number: str, region: str | None) -> bool:
    for entry in policy.allowed_numbers:
        if entry.endswith("*") and number.startswith(entry[:-1]):
            return True
    return region is not None and region in policy.allowed_countries


# -- the sample ------------------------------------------------------------------------------------

#: The issue's twelve, every country code shared by several regions, and two non-geographic ones.
COUNTRY_CODES = (1, 7, 33, 34, 39, 44, 47, 49, 55, 61, 81, 86, 91, 212, 262, 290, 358, 590, 599, 800, 882)
#: Emergency numbers of these countries and of their neighbours' tables (919 is BS's and SX's).
EMERGENCY_PREFIXES = ("000", "01", "02", "03", "100", "101", "102", "103", "110", "112", "113", "118", "119",
                      "15", "17", "18", "190", "192", "193", "211", "333", "911", "919", "990", "999")
#: Country codes no country uses (parse fails), and national prefixes left in (not canonical).
UNKNOWN_OR_ODD = ("+2801234567", "+28012345678", "+42012345678", "+8011234567", "+96912345678", "+99912345678",
                  "+999123456789", "+4407911123456", "+4902111234567", "+33012345678", "+610412345678")
ALL_TYPES = tuple(getattr(phonenumbers.PhoneNumberType, name) for name in (
    "FIXED_LINE", "MOBILE", "TOLL_FREE", "PREMIUM_RATE", "SHARED_COST", "VOIP", "PERSONAL_NUMBER",
    "PAGER", "UAN", "VOICEMAIL"))
#: The example numbers of the short-number metadata (``shortnumberinfo`` has no public accessor).
SHORT_DESCS = ("short_code", "emergency", "toll_free", "standard_rate", "premium_rate", "carrier_specific",
               "sms_services")
DIGITS = "0123456789"


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _mutations(rng: random.Random, number: str, cc: str) -> list[str]:
    """Seeded neighbours of ``number``: new last digits, one digit fewer or more, new leading digits."""
    national = number[1 + len(cc):]
    out = []
    for k in (1, 2, 3, 4):
        out.append(number[:-k] + "".join(rng.choice(DIGITS) for _ in range(k)))
    out.append(number[:-1])
    out.append(number + rng.choice(DIGITS))
    for k in (1, 2, 3):
        out.append(f"+{cc}" + "".join(rng.choice(DIGITS) for _ in range(k)) + national[k:])
    return out


def _padded(rng: random.Random, cc: str, national: str) -> list[str]:
    """``+cc national`` as is, and padded with random digits to a random E.164 length."""
    head = f"+{cc}{national}"
    total = rng.randint(max(len(head), 9), 16)
    return [head, head + "".join(rng.choice(DIGITS) for _ in range(total - len(head)))]


def _sample_numbers() -> list[str]:
    rng = random.Random(20260710)
    numbers: set[str] = set(UNKNOWN_OR_ODD)
    for code in COUNTRY_CODES:
        cc = str(code)
        regions = phonenumbers.region_codes_for_country_code(code)
        examples = []
        for region in regions:
            if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
                example = phonenumbers.example_number_for_non_geo_entity(code)
                examples += [example] if example else []
                continue
            examples += [e for t in ALL_TYPES if (e := phonenumbers.example_number_for_type(region, t))]
            examples += [e for e in (phonenumbers.invalid_example_number(region),) if e]
            short_metadata = phonenumbers.PhoneMetadata.short_metadata_for_region(region, None)
            for desc in SHORT_DESCS if short_metadata else ():
                if (example := getattr(getattr(short_metadata, desc), "example_number", None)) is not None:
                    numbers.update(_padded(rng, cc, example))
        for example in examples:
            number = _e164(example)
            numbers.add(number)
            numbers.update(_mutations(rng, number, cc))
        for prefix in EMERGENCY_PREFIXES:
            numbers.update(_padded(rng, cc, prefix))
        for _ in range(40):  # any digits at all, at any length E.164 allows
            numbers.add(f"+{cc}" + "".join(rng.choice(DIGITS) for _ in range(rng.randint(8 - len(cc), 15 - len(cc)))))
    for _ in range(1500):  # NANP: every area code, Caribbean ones and 919 included
        numbers.add(f"+1{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}")
    return sorted(numbers)


SAMPLE = _sample_numbers()
#: Exact numbers pass at once, even refused ones; prefixes and regions are the operator's too.
ALLOWLIST = {
    "allowed_numbers": ("+19110000000", "+448712345678", "+19195551234", SAMPLE[0], SAMPLE[len(SAMPLE) // 2],
                        "+1415*", "+4420*", "+8*"),
    "allowed_countries": ("US", "GG", "BS", "DE", "JP", "VA", "KZ", "001"),
}
POLICIES = {
    "real": DialPolicy(real_provider=True),
    "sandbox": DialPolicy(real_provider=False),
    "real+allowlist": DialPolicy(real_provider=True, **ALLOWLIST),
    "sandbox+allowlist": DialPolicy(real_provider=False, **ALLOWLIST),
    "real+countries": DialPolicy(real_provider=True, allowed_countries=("CA", "GB", "IT", "RU", "AX")),
    "sandbox+prefixes": DialPolicy(real_provider=False, allowed_numbers=("+1*", "+44*")),
}


def _verdict(check, number: str) -> str:
    """``accept`` or the exception and its exact text; any other exception fails the test."""
    try:
        assert check(number) == number
        return "accept"
    except (InvalidInput, PolicyViolation) as exc:
        return f"{type(exc).__name__}: {exc}"


# -- tests -----------------------------------------------------------------------------------------


#: Every verdict the policy can give, as a word of its text; the sample must hold each.
VERDICT_KINDS = ("accept", "InvalidInput", "premium-rate", "shared-cost", "universal access", "personal number",
                 "pager", "emergency number", "short code", "no country assigns", "no country uses",
                 "canonical E.164", "allowlist")


@functools.cache
def _old_verdicts(name: str) -> tuple[str, ...]:
    policy = POLICIES[name]
    return tuple(_verdict(lambda n: _old_check(policy, n), number) for number in SAMPLE)


def test_sample_covers_every_verdict_and_enough_numbers_and_country_codes():
    kinds = Counter(
        next(kind for kind in VERDICT_KINDS if kind in verdict)
        for name in ("real", "sandbox", "real+allowlist")
        for verdict in _old_verdicts(name)
    )
    codes = {phonenumbers.parse(n).country_code for n in SAMPLE if _parses(n)}
    assert len(SAMPLE) >= 5_000
    assert len(codes & set(COUNTRY_CODES)) >= 10
    assert set(kinds) == set(VERDICT_KINDS) and min(kinds.values()) >= 3, kinds


def test_sample_holds_valid_numbers_refused_through_another_regions_table():
    """The trap a sweep of the number's own region only would fall into is in the sample."""
    crossed = []
    for number, verdict in zip(SAMPLE, _old_verdicts("real"), strict=True):
        if " in " in verdict and ("emergency number" in verdict or "short code" in verdict):
            own = phonenumbers.region_code_for_number(phonenumbers.parse(number))
            named = verdict.split(" in ")[1].split(";")[0].split(",")[0]
            if own is not None and named != own:
                crossed.append((number, own, named))
    assert any(own == "US" and named in {"BS", "SX"} for _, own, named in crossed), crossed[:5]


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_fast_policy_gives_the_old_verdict_for_every_sampled_number(name):
    policy = POLICIES[name]
    differences = [
        (number, old, new)
        for number, old in zip(SAMPLE, _old_verdicts(name), strict=True)
        if old != (new := _verdict(policy.check, number))
    ]
    assert differences == [], f"{len(differences)} of {len(SAMPLE)} differ, e.g. {differences[:3]}"


def test_screen_lets_through_every_number_some_region_sees_as_emergency_or_short():
    """Where the screen says no, every region's emergency and short-code test says no too."""
    missed = []
    for number in SAMPLE:
        if not _parses(number):
            continue
        parsed = phonenumbers.parse(number)
        national = phonenumbers.national_significant_number(parsed)
        flagged = [
            region for region in phonenumbers.region_codes_for_country_code(parsed.country_code)
            if shortnumberinfo.connects_to_emergency_number(national, region)
            or shortnumberinfo.is_valid_short_number_for_region(parsed, region)
        ]
        if flagged and not _may_be_short_or_emergency(parsed.country_code, national):
            missed.append((number, flagged))
    assert missed == []


def test_number_type_is_unknown_exactly_for_invalid_numbers():
    """The policy reads validity off ``number_type``: the two agree on every sampled number.

    ``is_valid_number`` adds one test to ``number_type``'s: the region found for the number
    belongs to its country code. It always does, as every region is listed under its own code.
    """
    disagree = [
        n for n in SAMPLE if _parses(n)
        and phonenumbers.is_valid_number(p := phonenumbers.parse(n))
        != (phonenumbers.number_type(p) != phonenumbers.PhoneNumberType.UNKNOWN)
    ]
    assert disagree == []
    misfiled = [
        (code, region) for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items() for region in regions
        if region != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY
        and phonenumbers.country_code_for_valid_region(region) != code
    ]
    assert misfiled == []


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("+19195551234", "+19195551234 reaches an emergency number in BS; caller-mcp never dials one."),
        ("+19110000000", "+19110000000 reaches an emergency number in US; caller-mcp never dials one."),
        ("+44999123456", "+44999123456 reaches an emergency number in GB; caller-mcp never dials one."),
        ("+49112345678", "+49112345678 reaches an emergency number in DE; caller-mcp never dials one."),
        ("+33112345678", "+33112345678 reaches an emergency number in FR; caller-mcp never dials one."),
    ],
)
def test_valid_or_not_a_number_matching_any_regions_emergency_prefix_is_refused_naming_it(number, message):
    with pytest.raises(PolicyViolation) as info:
        DialPolicy(real_provider=True).check(number)
    assert str(info.value) == message


def _parses(number: str) -> bool:
    try:
        phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return False
    return True
