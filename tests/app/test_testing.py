"""Test runs as use cases against the in-memory provider: single calls paced by the concurrency
limit where the provider has no batches, batch recipients matched to units, a recipient that
never connected, and a submission whose outcome is unknown."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from caller_mcp.app import testing
from caller_mcp.domain.batches import BatchReport, RecipientReport
from caller_mcp.domain.calls import CallReport, Cost, PlacedCall, Turn
from caller_mcp.errors import OutcomeUnknown
from caller_mcp.ports import Capabilities

from tests.fakes import FakeProvider

pytestmark = pytest.mark.anyio

SUITE = """\
name: calls-smoke
to_number: "+15551234567"
business_description: We are Pizza Palace.
defaults: {repeats: 5}
cases:
  - id: hours
    scenario: ask the opening hours
    checks: {business_says: ["11 am"], outcome: completed}
"""


def done(ref: str, said: str = "We open at 11 am.") -> CallReport:
    return CallReport(
        provider_ref=ref, status="done", provider_status="done", duration_secs=9, outcome="success",
        termination_reason="Call ended by the caller.", cost=Cost(90, "credits"),
        transcript=(Turn("business", said), Turn("caller", "Thanks, bye.")),
    )


class SingleCalls(FakeProvider):
    """A provider without batches whose calls each need one read before they end; it records
    how many calls were under way (placed, not yet read as ended) at most."""

    def __init__(self) -> None:
        super().__init__(capabilities=Capabilities(per_call_script=True, read_call=True))
        self.active = 0
        self.most_active = 0

    async def place_call(self, call):
        await super().place_call(call)
        ref = f"conv_{len(self.placed)}"
        self.reports[ref] = [CallReport(provider_ref=ref, status="in_progress", provider_status="in-progress"), done(ref)]
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        return PlacedCall(message="ok", provider_ref=ref)

    async def get_call(self, provider_ref):
        report = await super().get_call(provider_ref)
        if report.final:
            self.active -= 1
        return report


async def no_sleep(seconds: float) -> None:
    await anyio.lowlevel.checkpoint()  # lets the other calls' tasks run, as a real wait would


async def test_without_batches_single_calls_ring_at_most_the_concurrency_limit(make_services):
    provider = SingleCalls()
    services = make_services(provider, caller_mcp_test_concurrency=2)
    services.sleep = no_sleep
    plan = await testing.plan_run(services, SUITE)
    assert plan.mode == "calls" and len(plan.calls) == 5
    started = await testing.start_run(services, plan)  # no server: the paced dialling runs inline
    assert len(provider.placed) == 5 and provider.most_active == 2
    run = await testing.get_test_run(services, started.run_id)
    assert run.status == "done" and run.counts == {"passed": 5}
    assert "at most 2 at once (CALLER_MCP_TEST_CONCURRENCY)" in run.notes[-1]
    report = await testing.get_test_report(services, started.run_id)
    assert report.cost == {"credits": 450} and report.pass_rate == 1.0


async def test_a_refused_single_call_fails_its_unit_with_the_reason(make_services):
    provider = SingleCalls()
    provider.failures["place_call"] = OutcomeUnknown("no answer from the provider")
    services = make_services(provider)
    services.sleep = no_sleep
    started = await testing.start_run(services, await testing.plan_run(services, SUITE.replace("repeats: 5", "repeats: 1")))
    run = await testing.get_test_run(services, started.run_id)
    (unit,) = run.units
    assert unit.verdict == "not_judged" and unit.call_status == "unknown" and "no answer" in unit.error


async def test_batch_recipients_are_matched_to_units_in_order(make_services, provider):
    services = make_services()
    suite = SUITE.replace("repeats: 5", "repeats: 2") + "  - id: vm\n    scenario: ask the opening hours\n    to_number: \"+15550000001\"\n    repeats: 1\n"
    started = await testing.start_run(services, await testing.plan_run(services, suite))
    (batch,) = provider.submitted
    assert [r.phone_number for r in batch.recipients] == ["+15551234567", "+15551234567", "+15550000001"]
    provider.batches[started.batch_id] = BatchReport(
        batch_id=started.batch_id, name=batch.name, status="completed", total_calls_scheduled=3,
        recipients=(
            RecipientReport(status="completed", phone_number="+15551234567", call_ref="conv_a"),
            RecipientReport(status="completed", phone_number="+15551234567", call_ref="conv_b"),
            RecipientReport(status="failed", phone_number="+15550000001"),
        ),
    )
    provider.reports["conv_a"] = [done("conv_a")]
    provider.reports["conv_b"] = [done("conv_b", "We open at noon.")]
    run = await testing.get_test_run(services, started.run_id)
    verdicts = {(u.case_id, u.repeat): u for u in run.units}
    assert verdicts[("hours", 1)].verdict == "passed" and verdicts[("hours", 1)].transcript_uri == "caller://calls/conv_a/transcript"
    assert verdicts[("hours", 2)].verdict == "failed"
    vm = verdicts[("vm", 1)]
    assert vm.verdict == "failed" and vm.error == "the call ended failed without a conversation"
    report = await testing.get_test_report(services, started.run_id)
    assert report.flaky == ["hours"]
    assert report.cases[1].reasons == ["not connected: the call ended failed without a conversation"]
    assert (await testing.get_test_report(services, None)).runs[0].run_id == started.run_id


async def test_a_batch_whose_submission_may_have_arrived_is_not_judged_never_failed(make_services, provider):
    provider.failures["submit_batch"] = OutcomeUnknown("ElevenLabs did not answer")
    services = make_services()
    plan = await testing.plan_run(services, SUITE.replace("repeats: 5", "repeats: 1"))
    with pytest.raises(OutcomeUnknown, match="Test run run_"):
        await testing.start_run(services, plan)
    (listed,) = (await testing.get_test_report(services, None)).runs
    assert listed.status == "outcome_unknown"
    report = await testing.get_test_report(services, listed.run_id)
    assert report.verdict == "not_judged" and report.cases[0].reasons[0] == "the call's outcome is unknown (it may have rung)"


async def test_batch_recipients_are_matched_by_their_case_id_hash_repeat_ids_whatever_their_order(make_services):
    provider = FakeProvider(capabilities=Capabilities(per_call_script=True, batches=True, read_call=True, recipient_ids=True))
    services = make_services(provider)
    started = await testing.start_run(services, await testing.plan_run(services, SUITE.replace("repeats: 5", "repeats: 2")))
    (batch,) = provider.submitted
    assert [r.recipient_id for r in batch.recipients] == ["hours#1", "hours#2"]
    provider.batches[started.batch_id] = BatchReport(
        batch_id=started.batch_id, name=batch.name, status="completed", total_calls_scheduled=2,
        recipients=(  # the provider lists them in another order
            RecipientReport(status="completed", phone_number="+15551234567", recipient_id="hours#2", call_ref="conv_2"),
            RecipientReport(status="completed", phone_number="+15551234567", recipient_id="hours#1", call_ref="conv_1"),
        ),
    )
    provider.reports["conv_1"] = [done("conv_1")]
    provider.reports["conv_2"] = [done("conv_2", "We open at noon.")]
    run = await testing.get_test_run(services, started.run_id)
    assert [(u.repeat, u.transcript_uri, u.verdict) for u in run.units] == [
        (2, "caller://calls/conv_2/transcript", "failed"), (1, "caller://calls/conv_1/transcript", "passed"),
    ]  # failed before passed


async def test_single_calls_beyond_the_hourly_cap_are_refused_before_any_dial(make_services):
    from caller_mcp.errors import CapExceeded

    provider = SingleCalls()
    services = make_services(provider, caller_mcp_max_calls_per_hour=6, caller_mcp_redial_guard_secs=0)
    services.sleep = no_sleep
    with pytest.raises(CapExceeded, match="exceed CALLER_MCP_MAX_CALLS_PER_HOUR=6 on their own"):
        await testing.plan_run(services, SUITE.replace("repeats: 5", "repeats: 7"))
    await testing.start_run(services, await testing.plan_run(services, SUITE))
    assert len(provider.placed) == 5
    with pytest.raises(CapExceeded, match="Hourly call cap reached"):
        await testing.start_run(services, await testing.plan_run(services, SUITE))
    assert len(provider.placed) == 5 and len((await testing.get_test_report(services, None)).runs) == 1


async def test_a_refresh_starts_no_read_after_its_budget_and_the_next_one_goes_on(make_services, provider):
    services = make_services()
    started = await testing.start_run(services, await testing.plan_run(services, SUITE.replace("repeats: 5", "repeats: 2")))
    (batch,) = provider.submitted
    provider.batches[started.batch_id] = BatchReport(
        batch_id=started.batch_id, name=batch.name, status="completed", total_calls_scheduled=2,
        recipients=tuple(RecipientReport(status="completed", phone_number="+15551234567", call_ref=f"conv_{i}") for i in (1, 2)),
    )
    for ref in ("conv_1", "conv_2"):
        provider.reports[ref] = [done(ref)]
    run = await services.store.get_run(started.run_id)
    await testing.refresh(services, run, budget=0)
    assert provider.reads == [] and not any(u.final for u in await services.store.run_units(started.run_id))
    await testing.refresh(services, run)
    assert sorted(provider.reads) == ["conv_1", "conv_2"]
    assert (await services.store.get_run(started.run_id)).status == "done"
