"""Floor for benchmarks/cold_start.py: the smallest useful MCPServer (one trivial tool) over stdio.

Run by cold_start.py with the same interpreter as caller-mcp; not meant to be used on its own.
"""

from mcp.server.mcpserver import MCPServer

server = MCPServer("hello")


@server.tool()
def hello(name: str = "world") -> str:
    """Say hello."""
    return f"hello, {name}"


if __name__ == "__main__":
    server.run()
