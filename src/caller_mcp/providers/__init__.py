"""Telephony providers. ``create_provider`` is the only place that builds an HTTP client."""

from __future__ import annotations

from typing import Any

from ..config import ProviderConfig
from .base import Provider


def create_provider(config: ProviderConfig, *, transport: Any = None) -> Provider:
    """Build the provider for a resolved configuration.

    Args:
        config: from :meth:`caller_mcp.config.Settings.resolve`.
        transport: an ``httpx`` transport to use instead of the network (``httpx.MockTransport``
            in tests, ``httpx.ASGITransport`` around a sandbox app). When ``None``, the sandbox
            mounts a fresh in-process emulator and ElevenLabs uses the network.
    Returns:
        A :class:`Provider` holding one long-lived ``httpx.AsyncClient``; close it with ``aclose()``.
    """
    import httpx

    from .elevenlabs import ElevenLabsProvider, default_timeout

    if transport is None and config.is_sandbox:
        from ..sandbox import create_app

        transport = httpx.ASGITransport(app=create_app(api_key=config.api_key.get_secret_value(), speed=config.sandbox_speed))
    client = httpx.AsyncClient(
        base_url=config.api_base,
        transport=transport,
        timeout=default_timeout(config),
        headers={"user-agent": "caller-mcp"},
    )
    return ElevenLabsProvider(config, client)


__all__ = ["Provider", "create_provider"]
