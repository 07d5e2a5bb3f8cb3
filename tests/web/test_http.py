"""The tools over streamable HTTP with the SDK's client: authentication, transport security,
body limit, and one process shared by every client."""

from __future__ import annotations

import anyio
import httpx
import pytest

from caller_mcp.errors import ConfigError
from caller_mcp.settings import Settings
from caller_mcp.web.app import create_app, is_loopback
from tests.fakes import PIZZA

from .conftest import mcp_client, serving

pytestmark = pytest.mark.anyio
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


async def test_without_a_token_the_server_answers_401_with_the_resource_metadata(web_settings, make_token, build_web):
    make_token("alice")
    with serving(build_web(web_settings)) as url:
        async with httpx.AsyncClient() as http:
            answer = await http.post(url + "/mcp", json=INIT, headers=MCP_HEADERS)
            wrong = await http.post(url + "/mcp", json=INIT, headers={**MCP_HEADERS, "Authorization": "Bearer cmcp_wrong"})
            metadata = await http.get(url + "/.well-known/oauth-protected-resource/mcp")
    assert answer.status_code == 401 and wrong.status_code == 401
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and "resource_metadata=" in challenge
    assert metadata.status_code == 200
    assert metadata.json()["resource"] == url + "/mcp"
    assert "calls:read" in metadata.json()["scopes_supported"]


async def test_with_a_valid_token_the_tools_work_and_calls_are_followed_across_clients(web_settings, make_token, build_web):
    token = make_token("alice")
    with serving(build_web(web_settings)) as url:
        async with mcp_client(url, token) as first:
            tools = await first.list_tools()
            assert "place_call" in {t.name for t in tools.tools}
            placed = await first.call_tool("place_call", {"to_number": "+15551230000", "business_description": PIZZA})
            assert not placed.is_error, placed.content
            call_id = placed.structured_content["call_id"]
        # Another client session (a one-shot client, CI) follows the same sandbox call.
        async with mcp_client(url, token) as second:
            seen = await second.call_tool("get_call", {"call_id": call_id})
    assert not seen.is_error, seen.content
    assert seen.structured_content["call_id"] == call_id
    assert seen.structured_content["sandbox"] is True
    assert seen.structured_content.get("conversation_id") == placed.structured_content["conversation_id"]


async def test_a_forged_origin_is_refused(web_settings, make_token, build_web):
    token = make_token("alice")
    with serving(build_web(web_settings)) as url:
        async with httpx.AsyncClient() as http:
            forged = await http.post(
                url + "/mcp", json=INIT,
                headers={**MCP_HEADERS, "Authorization": f"Bearer {token}", "Origin": "https://evil.example"},
            )
            own = await http.post(
                url + "/mcp", json=INIT,
                headers={**MCP_HEADERS, "Authorization": f"Bearer {token}", "Origin": url},
            )
            foreign_host = await http.post(
                url + "/mcp", json=INIT,
                headers={**MCP_HEADERS, "Authorization": f"Bearer {token}", "Host": "evil.example"},
            )
    assert forged.status_code == 403
    assert own.status_code == 200
    assert foreign_host.status_code == 421


async def test_an_oversized_request_body_is_refused(db_path, tokens_file, make_token, build_web):
    token = make_token("alice")
    settings = Settings(_env_file=None, caller_mcp_db=db_path, caller_mcp_tokens_file=tokens_file, caller_mcp_max_body_bytes=4096)
    with serving(build_web(settings)) as url:
        async with httpx.AsyncClient() as http:
            big = dict(INIT, params={**INIT["params"], "clientInfo": {"name": "x" * 10_000, "version": "1"}})
            answer = await http.post(url + "/mcp", json=big, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})
    assert answer.status_code == 413


async def test_without_authentication_loopback_serves_the_tools(settings, build_web):
    with serving(build_web(settings)) as url:
        async with mcp_client(url) as client:
            answer = await client.call_tool("set_business_context", {"description": PIZZA})
    assert not answer.is_error


def test_a_non_loopback_bind_without_authentication_is_refused(settings):
    with pytest.raises(ConfigError, match="Refusing to serve on 0.0.0.0.*CALLER_MCP_TOKENS_FILE"):
        create_app(settings, host="0.0.0.0")


def test_a_non_loopback_bind_with_tokens_is_allowed(web_settings, make_token):
    make_token("ci")
    web = create_app(web_settings, host="0.0.0.0", port=8443)
    assert web.auth is not None and web.auth.kind == "tokens"


def test_an_empty_tokens_file_is_a_configuration_error(web_settings, tokens_file):
    tokens_file.write_text("# no tokens yet\n")
    with pytest.raises(ConfigError, match="holds no token"):
        create_app(web_settings)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.com", False)],
)
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


async def test_concurrent_clients_are_served_by_one_process(web_settings, make_token, build_web):
    token = make_token("alice")
    with serving(build_web(web_settings)) as url:
        results: list[bool] = []

        async def one(i: int) -> None:
            async with mcp_client(url, token) as client:
                answer = await client.call_tool("list_calls", {"limit": 5})
                results.append(not answer.is_error)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for i in range(5):
                    tg.start_soon(one, i)
    assert results == [True] * 5
