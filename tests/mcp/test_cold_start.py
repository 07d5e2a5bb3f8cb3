"""A cold start imports only what ``tools/list`` needs (``benchmarks/cold_start.py`` times it).

Structural, not timed: a fresh interpreter builds the server, lists its tools, resources and
prompts through an MCP client, and the use cases, the providers' clients, the sandbox, the store, the
web app and the file-format libraries must not have been imported yet. (``httpx``, ``starlette``
and ``uvicorn`` are left out of the list: the MCP SDK imports them itself.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

#: Imported by the first tool call that needs them, never by tools/list.
DEFERRED = (
    "caller_mcp.app.batches",
    "caller_mcp.app.context",
    "caller_mcp.app.costs",
    "caller_mcp.app.dialling",
    "caller_mcp.app.monitoring",
    "caller_mcp.app.run_reports",
    "caller_mcp.app.services",
    "caller_mcp.app.testing",
    "caller_mcp.bootstrap",
    "caller_mcp.domain.suites",
    "caller_mcp.providers.elevenlabs.client",
    "caller_mcp.providers.talkifai.client",
    "caller_mcp.sandbox",
    "caller_mcp.store",
    "caller_mcp.web",
    "junitparser",
    "orjson",
    "phonenumbers",
    "psycopg",
    "sqlite3",
    "tqdm",
    "yaml",
)

SCRIPT = """
import json, sys
import anyio
from mcp import Client
from caller_mcp.mcp.server import build_server
from caller_mcp.settings import Settings

async def main():
    async with Client(build_server(Settings.load())) as client:
        tools = await client.list_tools()
        await client.list_resources()
        await client.list_resource_templates()
        await client.list_prompts()
        listed = sorted(sys.modules)
        # The first tool call builds the services and imports its use case, and is answered.
        result = await client.call_tool("list_calls", {})
        assert not result.is_error, result.content
        return [tool.name for tool in tools.tools], listed, sorted(sys.modules)

names, listed, called = anyio.run(main)
print(json.dumps({"tools": names, "modules": listed, "after_call": called}))
"""


def _started(tmp_path, script: str = SCRIPT) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ELEVENLABS_", "TALKIFAI_", "CALLER_MCP_"))}
    env["CALLER_MCP_DB"] = str(tmp_path / "caller-mcp.sqlite3")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_listing_tools_imports_none_of_the_application(tmp_path):
    started = _started(tmp_path)
    assert "place_call" in started["tools"] and "run_test_suite" in started["tools"]
    loaded = set(started["modules"])
    imported = sorted(name for name in loaded if any(name == m or name.startswith(m + ".") for m in DEFERRED))
    assert imported == []
    assert {"caller_mcp.app.monitoring", "caller_mcp.bootstrap", "caller_mcp.store"} <= set(started["after_call"])
