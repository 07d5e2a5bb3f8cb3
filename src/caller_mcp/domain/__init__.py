"""Pure rules of caller-mcp: calls, batches, caller script, dial policy, caps, transcripts and input checks. No I/O."""
