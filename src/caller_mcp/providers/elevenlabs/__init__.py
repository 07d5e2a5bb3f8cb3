"""The ElevenLabs provider: settings, HTTP client and JSON mapping; its sandbox is ``caller_mcp.sandbox``."""

from __future__ import annotations

from typing import Any

import httpx

from ...settings import Settings
from .client import CAPABILITIES, ElevenLabsProvider
from .config import ElevenLabsConfig, resolve

NAME = "elevenlabs"


def build(settings: Settings, *, transport: Any = None) -> ElevenLabsProvider:
    """Build the ElevenLabs provider from ``settings``.

    Args:
        transport: an ``httpx`` transport to use instead of the network (``httpx.MockTransport``
            in tests, ``httpx.ASGITransport`` around a sandbox app). When ``None``, sandbox mode
            mounts a fresh in-process emulator and real mode uses the network.
    Returns:
        The provider, holding one long-lived ``httpx.AsyncClient``; close it with ``aclose()``.
    Raises:
        ConfigError: the settings are incomplete or invalid.
    """
    config = resolve(settings)
    emulator = None
    if transport is None and config.sandbox:
        from ...sandbox import create_app

        emulator = create_app(api_key=config.api_key.get_secret_value(), speed=config.sandbox_speed)
        transport = httpx.ASGITransport(app=emulator)
    client = httpx.AsyncClient(
        base_url=config.api_base,
        transport=transport,
        timeout=httpx.Timeout(config.read_timeout_secs, connect=config.connect_timeout_secs),
        headers={"user-agent": "caller-mcp"},
    )
    provider = ElevenLabsProvider(config, client)
    if emulator is not None:
        from ...sandbox.webhooks import sender_from_settings

        # The in-process emulator's signed webhooks, run by `serve --transport http` (None unless
        # CALLER_MCP_SANDBOX_WEBHOOK_URL and the provider's webhook secret are set).
        provider.sandbox_webhooks = sender_from_settings(NAME, emulator, settings)
    return provider


__all__ = ["CAPABILITIES", "NAME", "ElevenLabsConfig", "ElevenLabsProvider", "build", "resolve"]
