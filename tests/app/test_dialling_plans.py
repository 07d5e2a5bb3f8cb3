"""app.dialling against an in-memory provider: plans, fingerprints, and what each dial sends."""

from __future__ import annotations

import time

import anyio
import pytest

from caller_mcp.app import dialling
from caller_mcp.app.context import NO_DESCRIPTION_ERROR, set_context
from caller_mcp.domain.batches import BatchReport, RecipientReport
from caller_mcp.domain.policy import E164_ERROR
from caller_mcp.domain.script import DEFAULT_SCENARIO
from caller_mcp.errors import (
    CapExceeded,
    InvalidInput,
    NotConfirmed,
    NotSupported,
    OutcomeUnknown,
    PolicyViolation,
    ProviderStatusError,
)
from caller_mcp.ports import BatchDialer, CallReader, Capabilities, Dialer
from tests.fakes import PIZZA, FakeProvider

pytestmark = pytest.mark.anyio

NUMBER = "+15551234567"
OTHER = "+15557654321"


def test_fake_provider_implements_the_ports(provider):
    assert isinstance(provider, Dialer)
    for port in (BatchDialer, CallReader):
        for method in [m for m in vars(port) if not m.startswith("_")]:
            assert callable(getattr(provider, method)), method


# -- plan_call --------------------------------------------------------------------------------


async def test_plan_call_without_any_description_asks_for_one(services, provider):
    with pytest.raises(InvalidInput, match=f"^{NO_DESCRIPTION_ERROR}$"):
        await dialling.plan_call(services, NUMBER)
    assert provider.dialled() == 0


@pytest.mark.parametrize("bad", ["5551234567", "+0551234567", "+1 555 123 4567", ""])
async def test_plan_call_refuses_a_number_that_is_not_e164_with_seed_002_text(services, bad):
    with pytest.raises(InvalidInput) as caught:
        await dialling.plan_call(services, bad, PIZZA)
    assert str(caught.value) == E164_ERROR


async def test_plan_call_checks_the_number_before_the_description(services):
    with pytest.raises(InvalidInput, match="E.164"):
        await dialling.plan_call(services, "12345")


async def test_plan_call_refuses_a_number_off_the_operators_allowlist(make_services, provider):
    services = make_services(caller_mcp_allowed_numbers="+1555000*")
    with pytest.raises(PolicyViolation, match="not on the operator's allowlist"):
        await dialling.plan_call(services, NUMBER, PIZZA)
    assert (await dialling.plan_call(services, "+15550001234", PIZZA)).to_number == "+15550001234"


async def test_plan_call_uses_the_stored_context_and_the_default_scenario(services):
    await set_context(services, f"  {PIZZA}  ")
    plan = await dialling.plan_call(services, NUMBER)
    assert plan.request.script.business_description == PIZZA
    assert plan.scenario == DEFAULT_SCENARIO


async def test_plan_call_arguments_win_over_the_stored_context(services):
    await set_context(services, "Some other shop", "ask about opening hours")
    plan = await dialling.plan_call(services, NUMBER, PIZZA, "order a large pizza.")
    assert plan.request.script.business_description == PIZZA
    assert plan.scenario == "order a large pizza"
    assert plan.request.script.first_message == "Hi, I'm calling because I'd like to order a large pizza."


async def test_plan_call_fingerprint_is_the_same_for_the_same_inputs(services):
    first = await dialling.plan_call(services, NUMBER, PIZZA, "order a pizza")
    second = await dialling.plan_call(services, NUMBER, f" {PIZZA}\n", "order a pizza.")
    assert first.fingerprint == second.fingerprint
    assert len(first.fingerprint) == 12 and int(first.fingerprint, 16) >= 0


async def test_plan_call_fingerprint_changes_with_the_scenario_number_or_description(services):
    base = (await dialling.plan_call(services, NUMBER, PIZZA, "order a pizza")).fingerprint
    assert (await dialling.plan_call(services, NUMBER, PIZZA, "cancel an order")).fingerprint != base
    assert (await dialling.plan_call(services, OTHER, PIZZA, "order a pizza")).fingerprint != base
    assert (await dialling.plan_call(services, NUMBER, PIZZA + " Open late.", "order a pizza")).fingerprint != base


async def test_plan_call_fingerprint_changes_with_the_provider(make_services):
    one = (await dialling.plan_call(make_services(FakeProvider("alpha")), NUMBER, PIZZA)).fingerprint
    two = (await dialling.plan_call(make_services(FakeProvider("beta")), NUMBER, PIZZA)).fingerprint
    assert one != two


async def test_call_question_ends_with_the_plan_fingerprint(services):
    plan = await dialling.plan_call(services, NUMBER, PIZZA, "order a pizza")
    question = plan.question()
    assert question.endswith(f"(plan {plan.fingerprint})")
    assert question.startswith(f"Place a sandbox phone call to {NUMBER}?")
    assert "Scenario: order a pizza" in question
    # The question asked adds the cost estimate (none from this provider) before the fingerprint.
    assert await dialling.call_question(services, plan) == plan.question(
        "Cost: no estimate (fakecall gives no price before dialling)."
    )


async def test_call_question_names_a_real_provider_as_paid(make_services):
    plan = await dialling.plan_call(make_services(FakeProvider(sandbox=False)), "+14155552671", PIZZA)
    assert plan.question().startswith("Place a REAL, paid phone call to +14155552671?")


# -- place_call -------------------------------------------------------------------------------


async def test_place_call_sends_exactly_the_plans_request_and_records_it(services, provider):
    plan = await dialling.plan_call(services, NUMBER, PIZZA, "order a pizza")
    answer = await dialling.place_call(services, plan)
    assert len(provider.placed) == 1 and provider.placed[0] is plan.request
    assert answer.status == "initiated" and answer.message == "Call initiated."
    assert answer.conversation_id == "conv_fake_1" and answer.call_sid == "CA_fake_1"
    assert answer.provider == "fakecall" and answer.sandbox is True
    row = await services.store.get_call(answer.call_id)
    assert row.status == "initiated" and row.conversation_id == "conv_fake_1" and row.provider == "fakecall"
    assert row.scenario == "order a pizza" and row.business_description == PIZZA


async def test_place_call_within_the_redial_guard_returns_the_earlier_call_and_sends_nothing(services, provider):
    plan = await dialling.plan_call(services, NUMBER, PIZZA, "order a pizza")
    first = await dialling.place_call(services, plan)
    second = await dialling.place_call(services, await dialling.plan_call(services, NUMBER, PIZZA, "order a pizza"))
    assert len(provider.placed) == 1
    assert second.duplicate_of == first.call_id and second.call_id == first.call_id
    assert "Not dialled again" in second.message and "allow_redial=true" in second.message
    assert await dialling.call_question(services, plan) is None


async def test_place_call_after_the_redial_guard_window_dials_again(services, provider):
    plan = await dialling.plan_call(services, NUMBER, PIZZA)
    first = await dialling.place_call(services, plan)
    later = time.time() + services.settings.caller_mcp_redial_guard_secs + 1
    services.now = lambda: later
    second = await dialling.place_call(services, plan)
    assert len(provider.placed) == 2 and second.duplicate_of is None and second.call_id != first.call_id


async def test_place_call_with_allow_redial_dials_again(services, provider):
    plan = await dialling.plan_call(services, NUMBER, PIZZA)
    first = await dialling.place_call(services, plan)
    second = await dialling.place_call(services, plan, allow_redial=True)
    assert len(provider.placed) == 2 and second.duplicate_of is None and second.call_id != first.call_id


async def test_place_call_guard_ignores_another_scenario(services, provider):
    await dialling.place_call(services, await dialling.plan_call(services, NUMBER, PIZZA, "order a pizza"))
    answer = await dialling.place_call(services, await dialling.plan_call(services, NUMBER, PIZZA, "cancel an order"))
    assert len(provider.placed) == 2 and answer.duplicate_of is None


async def test_place_call_with_outcome_unknown_records_outcome_unknown_and_names_the_call(services, provider):
    provider.failures["place_call"] = OutcomeUnknown("No answer from the provider within 20 s.")
    plan = await dialling.plan_call(services, NUMBER, PIZZA)
    with pytest.raises(OutcomeUnknown) as caught:
        await dialling.place_call(services, plan)
    [row] = await services.store.list_calls(10)
    assert row.status == "outcome_unknown"
    assert row.error == "No answer from the provider within 20 s."
    assert str(caught.value).startswith("No answer from the provider within 20 s. ")
    assert f"recorded as call {row.call_id} with status outcome_unknown" in str(caught.value)
    assert len(provider.placed) == 1


async def test_place_call_after_outcome_unknown_is_guarded_against_a_second_ring(services, provider):
    provider.failures["place_call"] = OutcomeUnknown("lost")
    plan = await dialling.plan_call(services, NUMBER, PIZZA)
    with pytest.raises(OutcomeUnknown):
        await dialling.place_call(services, plan)
    del provider.failures["place_call"]
    answer = await dialling.place_call(services, plan)
    assert len(provider.placed) == 1 and answer.duplicate_of is not None


async def test_place_call_refused_by_the_provider_records_failed_and_may_be_placed_again(services, provider):
    provider.failures["place_call"] = ProviderStatusError(
        "ElevenLabs refused the call (422): bad number", status=422, detail="bad number"
    )
    plan = await dialling.plan_call(services, NUMBER, PIZZA)
    with pytest.raises(ProviderStatusError, match="refused the call"):
        await dialling.place_call(services, plan)
    [row] = await services.store.list_calls(10)
    assert row.status == "failed" and "bad number" in row.error and row.conversation_id is None
    del provider.failures["place_call"]
    answer = await dialling.place_call(services, plan)  # a refusal rang nothing: no guard
    assert answer.status == "initiated" and len(provider.placed) == 2


async def test_place_call_dry_run_previews_the_plan_and_sends_nothing(services, provider):
    plan = await dialling.plan_call(services, NUMBER, PIZZA)
    answer = await dialling.place_call(services, plan, dry_run=True)
    assert answer.status == "dry_run" and answer.dry_run is True
    assert answer.request["body"]["to_number"] == NUMBER
    assert provider.previews == [plan.request] and provider.placed == []
    assert await services.store.list_calls(10) == []


async def test_place_call_not_confirmed_raises_and_sends_nothing(services, provider):
    plan = await dialling.plan_call(services, NUMBER, PIZZA)
    with pytest.raises(NotConfirmed, match="did not confirm"):
        await dialling.place_call(services, plan, confirmed=False)
    assert provider.placed == [] and await services.store.list_calls(10) == []


async def test_place_call_over_the_hourly_cap_sends_nothing(make_services, provider):
    services = make_services(caller_mcp_max_calls_per_hour=1)
    await dialling.place_call(services, await dialling.plan_call(services, NUMBER, PIZZA))
    plan = await dialling.plan_call(services, OTHER, PIZZA)
    assert await dialling.call_question(services, plan) is None
    with pytest.raises(CapExceeded, match="Hourly call cap reached: 1 calls"):
        await dialling.place_call(services, plan)
    assert [c.to_number for c in provider.placed] == [NUMBER]


# -- capabilities -----------------------------------------------------------------------------


async def test_plan_batch_without_batch_capability_names_provider_and_capability(make_services):
    lacking = FakeProvider("dialonly", capabilities=Capabilities(per_call_script=True, read_call=True))
    with pytest.raises(NotSupported) as caught:
        await dialling.plan_batch(make_services(lacking), [NUMBER], business_description=PIZZA)
    assert str(caught.value) == "The dialonly provider does not support batch calls."
    assert lacking.dialled() == 0


async def test_plan_retry_without_retry_capability_names_provider_and_capability(make_services):
    lacking = FakeProvider("noretry", capabilities=Capabilities(batches=True, read_call=True))
    lacking.batches["btcal_1"] = BatchReport("btcal_1", "b", "completed", recipients=(RecipientReport("failed", NUMBER),))
    with pytest.raises(NotSupported) as caught:
        await dialling.plan_retry(make_services(lacking), "btcal_1")
    assert str(caught.value) == "The noretry provider does not support retrying a batch's failed recipients."
    assert lacking.batch_reads == [] and lacking.retried == []


async def test_plan_retry_without_any_batch_capability_names_both(make_services):
    lacking = FakeProvider("bare", capabilities=Capabilities())
    with pytest.raises(NotSupported) as caught:
        await dialling.plan_retry(make_services(lacking), "btcal_1")
    assert str(caught.value) == (
        "The bare provider does not support batch calls, retrying a batch's failed recipients."
    )


# -- plan_batch -------------------------------------------------------------------------------


async def test_plan_batch_shares_one_script_between_recipients_with_the_same_description_and_scenario(services):
    plan = await dialling.plan_batch(
        services,
        [
            "+15550000001",
            {"phone_number": "+15550000002"},
            {"phone_number": "+15550000003", "scenario": "cancel an order"},
            {"phone_number": "+15550000004", "scenario": "cancel an order."},
            {"phone_number": "+15550000005", "business_description": "Another shop"},
        ],
        call_name="nightly",
        business_description=PIZZA,
        scenario="order a pizza",
    )
    r = plan.request.recipients
    assert [x.phone_number for x in r] == [f"+1555000000{i}" for i in range(1, 6)]
    assert r[0].script is r[1].script
    assert r[2].script is r[3].script
    assert r[0].script is not r[2].script and r[0].script is not r[4].script
    assert r[0].script.scenario == "order a pizza" and r[2].script.scenario == "cancel an order"
    assert r[4].script.business_description == "Another shop" and r[4].script.scenario == "order a pizza"
    assert plan.summary[2] == {"phone_number": "+15550000003", "scenario": "cancel an order"}
    assert plan.request.name == "nightly"
    assert plan.question().endswith(f"(plan {plan.fingerprint})")


async def test_plan_batch_refuses_an_oversize_batch_before_checking_entries(make_services, provider):
    services = make_services(caller_mcp_max_batch_size=10)
    with pytest.raises(CapExceeded) as caught:
        await dialling.plan_batch(services, ["not a number"] * 5_000, business_description=PIZZA)
    assert str(caught.value) == "5,000 recipients exceed CALLER_MCP_MAX_BATCH_SIZE=10; split the batch."
    assert provider.dialled() == 0


async def test_plan_batch_names_every_bad_entry_by_index(services):
    with pytest.raises(InvalidInput) as caught:
        await dialling.plan_batch(services, [NUMBER, "555", {"phone_number": OTHER, "scenario": "x\x00"}, 7], business_description=PIZZA)
    message = str(caught.value)
    assert message.startswith("3 of 4 recipients are invalid; nothing was sent.")
    assert "recipients[1] '555': Phone number must be in E.164" in message
    assert "recipients[2] '+15557654321': scenario contains the control or invalid character U+0000" in message
    assert "recipients[3] 7: expected an E.164 string" in message
    assert "recipients[0]" not in message


async def test_plan_batch_fingerprint_is_stable_and_changes_with_a_scenario(services):
    async def plan(scenario):
        return (await dialling.plan_batch(services, [NUMBER, OTHER], "b", PIZZA, scenario)).fingerprint

    assert await plan("order a pizza") == await plan("order a pizza")
    assert await plan("order a pizza") != await plan("cancel an order")


async def test_submit_batch_sends_exactly_the_plans_request_and_records_it(services, provider):
    plan = await dialling.plan_batch(services, [NUMBER, OTHER], "nightly", PIZZA)
    answer = await dialling.submit_batch(services, plan)
    assert len(provider.submitted) == 1 and provider.submitted[0] is plan.request
    assert answer.batch_id == "btcal_fake_1" and answer.total_calls_scheduled == 2
    local = await services.store.get_batch("btcal_fake_1")
    assert local is not None and local.total_recipients == 2


async def test_submit_batch_with_outcome_unknown_records_it_and_says_where(services, provider):
    provider.failures["submit_batch"] = OutcomeUnknown("lost answer")
    plan = await dialling.plan_batch(services, [NUMBER], "nightly", PIZZA)
    with pytest.raises(OutcomeUnknown) as caught:
        await dialling.submit_batch(services, plan)
    [local] = await services.store.list_batches(10)
    assert local.status == "outcome_unknown" and local.batch_id is None
    assert f"recorded locally as {local.local_id}" in str(caught.value)


# -- retry ------------------------------------------------------------------------------------


async def test_retry_with_nothing_to_retry_sends_nothing(services, provider):
    provider.batches["btcal_1"] = BatchReport(
        "btcal_1", "nightly", "completed", recipients=(RecipientReport("completed", NUMBER), RecipientReport("cancelled", OTHER))
    )
    plan = await dialling.plan_retry(services, "btcal_1")
    assert plan.numbers == []
    assert await dialling.retry_question(services, plan) is None
    answer = await dialling.retry_batch(services, plan)
    assert answer.recipients_retried == 0 and answer.message.startswith("Nothing to retry")
    assert provider.retried == []


async def test_retry_calls_failed_and_voicemail_recipients_again(services, provider):
    provider.batches["btcal_1"] = BatchReport(
        "btcal_1",
        "nightly",
        "completed",
        recipients=(
            RecipientReport("failed", NUMBER),
            RecipientReport("completed", "+15550000009"),
            RecipientReport("voicemail", OTHER),
        ),
    )
    plan = await dialling.plan_retry(services, "btcal_1")
    assert plan.numbers == [NUMBER, OTHER]
    assert (await dialling.retry_question(services, plan)).endswith(f"(plan {plan.fingerprint})")
    answer = await dialling.retry_batch(services, plan)
    assert provider.retried == ["btcal_1"] and answer.recipients_retried == 2 and answer.status == "in_progress"


async def test_retry_refused_by_the_policy_reads_but_sends_nothing(make_services, provider):
    services = make_services(caller_mcp_allowed_numbers=NUMBER)
    provider.batches["btcal_1"] = BatchReport(
        "btcal_1", "nightly", "completed", recipients=(RecipientReport("failed", NUMBER), RecipientReport("failed", OTHER))
    )
    with pytest.raises(PolicyViolation, match=r"1 of the 2 recipients.*\n- \+15557654321: "):
        await dialling.plan_retry(services, "btcal_1")
    assert provider.retried == []


async def test_the_duplicate_guard_key_is_the_recipients_as_a_set(services):
    async def key(recipients, scenario="order a pizza", name="b"):
        return (await dialling.plan_batch(services, recipients, name, PIZZA, scenario)).recipients_key

    same = await key([NUMBER, OTHER])
    assert await key([OTHER, NUMBER], name="another name") == same  # order and name do not count
    assert await key([OTHER, NUMBER, NUMBER]) == same  # nor a repeated recipient
    assert await key([NUMBER, OTHER], "cancel an order") != same
    assert await key([NUMBER]) != same and len(same) == 64
