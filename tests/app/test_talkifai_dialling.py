"""The background dial without MCP: get_call follows a TalkifAI call while it rings, reporting
progress, and the same dial runs inline where no background task group exists."""

from __future__ import annotations

import anyio
import httpx
import pytest

from caller_mcp.app import dialling, monitoring
from caller_mcp.bootstrap import bootstrap
from caller_mcp.sandbox.talkifai import create_app
from caller_mcp.settings import Settings
from tests.fakes import PIZZA

pytestmark = pytest.mark.anyio


def services_on(tmp_path, speed: float):
    settings = Settings(_env_file=None, caller_mcp_db=tmp_path / "db", caller_mcp_provider="talkifai")
    return bootstrap(settings, transport=httpx.ASGITransport(app=create_app(speed=speed)))


async def test_get_call_reports_progress_while_the_phone_rings(tmp_path):
    services = services_on(tmp_path, speed=2)  # the callee picks up after 1 s
    steps: list[tuple[float, float, str]] = []

    async def progress(done: float, total: float, message: str) -> None:
        steps.append((done, total, message))

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as background:
                services.background = background
                placed = await dialling.place_call(services, await dialling.plan_call(services, "+15551230000", PIZZA))
                assert placed.status == "dialling"
                read = await monitoring.get_call(services, placed.call_id, 5, progress=progress)
    finally:
        await services.aclose()
    assert read.status == "in_progress" and read.conversation_id.startswith("outbound_")
    assert steps and steps[0][1] == 5 and steps[0][2].startswith("dialling (ringing)")


async def test_without_a_background_task_group_the_dial_runs_inline(tmp_path):
    services = services_on(tmp_path, speed=1000)
    try:
        placed = await dialling.place_call(services, await dialling.plan_call(services, "+15551230002", PIZZA))
    finally:
        await services.aclose()
    assert placed.status == "no_answer" and "rang for 60 s" in placed.message
