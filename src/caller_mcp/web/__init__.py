"""The HTTP entry point: MCP over streamable HTTP at ``/mcp``, provider webhooks at
``/webhooks/{provider}``, authentication and transport security (``caller-mcp serve --transport http``)."""
