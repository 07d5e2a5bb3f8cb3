"""domain.calls: local record statuses → normalised call statuses, and when a report is final."""

from __future__ import annotations

import pytest

from caller_mcp.domain.calls import CALL_STATUSES, FINAL_STATUSES, RECORD_STATUSES, CallReport, record_status


@pytest.mark.parametrize("status", CALL_STATUSES)
def test_record_status_keeps_every_normalised_status(status):
    assert record_status(status) == status


@pytest.mark.parametrize(
    ("local", "expected"),
    [("dialling", "queued"), ("initiated", "queued"), ("failed", "failed"), ("outcome_unknown", "unknown")],
)
def test_record_status_maps_local_lifecycle_values(local, expected):
    assert record_status(local) == expected


def test_record_status_maps_every_record_status_to_a_call_status():
    assert {record_status(s) for s in RECORD_STATUSES} <= set(CALL_STATUSES)


@pytest.mark.parametrize("odd", ["", "submitting", "DONE", "completed"])
def test_record_status_treats_unrecognised_values_as_queued(odd):
    assert record_status(odd) == "queued"


@pytest.mark.parametrize("status", ["done", "failed", "unknown"])
def test_call_report_is_final_at_done_failed_and_unknown(status):
    assert CallReport(provider_ref="conv_1", status=status, provider_status=status).final


@pytest.mark.parametrize("status", ["queued", "ringing", "in_progress", "processing"])
def test_call_report_is_not_final_while_the_call_can_change(status):
    assert not CallReport(provider_ref="conv_1", status=status, provider_status=status).final


def test_final_statuses_are_the_last_three_call_statuses():
    assert FINAL_STATUSES == set(CALL_STATUSES[-3:])
