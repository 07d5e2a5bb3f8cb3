"""Principals over HTTP: each token's calls, batches and business context are its own; the
redial guard and a call's record are shared by the team."""

from __future__ import annotations

import pytest

from tests.fakes import PIZZA

from .conftest import mcp_client, serving

pytestmark = pytest.mark.anyio


async def test_two_members_have_their_own_context_and_history(web_settings, make_token, build_web):
    alice, bob = make_token("alice"), make_token("bob")
    with serving(build_web(web_settings)) as url:
        async with mcp_client(url, alice) as a, mcp_client(url, bob) as b:
            await a.call_tool("set_business_context", {"description": PIZZA, "scenario": "order a pepperoni pizza"})
            no_context = await b.call_tool("place_call", {"to_number": "+15551230000"})
            alice_resource = (await a.read_resource("caller://context")).contents[0].text
            bob_resource = (await b.read_resource("caller://context")).contents[0].text
            placed = await a.call_tool("place_call", {"to_number": "+15551230000"})
            assert not placed.is_error, placed.content
            call_id = placed.structured_content["call_id"]
            alices = (await a.call_tool("list_calls", {})).structured_content["calls"]
            bobs = (await b.call_tool("list_calls", {})).structured_content["calls"]
            followed = await b.call_tool("get_call", {"call_id": call_id})
            # Bob asks for the same number and goal within the guard window: Alice's call comes back.
            await b.call_tool("set_business_context", {"description": PIZZA, "scenario": "order a pepperoni pizza"})
            again = await b.call_tool("place_call", {"to_number": "+15551230000"})
            batch = await b.call_tool("submit_batch", {"recipients": ["+15551230005"]})
            assert not batch.is_error, batch.content
            alice_batches = (await a.call_tool("list_batches", {})).structured_content["batches"]
            bob_batches = (await b.call_tool("list_batches", {})).structured_content["batches"]
    assert no_context.is_error and "Provide a business description first." in no_context.content[0].text
    assert PIZZA in alice_resource and "No business context is set" in bob_resource
    assert [c["call_id"] for c in alices] == [call_id]
    assert bobs == []
    assert not followed.is_error and followed.structured_content["call_id"] == call_id
    assert again.structured_content["duplicate_of"] == call_id
    assert [x["batch_id"] for x in bob_batches] == [batch.structured_content["batch_id"]]
    assert batch.structured_content["batch_id"] not in [x["batch_id"] for x in alice_batches]


async def test_stdio_and_unauthenticated_loopback_are_the_local_principal(settings, build_web, connect):
    with serving(build_web(settings)) as url:
        async with mcp_client(url) as client:
            await client.call_tool("set_business_context", {"description": PIZZA})
    async with connect() as stdio_like:  # the in-memory client: no token, as over stdio
        context = await stdio_like.read_resource("caller://context")
    assert PIZZA in context.contents[0].text
