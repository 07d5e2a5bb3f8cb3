"""The TalkifAI provider (seed 004): settings, HTTP client and JSON mapping; its sandbox is
``caller_mcp.sandbox.talkifai``."""

from __future__ import annotations

from typing import Any

import httpx

from ...settings import Settings
from .client import CAPABILITIES, TalkifaiProvider
from .config import TalkifaiConfig, resolve

NAME = "talkifai"


def build(settings: Settings, *, transport: Any = None) -> TalkifaiProvider:
    """Build the TalkifAI provider from ``settings``.

    Args:
        transport: an ``httpx`` transport to use instead of the network. When ``None``, sandbox
            mode mounts a fresh in-process emulator (``httpx.ASGITransport``) and real mode uses
            the network.
    Raises:
        ConfigError: the settings are incomplete or invalid.
    """
    config = resolve(settings)
    emulator = None
    if transport is None and config.sandbox:
        from ...sandbox.talkifai import create_app

        emulator = create_app(api_key=config.api_key.get_secret_value(), speed=config.sandbox_speed)
        transport = httpx.ASGITransport(app=emulator)
    client = httpx.AsyncClient(
        base_url=config.api_base,
        transport=transport,
        # Reads use the general read timeout; the outbound call, which blocks until answered,
        # gets config.read_timeout_secs per request (HttpApi.dial_read_timeout_secs).
        timeout=httpx.Timeout(config.reads_timeout_secs, connect=config.connect_timeout_secs),
        headers={"user-agent": "caller-mcp"},
    )
    provider = TalkifaiProvider(config, client)
    if emulator is not None:
        from ...sandbox.webhooks import sender_from_settings

        # The in-process emulator's signed webhooks, run by `serve --transport http` (None unless
        # CALLER_MCP_SANDBOX_WEBHOOK_URL and the provider's webhook secret are set).
        provider.sandbox_webhooks = sender_from_settings(NAME, emulator, settings)
    return provider


__all__ = ["CAPABILITIES", "NAME", "TalkifaiConfig", "TalkifaiProvider", "build", "resolve"]
