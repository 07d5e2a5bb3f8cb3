"""domain.inputs: tool arguments checked before any work, with messages that say what to send."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from caller_mcp.domain import inputs
from caller_mcp.domain.batches import RECIPIENT_STATUSES
from caller_mcp.errors import InvalidInput

# -- text -------------------------------------------------------------------------------------


def test_text_trims_and_returns_none_for_blank():
    assert inputs.text("  hello  ", "scenario", 20) == "hello"
    assert inputs.text("   \n\t ", "scenario", 20) is None
    assert inputs.text(None, "scenario", 20) is None


def test_text_accepts_exactly_the_limit():
    assert inputs.text("a" * 10, "call_name", 10) == "a" * 10


def test_text_refuses_one_character_over_the_limit_with_both_lengths():
    with pytest.raises(InvalidInput) as caught:
        inputs.text("a" * 20_001, "description", 20_000)
    assert str(caught.value) == "description is 20,001 characters long; the limit is 20,000."


def test_text_refuses_a_non_string():
    with pytest.raises(InvalidInput, match="^scenario must be a string.$"):
        inputs.text(42, "scenario", 10)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "code", "position"),
    [("ab\x00cd", "0000", 2), ("\x7fx", "007F", 0), ("ok \ud800", "D800", 3), ("x\x1b[31m", "001B", 1), ("\x85", "0085", 0)],
)
def test_text_refuses_control_characters_and_lone_surrogates_naming_code_and_position(value, code, position):
    with pytest.raises(InvalidInput) as caught:
        inputs.text(value, "scenario", 100)
    assert str(caught.value) == (
        f"scenario contains the control or invalid character U+{code} at position {position}; "
        "remove it (line breaks and tabs are fine)."
    )


def test_text_accepts_tabs_line_breaks_and_non_ascii_letters():
    assert inputs.text("Línea 1\n\tpizza 🍕\r\nfin", "description", 100) == "Línea 1\n\tpizza 🍕\r\nfin"


def test_text_checks_the_limit_before_the_characters():
    with pytest.raises(InvalidInput, match="characters long"):
        inputs.text("\x00" * 11, "scenario", 10)


# -- identifier -------------------------------------------------------------------------------


def test_identifier_trims_and_accepts_letters_digits_underscore_and_dash():
    assert inputs.identifier("  btcal_AB-12  ", "batch_id", "a batch id") == "btcal_AB-12"


def test_identifier_accepts_128_characters():
    assert inputs.identifier("a" * 128, "call_id", "a call id") == "a" * 128


@pytest.mark.parametrize("bad", ["", "a" * 129, "../etc", "conv 1", "a/b", "a?b=c", "ü", None, 12])
def test_identifier_refuses_anything_that_could_change_a_url(bad):
    with pytest.raises(InvalidInput) as caught:
        inputs.identifier(bad, "batch_id", "the id submit_batch returned")
    message = str(caught.value)
    assert message.startswith("batch_id must be the id submit_batch returned (letters, digits, '_' and '-'); got ")
    assert message.endswith(".")


def test_identifier_message_shows_a_long_value_cut():
    with pytest.raises(InvalidInput) as caught:
        inputs.identifier("x/" * 100, "call_id", "a call id")
    assert "…" in str(caught.value) and len(str(caught.value)) < 160


# -- wait_seconds -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(0, 0.0), (12, 12.0), (2.5, 2.5), (inputs.MAX_WAIT_SECS, 50.0)])
def test_wait_seconds_accepts_numbers_from_zero_to_the_maximum_as_float(value, expected):
    result = inputs.wait_seconds(value)
    assert result == expected and isinstance(result, float)


@pytest.mark.parametrize("bad", [-0.1, 50.01, 60, True, False, "10", None, float("nan")])
def test_wait_seconds_refuses_out_of_range_booleans_and_non_numbers(bad):
    with pytest.raises(InvalidInput) as caught:
        inputs.wait_seconds(bad)
    assert str(caught.value) == (
        "wait_seconds must be between 0 and 50 (MCP clients give up on a tool call at about 60 s); "
        "call get_call again to keep waiting."
    )


# -- since ------------------------------------------------------------------------------------

TS = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("value", [TS, int(TS), str(int(TS)), f"{TS:.1f}"])
def test_since_accepts_unix_seconds_as_number_or_text(value):
    assert inputs.since(value) == TS


def test_since_of_none_is_no_filter():
    assert inputs.since(None) is None


@pytest.mark.parametrize(
    "value", ["2026-11-21T09:00:00Z", " 2026-11-21T09:00:00Z ", "2026-11-21T10:00:00+01:00", "2026-11-21T09:00:00+00:00"]
)
def test_since_accepts_iso_8601_with_z_or_an_offset(value):
    assert inputs.since(value) == TS


@pytest.fixture
def new_york_local_time(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_since_reads_a_naive_iso_time_as_utc_whatever_the_local_zone(new_york_local_time):
    assert inputs.since("2026-11-21T09:00:00") == TS
    assert inputs.since("2026-11-21") == TS - 9 * 3600


@pytest.mark.parametrize("bad", ["yesterday", "", "2026-13-01", "21/11/2026"])
def test_since_refuses_garbage_with_an_example(bad):
    with pytest.raises(InvalidInput) as caught:
        inputs.since(bad)
    assert str(caught.value) == (
        f"since must be Unix seconds or ISO 8601 like 2026-11-21T09:00:00Z; got {bad!r}."
    )


# -- recipient_statuses -----------------------------------------------------------------------


def test_recipient_statuses_splits_trims_and_lowercases():
    assert inputs.recipient_statuses(" Failed , voicemail,,") == {"failed", "voicemail"}


@pytest.mark.parametrize("empty", [None, "", "  ", ",, ,"])
def test_recipient_statuses_without_a_status_is_no_filter(empty):
    assert inputs.recipient_statuses(empty) is None


def test_recipient_statuses_accepts_every_recipient_status():
    assert inputs.recipient_statuses(",".join(RECIPIENT_STATUSES)) == set(RECIPIENT_STATUSES)


def test_recipient_statuses_refuses_unknown_ones_listing_the_valid_statuses():
    with pytest.raises(InvalidInput) as caught:
        inputs.recipient_statuses("failed,done,ringing")
    assert str(caught.value) == (
        "Unknown recipient status done, ringing; use one or more of "
        "pending, dispatched, initiated, in_progress, completed, failed, cancelled, voicemail (comma-separated)."
    )


def test_recipient_statuses_refuses_control_characters():
    with pytest.raises(InvalidInput, match="U\\+0000"):
        inputs.recipient_statuses("failed\x00")


# -- description, scenario, clip, shown -------------------------------------------------------


def test_scenario_is_normalised_like_seed_002():
    assert inputs.scenario("  order a\n pizza!! ") == "order a pizza"
    assert inputs.scenario("...") is None


def test_description_keeps_inner_line_breaks_and_refuses_oversize():
    assert inputs.description("  Pizza\nPalace  ", "description") == "Pizza\nPalace"
    with pytest.raises(InvalidInput, match="^business_description is 20,001 characters long"):
        inputs.description("a" * 20_001, "business_description")


def test_clip_cuts_to_the_limit_with_an_ellipsis():
    assert inputs.clip("abcdef", 6) == "abcdef"
    assert inputs.clip("abcdefg", 6) == "abcde…"


def test_shown_quotes_values_and_names_a_recipient_by_its_number():
    assert inputs.shown("+1555") == "'+1555'"
    assert inputs.shown({"phone_number": "+15550100", "scenario": "x"}) == "'+15550100'"
    assert len(inputs.shown("x" * 500)) == 58
