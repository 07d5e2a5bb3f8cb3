"""The per-call controls (language, voice, dynamic variables, ring time): checks and merging."""

from __future__ import annotations

import pytest

from caller_mcp.domain import overrides as o
from caller_mcp.domain.overrides import NO_OVERRIDES, CallOverrides
from caller_mcp.errors import InvalidInput


def test_language_is_lower_cased_and_a_region_is_kept():
    assert o.language("ES") == "es"
    assert o.language("pt-BR") == "pt-br"
    assert o.language(None) is None and o.language("  ") is None


@pytest.mark.parametrize("bad", ["sp", "spanish", "xx", "e", "es-", 7])
def test_language_outside_iso_639_1_is_refused_naming_the_field(bad):
    with pytest.raises(InvalidInput, match=r"^recipients\[2\]\.language must be an ISO 639-1"):
        o.language(bad, "recipients[2].language")


def test_a_usual_language_slip_names_the_code_meant():
    with pytest.raises(InvalidInput, match="did you mean 'es'"):
        o.language("sp")


@pytest.mark.parametrize("bad", ["has space", "x" * 65, "v/1", 12])
def test_voice_id_must_be_an_id(bad):
    with pytest.raises(InvalidInput, match="^voice_id must be a voice id"):
        o.voice_id(bad)


@pytest.mark.parametrize("bad", [4, 601, 30.5, True, "30"])
def test_ring_timeout_must_be_whole_seconds_in_range(bad):
    with pytest.raises(InvalidInput, match="^ring_timeout_secs must be whole seconds from 5 to 600"):
        o.ring_timeout(bad)


def test_ring_timeout_accepts_a_whole_float():
    assert o.ring_timeout(30.0) == 30 and isinstance(o.ring_timeout(30.0), int)


def test_dynamic_variables_are_sorted_pairs_of_scalars():
    assert o.dynamic_variables({"b": 1, "a": "x", "c": True, "d": 2.5}) == (("a", "x"), ("b", 1), ("c", True), ("d", 2.5))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"order id": 1}, r"dynamic_variables\.order id: a variable name must be"),
        ({"1st": 1}, r"dynamic_variables\.1st: a variable name"),
        ({"scenario": "x"}, r"dynamic_variables\.scenario is reserved"),
        ({"system__time": "x"}, r"dynamic_variables\.system__time is reserved"),
        ({"items": [1, 2]}, r"dynamic_variables\.items must be a string, a number or a boolean; got list"),
        ({"n": float("nan")}, r"dynamic_variables\.n must be a string"),
        ({"n": None}, r"dynamic_variables\.n must be a string"),
        ({"t": "x" * 1001}, r"dynamic_variables\.t is 1,001 characters long; the limit is 1,000"),
        ({"t": "a\x00b"}, r"dynamic_variables\.t contains the control"),
        ({f"v{i}": i for i in range(31)}, r"dynamic_variables has 31 entries; the limit is 30"),
        ({f"v{i}": "x" * 1000 for i in range(9)}, r"dynamic_variables holds 9,000 characters of text; the limit is 8,000"),
        ("a=1", r"dynamic_variables must be an object"),
    ],
)
def test_bad_dynamic_variables_are_refused_naming_the_variable(value, message):
    with pytest.raises(InvalidInput, match=message):
        o.dynamic_variables(value)


def test_no_control_gives_the_shared_empty_value():
    assert o.overrides() is NO_OVERRIDES
    assert NO_OVERRIDES.empty and NO_OVERRIDES.as_dict() == {} and NO_OVERRIDES.describe() == ""


def test_overrides_are_hashable_values_equal_when_their_controls_are():
    one = o.overrides(language_code="ES", variables={"b": 1, "a": 2})
    two = o.overrides(language_code="es", variables={"a": 2, "b": 1})
    assert one == two and hash(one) == hash(two) and len({one, two}) == 1


def test_errors_carry_the_prefix():
    with pytest.raises(InvalidInput, match=r"^recipients\[0\]\.ring_timeout_secs"):
        o.overrides(ring_timeout_secs=1, prefix="recipients[0].")


def test_a_recipients_controls_win_over_the_batch_default_and_variables_merge():
    default = CallOverrides(language="en", voice_id="v1", dynamic_variables=(("a", 1), ("b", 2)), ring_timeout_secs=20)
    own = CallOverrides(language="es", dynamic_variables=(("b", 3),))
    merged = own.over(default)
    assert merged == CallOverrides(language="es", voice_id="v1", dynamic_variables=(("a", 1), ("b", 3)), ring_timeout_secs=20)
    assert merged.as_dict() == {"language": "es", "voice_id": "v1", "dynamic_variables": {"a": 1, "b": 3}, "ring_timeout_secs": 20}
    assert merged.describe() == "language es, voice v1, variables a, b, rings 20 s"
    assert NO_OVERRIDES.over(NO_OVERRIDES) == NO_OVERRIDES
