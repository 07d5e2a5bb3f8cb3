import pytest

from caller_mcp.errors import InvalidInput, PolicyViolation
from caller_mcp.domain.policy import E164_ERROR, DialPolicy, check_e164


@pytest.mark.parametrize("number", ["+15551234567", "+442071234567", "+81312345678", "+12345678", "+123456789012345"])
def test_seed_valid_examples_pass_e164(number):
    assert check_e164(number) == number


@pytest.mark.parametrize(
    "number",
    ["5551234567", "+0551234567", "+1555", "+155512345678901234", "+1 555 123 4567", "+1-555-123-4567",
     " +15551234567", "+15551234567\n", "", "+", "+１５５５１２３４５６７", "+1５５５1234567", "+1555123456٧", None, 15551234567],
)
def test_seed_invalid_examples_fail_with_seed_text(number):
    with pytest.raises(InvalidInput) as info:
        check_e164(number)
    assert str(info.value) == E164_ERROR == "Phone number must be in E.164 format, for example +15551234567."


def test_sandbox_accepts_fictional_555_numbers():
    assert DialPolicy(real_provider=False).check("+15551234567") == "+15551234567"


def test_real_provider_refuses_numbers_no_country_assigns():
    with pytest.raises(PolicyViolation, match="not a valid, assignable phone number"):
        DialPolicy(real_provider=True).check("+15551234567")


def test_real_provider_accepts_a_valid_number():
    assert DialPolicy(real_provider=True).check("+14155552671") == "+14155552671"


def test_real_provider_still_applies_seed_format_first():
    with pytest.raises(InvalidInput, match="E.164"):
        DialPolicy(real_provider=True).check("4155552671")



@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("+19005551234", "premium-rate"),
        ("+448712345678", "premium-rate"),
        ("+33899123456", "premium-rate"),
        ("+447012345678", "personal number"),
        ("+447640123456", "pager"),
        ("+33810123456", "shared-cost"),
        ("+443001234567", "universal access"),
        ("+4411200000", "emergency"),
        ("+19110000000", "emergency"),
        ("+44118118", "short code"),
    ],
)
@pytest.mark.parametrize("real", [True, False])
def test_refused_number_types_say_why_in_sandbox_and_real_mode(number, reason, real):
    with pytest.raises(PolicyViolation, match=reason):
        DialPolicy(real_provider=real).check(number)


def test_exact_allowlisted_number_passes_even_where_phonenumbers_does_not_know_it():
    policy = DialPolicy(real_provider=True, allowed_numbers=("+15551234567",))
    assert policy.check("+15551234567") == "+15551234567"
    with pytest.raises(PolicyViolation, match="not a valid"):
        policy.check("+15551234568")


def test_prefix_allowlist_admits_matching_valid_numbers_only():
    policy = DialPolicy(real_provider=True, allowed_numbers=("+1415*",))
    assert policy.check("+14155552671")
    with pytest.raises(PolicyViolation, match="allowlist"):
        policy.check("+12025550123")


def test_country_allowlist_uses_the_numbers_region():
    policy = DialPolicy(real_provider=True, allowed_countries=("GB",))
    assert policy.check("+442071234567")
    with pytest.raises(PolicyViolation, match="CALLER_MCP_ALLOWED_COUNTRIES"):
        policy.check("+14155552671")


def test_sandbox_allowlist_still_applies_to_fictional_numbers():
    policy = DialPolicy(real_provider=False, allowed_numbers=("+1555123*",))
    assert policy.check("+15551234567")
    with pytest.raises(PolicyViolation, match="allowlist"):
        policy.check("+15559990000")


def test_real_provider_refuses_non_canonical_national_forms():
    # Leading national zero kept after the country code: valid pattern, not canonical E.164.
    with pytest.raises(PolicyViolation):
        DialPolicy(real_provider=True).check("+4402071234567")
