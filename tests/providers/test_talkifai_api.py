"""TalkifAI's published API beyond the seed (``openapi.json``) against ``httpx.MockTransport``:
reading a call and its transcript by callId, and batch calling (create, read with paged contacts,
cancel, list). Each test asserts the method, path, query, Bearer header and body, and each error
answer in both documented body shapes (``{detail}`` and ``{success: false, error, code}``)."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from caller_mcp.domain.batches import BatchRecipientRequest, BatchRequest
from caller_mcp.domain.script import build_script
from caller_mcp.errors import ConfigError, InvalidInput, OutcomeUnknown, ProviderStatusError
from caller_mcp.providers.talkifai import TalkifaiConfig, TalkifaiProvider
from caller_mcp.providers.talkifai.mapping import call_report
from tests.fakes import PIZZA, FakeApi, FakeSleep, raises

pytestmark = pytest.mark.anyio

KEY = "tk_live_SECRET_456"
BASE = "https://api.talkifai.dev"
FROM = "+12025550100"
PHONE_ID = "phone_ghi789"
ORG = "org_abc123"
SCRIPT = build_script(PIZZA, "order a large pepperoni pizza")
SESSION = {
    "callId": "call_abc123",
    "sessionId": "sess_xyz789",
    "agentId": "agent_def456",
    "direction": "outbound",
    "to": "+12025550123",
    "from": FROM,
    "duration": 245,
    "status": "completed",
    "startTime": "2024-01-15T10:30:00Z",
    "endTime": "2024-01-15T10:34:05Z",
    "recordingUrl": "https://storage.talkifai.dev/recordings/call_abc123.mp3",
    "metadata": {},
}
TRANSCRIPT = {
    "success": True,
    "data": {
        "callId": "call_abc123",
        "transcript": [
            {"speaker": "user", "text": "Pizza Palace, how can I help?", "timestamp": 0},
            {"speaker": "agent", "text": "I'd like a large pepperoni.", "timestamp": 2.5},
        ],
    },
}


def config(**overrides) -> TalkifaiConfig:
    values = {"from_phone_number_id": PHONE_ID, "organization_id": ORG, **overrides}
    return TalkifaiConfig(api_base=BASE, api_key=SecretStr(KEY), from_number=FROM, **values)


@asynccontextmanager
async def open_talkifai(api: FakeApi, **overrides):
    client = httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(api))
    provider = TalkifaiProvider(config(**overrides), client, sleep=FakeSleep(), random=lambda: 0.5)
    try:
        yield provider
    finally:
        await provider.aclose()


def assert_bearer(request: httpx.Request) -> None:
    assert request.url.scheme == "https" and request.url.host == "api.talkifai.dev"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert "x-api-key" not in request.headers and KEY not in str(request.url)


def query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query.decode())


def detail_body(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"detail": message})


def envelope_body(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"success": False, "error": message, "code": f"E{status}"})


SHAPES = pytest.mark.parametrize("shape", [detail_body, envelope_body], ids=["detail", "envelope"])


def batch(count: int = 2, scheduled: int | None = None) -> BatchRequest:
    recipients = tuple(BatchRecipientRequest(phone_number=f"+1202555{1000 + i}", script=SCRIPT) for i in range(count))
    return BatchRequest(name="January checks", recipients=recipients, scheduled_time_unix=scheduled)


# -- reading a call --------------------------------------------------------------------------------


async def test_get_call_reads_the_session_then_its_transcript_by_call_id():
    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/transcript"):
            return httpx.Response(200, json=TRANSCRIPT)
        return httpx.Response(200, json={"success": True, "data": SESSION})

    api = FakeApi(respond)
    async with open_talkifai(api) as provider:
        report = await provider.get_call("call_abc123")
    assert [(r.method, r.url.path, r.content) for r in api.requests] == [
        ("GET", "/calls/call_abc123", b""),
        ("GET", "/calls/call_abc123/transcript", b""),
    ]
    for request in api.requests:
        assert_bearer(request)
    assert report.provider_ref == "call_abc123" and report.status == "done" and report.provider_status == "completed"
    assert report.duration_secs == 245 and report.started_at == 1705314600.0
    assert report.recording_url == SESSION["recordingUrl"] and report.to_number == "+12025550123"
    assert [(t.role, t.message, t.secs) for t in report.transcript] == [
        ("business", "Pizza Palace, how can I help?", 0),
        ("caller", "I'd like a large pepperoni.", 2.5),
    ]


@pytest.mark.parametrize(
    ("provider_status", "status"),
    [("initiating", "queued"), ("ringing", "ringing"), ("in_progress", "in_progress"), ("failed", "failed"), ("no_answer", "failed")],
)
async def test_a_call_not_completed_is_mapped_and_no_transcript_is_asked_for(provider_status, status):
    api = FakeApi(lambda request: httpx.Response(200, json={"success": True, "data": {**SESSION, "status": provider_status}}))
    async with open_talkifai(api) as provider:
        report = await provider.get_call("call_abc123")
    assert report.status == status and report.provider_status == provider_status
    assert api.count("GET") == 1


async def test_a_completed_call_without_a_transcript_yet_is_still_reported():
    def respond(request):
        if request.url.path.endswith("/transcript"):
            return httpx.Response(404, json={"success": False, "error": "Not found", "code": "not_found"})
        return httpx.Response(200, json={"success": True, "data": SESSION})

    async with open_talkifai(FakeApi(respond)) as provider:
        report = await provider.get_call("call_abc123")
    assert report.status == "done" and report.transcript == ()


@SHAPES
@pytest.mark.parametrize(("status", "hint"), [(401, "TALKIFAI_API_KEY"), (404, "callId")])
async def test_reading_a_call_says_talkifais_words_and_what_to_fix(shape, status, hint):
    api = FakeApi(lambda request: shape(status, "Not found" if status == 404 else "Invalid API key"))
    async with open_talkifai(api) as provider:
        with pytest.raises(ProviderStatusError) as caught:
            await provider.get_call("call_missing")
    assert caught.value.status == status and hint in str(caught.value)
    assert "TALKIFAI_FROM_NUMBER" not in str(caught.value)  # the outbound call's 404 hint is not this one's


async def test_a_read_that_fails_with_5xx_is_retried():
    answers = iter([detail_body(503, "busy"), httpx.Response(200, json={"success": True, "data": {**SESSION, "status": "ringing"}})])
    api = FakeApi(lambda request: next(answers))
    async with open_talkifai(api) as provider:
        report = await provider.get_call("call_abc123")
    assert report.status == "ringing" and api.count("GET") == 2


def test_the_webhook_payload_of_a_call_maps_to_the_same_report():
    ended = {"callId": "call_xyz", "agentId": "agent_abc", "duration": 245, "status": "completed", "endReason": "user_hangup",
             "recordingUrl": "https://storage.talkifai.dev/recordings/call_xyz.mp3"}
    report = call_report(ended, event="call.ended")
    assert (report.provider_ref, report.status, report.duration_secs, report.termination_reason) == ("call_xyz", "done", 245, "user_hangup")
    failed = call_report({"callId": "call_f"}, event="call.failed")
    assert failed.status == "failed" and failed.provider_status == "failed"
    started = call_report({"callId": "call_s", "direction": "inbound"}, event="call.started")
    assert started.status == "in_progress"
    with pytest.raises(ValueError):
        call_report({"status": "completed"})


# -- batches ----------------------------------------------------------------------------------------

CREATED = {
    "success": True,
    "batchJobId": "batch_xyz789",
    "totalContacts": 2,
    "estimatedDuration": "15 minutes",
    "estimatedCost": "$3.50",
    "status": "running",
    "scheduledStartTime": None,
    "message": "Batch campaign created successfully",
}


async def test_submit_batch_posts_json_contacts_with_the_phone_number_id_and_keeps_the_estimates():
    api = FakeApi(lambda request: httpx.Response(200, json=CREATED))
    async with open_talkifai(api, batch_concurrency=7, batch_max_attempts=2) as provider:
        created = await provider.submit_batch(batch())
    [request] = api.requests
    assert_bearer(request)
    assert request.method == "POST" and request.url.path == "/batch/create" and request.url.query == b""
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "fromPhoneNumberId": PHONE_ID,
        "name": "January checks",
        "contacts": [{"phone": "+12025551000"}, {"phone": "+12025551001"}],
        "concurrentCallLimit": 7,
        "maxAttempts": 2,
        "timezone": "UTC",
    }
    assert "pepperoni" not in request.content.decode()  # no script travels
    assert created.batch_id == "batch_xyz789" and created.status == "in_progress" and created.total_calls_scheduled == 2
    assert (created.estimated_cost, created.estimated_duration) == ("$3.50", "15 minutes")


async def test_a_scheduled_batch_sends_its_start_in_iso_8601_utc():
    api = FakeApi(lambda request: httpx.Response(200, json={**CREATED, "status": "scheduled", "scheduledStartTime": "2026-01-01T09:00:00Z"}))
    async with open_talkifai(api) as provider:
        created = await provider.submit_batch(batch(scheduled=1767258000))
    body = json.loads(api.requests[0].content)
    assert body["scheduledStartTime"] == "2026-01-01T09:00:00Z" and body["timezone"] == "UTC"
    assert created.status == "pending" and created.scheduled_time_unix == 1767258000


async def test_batch_without_a_phone_number_id_names_the_variable_and_sends_nothing():
    api = FakeApi(lambda request: httpx.Response(200, json=CREATED))
    async with open_talkifai(api, from_phone_number_id=None) as provider:
        with pytest.raises(ConfigError, match="TALKIFAI_FROM_PHONE_NUMBER_ID"):
            await provider.submit_batch(batch())
        with pytest.raises(ConfigError, match="TALKIFAI_FROM_PHONE_NUMBER_ID"):
            provider.preview_batch(batch())
    assert api.requests == []


async def test_more_than_10000_contacts_are_refused_before_any_request():
    api = FakeApi(lambda request: httpx.Response(200, json=CREATED))
    async with open_talkifai(api) as provider:
        with pytest.raises(InvalidInput, match="10,000"):
            await provider.submit_batch(batch(10_001))
    assert api.requests == []


@SHAPES
@pytest.mark.parametrize(
    ("status", "said", "hint"),
    [
        (400, "Invalid phone number format: +12345", "E.164"),
        (400, "Insufficient credits. Required: $3.50, Available: $1.00", "credits"),
        (401, "Invalid API key", "TALKIFAI_API_KEY"),
        (404, f"Phone number {PHONE_ID} not found", "TALKIFAI_FROM_PHONE_NUMBER_ID"),
    ],
)
async def test_batch_errors_say_talkifais_words_and_what_to_fix(shape, status, said, hint):
    api = FakeApi(lambda request: shape(status, said))
    async with open_talkifai(api) as provider:
        with pytest.raises(ProviderStatusError) as caught:
            await provider.submit_batch(batch())
    assert str(caught.value).startswith(f"TalkifAI API error ({status}): {said}") and hint in str(caught.value)
    assert api.count("POST") == 1


@pytest.mark.parametrize(
    "respond",
    [lambda r: detail_body(500, "worker down"), raises(httpx.ReadTimeout, "slow"), lambda r: httpx.Response(200, json={"success": True})],
    ids=["5xx", "read-timeout", "no-batch-id"],
)
async def test_a_batch_submission_that_may_have_arrived_is_outcome_unknown_and_never_resent(respond):
    api = FakeApi(respond)
    async with open_talkifai(api) as provider:
        with pytest.raises(OutcomeUnknown):
            await provider.submit_batch(batch())
    assert api.count("POST") == 1


def contact(i: int, status: str, **extra) -> dict:
    return {"id": f"contact_{i:03d}", "phoneNumber": f"+1202555{1000 + i}", "status": status, "attemptCount": 1, **extra}


def job(contacts: list[dict], has_more: bool, page: int = 1) -> dict:
    return {
        "id": "batch_xyz789", "name": "January checks", "status": "running", "totalContacts": 3, "contactsProcessed": 2,
        "statusBreakdown": {"completed": 1, "busy": 1, "dialing": 1}, "createdAt": "2024-01-15T10:30:00Z",
        "contacts": contacts, "contactsTotal": 3, "contactsPage": page, "contactsPageSize": 500, "contactsHasMore": has_more,
    }


async def test_get_batch_reads_every_page_of_contacts_and_maps_their_statuses_keeping_the_originals():
    pages = {
        "1": job([contact(1, "completed", roomName="outbound_a_1", callDuration=31), contact(2, "busy", failureReason="Line busy")], True),
        "2": job([contact(3, "dialing")], False, page=2),
    }
    api = FakeApi(lambda request: httpx.Response(200, json=pages[query(request)["contactsPage"][0]]))
    async with open_talkifai(api) as provider:
        report = await provider.get_batch("batch_xyz789")
    assert [(r.method, r.url.path) for r in api.requests] == [("GET", "/batch/jobs/batch_xyz789")] * 2
    assert [query(r) for r in api.requests] == [
        {"contactsPage": ["1"], "contactsPageSize": ["500"]},
        {"contactsPage": ["2"], "contactsPageSize": ["500"]},
    ]
    for request in api.requests:
        assert_bearer(request)
    assert report.status == "in_progress" and report.total_calls_scheduled == 3 and report.total_calls_dispatched == 2
    assert [(r.status, r.provider_status) for r in report.recipients] == [
        ("completed", "completed"), ("failed", "busy"), ("initiated", "dialing"),
    ]
    first, second, _ = report.recipients
    assert first.call_ref == "outbound_a_1" and first.duration_secs == 31 and second.error == "Line busy"
    assert report.status_breakdown == {"completed": 1, "busy": 1, "dialing": 1}


async def test_a_job_that_always_has_more_contacts_is_read_for_at_most_its_page_budget_and_says_so():
    from caller_mcp.providers.talkifai.client import MAX_CONTACT_PAGES

    api = FakeApi(lambda request: httpx.Response(200, json=job([contact(int(query(request)["contactsPage"][0]), "completed")], True)))
    async with open_talkifai(api) as provider:
        report = await provider.get_batch("batch_xyz789")
    assert api.count("GET") == MAX_CONTACT_PAGES == len(report.recipients)
    assert report.incomplete and f"Read {MAX_CONTACT_PAGES} of the batch's contacts" in report.incomplete
    assert f"{MAX_CONTACT_PAGES} pages" in report.incomplete


async def test_slow_contact_pages_are_read_within_the_time_budget_and_the_report_says_it_stopped(monkeypatch):
    import anyio

    from caller_mcp.providers.talkifai import client as talkifai_client

    monkeypatch.setattr(talkifai_client, "CONTACTS_BUDGET_SECS", 0.3)
    seen: list[httpx.Request] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        page = int(query(request)["contactsPage"][0])
        if page > 1:
            await anyio.sleep(0.2 if page == 2 else 30)  # the third page never answers in time
        return httpx.Response(200, json=job([contact(page, "completed")], True, page=page))

    async with open_talkifai(slow) as provider:  # type: ignore[arg-type]
        with anyio.fail_after(10):  # the budget, not the 30 s page, ends the read
            report = await provider.get_batch("batch_xyz789")
    assert len(seen) == 3 and len(report.recipients) == 2
    assert report.incomplete and "Read 2 of the batch's contacts" in report.incomplete


async def test_a_job_read_to_its_last_page_is_complete():
    api = FakeApi(lambda request: httpx.Response(200, json=job([contact(1, "completed")], False)))
    async with open_talkifai(api) as provider:
        assert (await provider.get_batch("batch_xyz789")).incomplete is None


@pytest.mark.parametrize(
    ("contact_status", "ours"),
    [("pending", "pending"), ("queued", "pending"), ("dialing", "initiated"), ("completed", "completed"),
     ("no_answer", "failed"), ("busy", "failed"), ("timeout", "failed"), ("blocked", "failed"),
     ("invalid_number", "failed"), ("carrier_error", "failed"), ("failed", "failed"), ("cancelled", "cancelled")],
)
async def test_every_documented_contact_status_maps_to_ours(contact_status, ours):
    api = FakeApi(lambda request: httpx.Response(200, json=job([contact(1, contact_status)], False)))
    async with open_talkifai(api) as provider:
        [recipient] = (await provider.get_batch("batch_xyz789")).recipients
    assert recipient.status == ours and recipient.provider_status == contact_status


@SHAPES
async def test_an_unknown_batch_is_a_404_with_talkifais_words(shape):
    api = FakeApi(lambda request: shape(404, "Batch job not found"))
    async with open_talkifai(api) as provider:
        with pytest.raises(ProviderStatusError) as caught:
            await provider.get_batch("batch_nope")
    assert caught.value.status == 404 and caught.value.detail == "Batch job not found"


async def test_cancel_posts_to_the_job_then_reads_its_new_status():
    def respond(request):
        if request.method == "POST":
            return httpx.Response(200, json={"success": True, "message": "Job cancelled", "batchJobId": "batch_xyz789",
                                             "redisJobCancelled": True, "contactsCancelled": 4})
        return httpx.Response(200, json={**job([], False), "status": "cancelled"})

    api = FakeApi(respond)
    async with open_talkifai(api) as provider:
        report = await provider.cancel_batch("batch_xyz789")
    post, get = api.requests
    assert (post.method, post.url.path, post.content) == ("POST", "/batch/jobs/batch_xyz789/cancel", b"")
    assert (get.method, get.url.path, query(get)) == ("GET", "/batch/jobs/batch_xyz789", {"contactsPageSize": ["1"]})
    assert report.status == "cancelled" and report.name == "January checks"


@SHAPES
async def test_cancelling_a_finished_batch_says_why(shape):
    api = FakeApi(lambda request: shape(400, "Cannot cancel job in 'completed' status"))
    async with open_talkifai(api) as provider:
        with pytest.raises(ProviderStatusError, match="Cannot cancel job in 'completed' status"):
            await provider.cancel_batch("batch_xyz789")


async def test_list_batches_pages_by_number_within_the_organization():
    jobs = [{"id": f"batch_{i}", "name": f"b{i}", "status": "completed", "totalContacts": 1, "contactsProcessed": 1,
             "createdAt": "2024-01-15T10:30:00Z"} for i in range(3)]
    api = FakeApi(lambda request: httpx.Response(200, json={"batchJobs": jobs, "total": 5, "page": 1, "pageSize": 3}))
    async with open_talkifai(api) as provider:
        page = await provider.list_batches(3)
        last = await provider.list_batches(3, page.cursor)
    first, second = api.requests
    assert (first.method, first.url.path) == ("GET", "/batch/jobs")
    assert query(first) == {"organizationId": [ORG], "page": ["1"], "pageSize": ["3"]}
    assert query(second)["page"] == ["2"]
    assert [b.batch_id for b in page.batches] == ["batch_0", "batch_1", "batch_2"] and page.cursor == "2"
    assert last.cursor is None
    assert page.batches[0].status == "completed" and page.batches[0].created_at == 1705314600.0


async def test_list_batches_without_an_organization_names_the_variable():
    api = FakeApi(lambda request: httpx.Response(200, json={}))
    async with open_talkifai(api, organization_id=None) as provider:
        with pytest.raises(ConfigError, match="TALKIFAI_ORGANIZATION_ID"):
            await provider.list_batches(20)
    assert api.requests == []


async def test_the_outbound_call_waits_65_s_for_its_answer_and_reads_keep_the_general_timeout():
    from caller_mcp.providers.talkifai import build
    from caller_mcp.settings import Settings

    seen: dict[str, dict] = {}

    def respond(request: httpx.Request) -> httpx.Response:
        seen[request.url.path] = request.extensions["timeout"]
        if request.url.path == "/telephony/outbound-call":
            return httpx.Response(200, json={"success": True, "room_name": "outbound_a_1"})
        return httpx.Response(200, json={"success": True, "data": {**SESSION, "status": "ringing"}})

    settings = Settings(_env_file=None, talkifai_api_key=KEY, talkifai_from_number=FROM)
    provider = build(settings, transport=httpx.MockTransport(respond))
    try:
        from caller_mcp.domain.calls import CallRequest

        await provider.place_call(CallRequest(to_number="+12025550123", script=SCRIPT))
        await provider.get_call("call_abc123")
    finally:
        await provider.aclose()
    assert seen["/telephony/outbound-call"]["read"] == 65 and seen["/telephony/outbound-call"]["connect"] == 5
    assert seen["/calls/call_abc123"]["read"] == 20
