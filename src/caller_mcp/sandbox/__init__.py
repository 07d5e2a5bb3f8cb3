"""The sandbox: an in-process emulator of the ElevenLabs endpoints caller-mcp uses. No real phone rings."""

from .app import ManualClock, SandboxClock, create_app
from .simulation import MAGIC_SUFFIXES, OUTCOME_TEXT

__all__ = ["MAGIC_SUFFIXES", "OUTCOME_TEXT", "ManualClock", "SandboxClock", "create_app"]
