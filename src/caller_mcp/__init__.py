"""caller-mcp: an MCP server that gives LLM agents a phone (AI test calls through ElevenLabs)."""

__version__ = "0.1.0"
