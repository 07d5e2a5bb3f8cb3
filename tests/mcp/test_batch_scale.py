"""Large batches through the MCP client: the server keeps answering while it checks recipients,
reports progress, and holds one copy of each distinct caller script."""

from __future__ import annotations

import threading

import anyio
import httpx
import pytest
from mcp import Client

from caller_mcp.app.dialling import batch as batch_use_case
from caller_mcp.app.results import RecipientInput
from caller_mcp.domain.batches import MAX_BATCH_RECIPIENTS
from caller_mcp.domain.policy import DialPolicy
from caller_mcp.mcp.server import build_server
from caller_mcp.settings import Settings
from tests.fakes import PIZZA

pytestmark = pytest.mark.anyio

NUMBERS = [f"+1555123{i:04d}" for i in range(5)]


def server_on(sandbox_app, db_path, **settings):
    return build_server(
        Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_confirm="never", **settings),
        transport=httpx.ASGITransport(app=sandbox_app),
    )


@pytest.mark.filterwarnings("ignore:ping is removed:mcp.shared.exceptions.MCPDeprecationWarning")
async def test_ping_is_answered_while_a_batch_is_being_checked(sandbox_app, db_path, monkeypatch):
    """The recipients are checked off the event loop: one check is held until the ping that was
    sent meanwhile has been answered (were the check on the loop, the ping would wait for it)."""
    entered, release = threading.Event(), threading.Event()
    held: list[bool] = []
    real_check = DialPolicy.check

    def check(self, number):
        if number == NUMBERS[2]:
            entered.set()
            held.append(release.wait(timeout=10))
        return real_check(self, number)

    monkeypatch.setattr(DialPolicy, "check", check)
    server = server_on(sandbox_app, db_path)
    answers = {}
    async with Client(server, mode="legacy", raise_exceptions=True) as client:  # ping: an initialize-era request

        async def submit():
            answers["submit"] = await client.call_tool("submit_batch", {"recipients": NUMBERS, "business_description": PIZZA})

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(submit)
                await anyio.to_thread.run_sync(entered.wait, 10)
                try:
                    await client.send_ping()
                    await client.list_tools()  # any other request too
                finally:
                    release.set()
    assert held == [True]  # the check was still held when the ping came back
    assert not answers["submit"].is_error
    assert answers["submit"].structured_content["total_calls_scheduled"] == len(NUMBERS)


async def test_a_batch_checked_in_several_chunks_reports_progress(sandbox_app, db_path, monkeypatch):
    monkeypatch.setattr(batch_use_case, "PLAN_CHUNK", 2)
    notes: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress, total, message):
        notes.append((progress, total, message))

    async with Client(server_on(sandbox_app, db_path), raise_exceptions=True) as client:
        result = await client.call_tool(
            "submit_batch", {"recipients": NUMBERS, "business_description": PIZZA}, progress_callback=on_progress
        )
    assert not result.is_error
    assert [(p, t) for p, t, _ in notes] == [(2, 5), (4, 5), (5, 5)]
    assert notes[-1][2] == "Checked 5 of 5 recipients."


async def test_recipients_with_the_same_script_share_one_copy_of_it_end_to_end(sandbox_app, db_path):
    recipients = [NUMBERS[0], NUMBERS[1], {"phone_number": NUMBERS[2], "scenario": "cancel an order"},
                  {"phone_number": NUMBERS[3], "scenario": "cancel an order."}]
    async with Client(server_on(sandbox_app, db_path), raise_exceptions=True) as client:
        result = await client.call_tool("submit_batch", {"recipients": recipients, "business_description": PIZZA})
    assert not result.is_error
    batch = sandbox_app.state.sandbox.batches[result.structured_content["batch_id"]]
    first, second, third, fourth = batch.recipients
    assert first.client_data is second.client_data and third.client_data is fourth.client_data
    assert first.client_data is not third.client_data
    assert first.call.prompt is second.call.prompt  # the emulator's calls share it too
    assert "Caller goal: cancel an order" in third.call.prompt


def _forbid_per_recipient_work(monkeypatch) -> list[str]:
    """Make every piece of per-recipient work (dial policy, recipient model, caller script) record
    itself; the list stays empty when a batch is refused before any recipient is looked at."""
    done: list[str] = []
    real_check, real_build, real_validate = DialPolicy.check, batch_use_case.build_script, RecipientInput.model_validate

    def check(self, number):
        done.append("dial policy")
        return real_check(self, number)

    def build(*args, **kwargs):
        done.append("caller script")
        return real_build(*args, **kwargs)

    def validate(cls, *args, **kwargs):
        done.append("recipient model")
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(DialPolicy, "check", check)
    monkeypatch.setattr(batch_use_case, "build_script", build)
    monkeypatch.setattr(RecipientInput, "model_validate", classmethod(validate))
    return done


async def test_more_recipients_than_any_batch_takes_are_refused_before_any_entry_is_read(sandbox_app, db_path, monkeypatch):
    """Over :data:`MAX_BATCH_RECIPIENTS` the list's length alone is the answer: not one entry is
    validated (each entry here is malformed, and no entry's error is reported), nothing is checked
    or built, nothing is sent or stored; the schema says ``maxItems``."""
    done = _forbid_per_recipient_work(monkeypatch)
    recipients = [{"phone_number": 5}] * (MAX_BATCH_RECIPIENTS + 1)
    async with Client(server_on(sandbox_app, db_path), raise_exceptions=True) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        result = await client.call_tool("submit_batch", {"recipients": recipients, "business_description": PIZZA})
        listed = await client.call_tool("list_batches", {})
    assert tools["submit_batch"].input_schema["properties"]["recipients"]["maxItems"] == MAX_BATCH_RECIPIENTS
    assert result.is_error
    message = result.content[0].text
    assert f"{MAX_BATCH_RECIPIENTS + 1:,} recipients; a batch takes at most {MAX_BATCH_RECIPIENTS:,}" in message
    assert "phone_number" not in message.split("input_value")[0]  # no entry was validated
    assert done == []
    assert sandbox_app.state.sandbox.batches == {} and listed.structured_content["count"] == 0


async def test_a_batch_over_the_configured_size_cap_is_refused_before_any_recipient_is_checked(
    sandbox_app, db_path, monkeypatch
):
    """``CALLER_MCP_MAX_BATCH_SIZE`` is checked on the count, before the dial policy, the recipient
    models or the caller scripts see one recipient (a 19,900-character description included)."""
    done = _forbid_per_recipient_work(monkeypatch)
    description = (PIZZA + " ") * (19_900 // (len(PIZZA) + 1))
    recipients = [*NUMBERS, {"phone_number": NUMBERS[0], "scenario": "cancel an order"}] * 200
    server = server_on(sandbox_app, db_path, caller_mcp_max_batch_size=len(recipients) - 1)
    async with Client(server, raise_exceptions=True) as client:
        result = await client.call_tool("submit_batch", {"recipients": recipients, "business_description": description})
    assert result.is_error
    assert f"{len(recipients):,} recipients exceed CALLER_MCP_MAX_BATCH_SIZE" in result.content[0].text
    assert done == []
    assert sandbox_app.state.sandbox.batches == {}


async def test_recipients_whose_variables_differ_only_in_type_keep_their_own(sandbox_app, db_path):
    """1, 1.0 and true are equal in Python but not in JSON: recipients with them do not share a
    script, so none is sent another recipient's variable (and equal ones still share)."""
    values = [1, True, 1.0, 1, "1"]
    recipients = [{"phone_number": n, "dynamic_variables": {"vip": v}} for n, v in zip(NUMBERS, values)]
    async with Client(server_on(sandbox_app, db_path), raise_exceptions=True) as client:
        result = await client.call_tool("submit_batch", {"recipients": recipients, "business_description": PIZZA})
    assert not result.is_error, result.content
    batch = sandbox_app.state.sandbox.batches[result.structured_content["batch_id"]]
    sent = [r.client_data["dynamic_variables"]["vip"] for r in batch.recipients]
    assert [(type(v), v) for v in sent] == [(type(v), v) for v in values]
    assert batch.recipients[0].client_data is batch.recipients[3].client_data
