"""domain.batches: recipient status → call status, counts per status, and batch progress."""

from __future__ import annotations

import pytest

from caller_mcp.domain.batches import RECIPIENT_STATUSES, RecipientReport, progress, recipient_call_status, status_counts
from caller_mcp.domain.calls import CALL_STATUSES


@pytest.mark.parametrize(
    ("recipient", "call"),
    [
        ("pending", "queued"),
        ("dispatched", "queued"),
        ("initiated", "ringing"),
        ("in_progress", "in_progress"),
        ("completed", "done"),
        ("voicemail", "done"),
        ("failed", "failed"),
        ("cancelled", "failed"),
    ],
)
def test_recipient_call_status_maps_each_recipient_status(recipient, call):
    assert recipient_call_status(recipient) == call


def test_recipient_call_status_maps_every_recipient_status_to_a_call_status():
    assert {recipient_call_status(s) for s in RECIPIENT_STATUSES} <= set(CALL_STATUSES)


@pytest.mark.parametrize("odd", ["", "ringing", "COMPLETED", "scheduled"])
def test_recipient_call_status_treats_unknown_statuses_as_processing(odd):
    assert recipient_call_status(odd) == "processing"


def _recipients(*statuses: str) -> list[RecipientReport]:
    return [RecipientReport(status=s) for s in statuses]


def test_status_counts_follow_recipient_status_order_not_arrival_order():
    counts = status_counts(_recipients("voicemail", "failed", "completed", "pending", "failed", "dispatched"))
    assert list(counts.items()) == [("pending", 1), ("dispatched", 1), ("completed", 1), ("failed", 2), ("voicemail", 1)]


def test_status_counts_leave_out_statuses_with_no_recipient():
    assert status_counts(_recipients("completed", "completed")) == {"completed": 2}


def test_status_counts_put_unknown_statuses_after_known_ones():
    counts = status_counts(_recipients("mystery", "cancelled", "pending"))
    assert list(counts) == ["pending", "cancelled", "mystery"]


def test_status_counts_of_no_recipients_are_empty():
    assert status_counts(()) == {}


def test_progress_counts_only_finished_statuses():
    counts = {"pending": 1, "dispatched": 1, "initiated": 1, "in_progress": 1, "completed": 1, "failed": 1, "voicemail": 1, "cancelled": 1}
    assert progress(counts, 8) == 0.5


def test_progress_rounds_to_three_places():
    assert progress({"completed": 1}, 3) == 0.333
    assert progress({"completed": 2}, 3) == 0.667


def test_progress_is_zero_when_nothing_is_scheduled():
    assert progress({"completed": 4}, 0) == 0.0


def test_progress_never_exceeds_one():
    assert progress({"completed": 5, "failed": 2}, 4) == 1.0


def test_progress_is_zero_before_any_recipient_finishes():
    assert progress({"pending": 3, "in_progress": 2}, 5) == 0.0
