"""domain.caps: the batch-size and hourly caps, and when the next dial is allowed."""

from __future__ import annotations

import pytest

from caller_mcp.domain.caps import CAP_WINDOW_SECS, Caps, iso
from caller_mcp.errors import CapExceeded

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def test_iso_renders_unix_seconds_in_utc_to_the_second():
    assert iso(NOW + 0.9) == "2027-01-15T08:00:00+00:00"


def test_check_size_refuses_a_batch_over_the_batch_size_cap_with_thousands_separators():
    with pytest.raises(CapExceeded) as caught:
        Caps(batch_size=1_000).check_size(1_001, batch=True)
    assert str(caught.value) == "1,001 recipients exceed CALLER_MCP_MAX_BATCH_SIZE=1,000; split the batch."
    assert caught.value.retry_at is None


def test_check_size_accepts_a_batch_at_the_batch_size_cap():
    Caps(batch_size=10, per_hour=10).check_size(10, batch=True)


def test_check_size_ignores_the_batch_size_cap_for_a_single_call():
    Caps(batch_size=0).check_size(1, batch=False)


def test_check_size_refuses_more_dials_than_the_hourly_cap_on_their_own():
    with pytest.raises(CapExceeded) as caught:
        Caps(per_hour=1_000).check_size(1_500, batch=True)
    assert str(caught.value) == (
        "1,500 calls exceed CALLER_MCP_MAX_CALLS_PER_HOUR=1,000 on their own; submit fewer at a time."
    )
    assert caught.value.retry_at is None


def test_check_size_names_the_batch_cap_first_when_both_are_exceeded():
    with pytest.raises(CapExceeded, match="CALLER_MCP_MAX_BATCH_SIZE=5"):
        Caps(per_hour=5, batch_size=5).check_size(6, batch=True)


def test_check_size_without_caps_accepts_anything():
    Caps().check_size(10**6, batch=True)


def test_check_hourly_without_a_cap_accepts_anything():
    Caps().check_hourly([(NOW - 10, 10**6)], 10**6, NOW, batch=True)


def test_check_hourly_accepts_dials_that_reach_the_cap_exactly():
    Caps(per_hour=3).check_hourly([(NOW - 100, 1), (NOW - 50, 1)], 1, NOW, batch=False)


def test_check_hourly_allows_the_next_call_when_the_oldest_dial_leaves_the_window():
    recent = [(NOW - 3000, 1), (NOW - 2000, 1), (NOW - 1000, 1)]
    with pytest.raises(CapExceeded) as caught:
        Caps(per_hour=3).check_hourly(recent, 1, NOW, batch=False)
    assert caught.value.retry_at == NOW - 3000 + CAP_WINDOW_SECS
    assert str(caught.value) == (
        "Hourly call cap reached: 3 calls in the last hour and CALLER_MCP_MAX_CALLS_PER_HOUR=3. "
        f"The next call is allowed at {iso(NOW + 600)} (in 600 s)."
    )


def test_check_hourly_releases_oldest_first_until_a_batch_fits():
    # 2 + 3 + 4 used of 10; a batch of 5 needs 4 freed: the 2 and the 3 (at NOW - 2500) must leave.
    recent = [(NOW - 3500, 2), (NOW - 2500, 3), (NOW - 100, 4)]
    with pytest.raises(CapExceeded) as caught:
        Caps(per_hour=10).check_hourly(recent, 5, NOW, batch=True)
    assert caught.value.retry_at == NOW - 2500 + CAP_WINDOW_SECS
    assert str(caught.value) == (
        "Hourly call cap reached: 9 calls in the last hour and CALLER_MCP_MAX_CALLS_PER_HOUR=10. "
        f"The next batch of 5 calls is allowed at {iso(NOW + 1100)} (in 1,100 s)."
    )


def test_check_hourly_rounds_the_wait_up_and_never_says_zero_seconds():
    recent = [(NOW - CAP_WINDOW_SECS + 0.2, 1)]
    with pytest.raises(CapExceeded) as caught:
        Caps(per_hour=1).check_hourly(recent, 1, NOW, batch=False)
    assert caught.value.retry_at == pytest.approx(NOW + 0.2)
    assert str(caught.value).endswith("(in 1 s).")


def test_check_hourly_rounds_a_fractional_wait_up_to_the_next_second():
    recent = [(NOW - 1000.5, 1)]
    with pytest.raises(CapExceeded) as caught:
        Caps(per_hour=1).check_hourly(recent, 1, NOW, batch=False)
    assert str(caught.value).endswith("(in 2,600 s).")
