"""The MCP edge: server wiring, tools, confirmation, schemas, the prompt and the stdio loop."""
