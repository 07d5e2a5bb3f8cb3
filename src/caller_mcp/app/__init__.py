"""The use cases, one module each: dialling, monitoring, batches, context, recording."""
