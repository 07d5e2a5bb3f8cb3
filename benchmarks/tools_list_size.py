"""Size of caller-mcp's ``tools/list`` answer, which every conversation pays for in context.

Starts ``caller-mcp`` over stdio (sandbox, temp ``CALLER_MCP_DB``), lists the tools and prints the
length in characters of the tool definitions serialized as the server sends them (compact JSON, as
the SDK writes it on the wire), with a per-tool breakdown (each column is that field alone; "total"
is the whole tool object). The indented form a person reads is printed too, for comparison.

    .venv/bin/python benchmarks/tools_list_size.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

CALLER_MCP = Path(sys.executable).parent / "caller-mcp"
TARGET_CHARS = 12_000
#: How the SDK serialises a message on the wire: no spaces after separators.
SEP = (",", ":")


def size(value: object) -> int:
    return 0 if value is None else len(value if isinstance(value, str) else json.dumps(value, separators=SEP))


async def main() -> int:
    with tempfile.TemporaryDirectory(prefix="caller-mcp-bench-") as tmp:
        params = StdioServerParameters(
            command=str(CALLER_MCP), env={"CALLER_MCP_DB": str(Path(tmp) / "caller-mcp.sqlite3")}, cwd=tmp
        )
        async with Client(params) as client:
            result = await client.list_tools()

    tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in result.tools]
    total = len(json.dumps(tools, separators=SEP))

    print(f"{'tool':<22}{'description':>12}{'inputSchema':>13}{'outputSchema':>14}{'annotations':>13}{'total':>8}")
    for t in tools:
        print(
            f"{t['name']:<22}{size(t.get('description')):>12}{size(t.get('inputSchema')):>13}"
            f"{size(t.get('outputSchema')):>14}{size(t.get('annotations')):>13}{len(json.dumps(t, separators=SEP)):>8}"
        )
    verdict = "OK" if total <= TARGET_CHARS else "ABOVE TARGET"
    print(f"tools/list result, {len(tools)} tools: {total:,} characters   (target ≤ {TARGET_CHARS:,}: {verdict})")
    print(f"(json.dumps with its default spaces: {len(json.dumps(tools)):,} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
