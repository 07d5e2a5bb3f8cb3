import pytest

from caller_mcp.errors import InvalidInput, PolicyViolation
from caller_mcp.policy import E164_ERROR, check_dialable, check_e164


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
    assert check_dialable("+15551234567", real_provider=False) == "+15551234567"


def test_real_provider_refuses_numbers_no_country_assigns():
    with pytest.raises(PolicyViolation, match="not a valid, assignable phone number"):
        check_dialable("+15551234567", real_provider=True)


def test_real_provider_accepts_a_valid_number():
    assert check_dialable("+14155552671", real_provider=True) == "+14155552671"


def test_real_provider_still_applies_seed_format_first():
    with pytest.raises(InvalidInput, match="E.164"):
        check_dialable("4155552671", real_provider=True)
