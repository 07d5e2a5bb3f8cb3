"""Helpers shared by the tool-level test modules."""

from __future__ import annotations

from caller_mcp.config import Settings


def real_settings(db_path, key: str, *, phone_provider: str = "twilio", **extra) -> Settings:
    """A real (ElevenLabs) provider configuration on ``db_path``, for tests whose
    ``httpx.MockTransport`` answers in the provider's place.

    ``phone_provider="twilio"`` (the default) means no phone-number lookup: the call-placing
    POST is the only request; ``"auto"`` keeps the lookup.
    """
    return Settings(
        _env_file=None,
        caller_mcp_db=db_path,
        elevenlabs_api_key=key,
        elevenlabs_agent_id="agent_1",
        elevenlabs_agent_phone_number_id="phnum_1",
        elevenlabs_phone_provider=phone_provider,
        **extra,
    )
