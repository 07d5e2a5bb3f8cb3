"""Telephony providers: a registry from provider name to the factory that builds it.

Each provider package exposes ``build(settings, *, transport=None)``; ``build_provider`` is the
only place that chooses one by name. The sandbox is a mode of a provider (its emulator mounted as
the HTTP transport), not a provider of its own.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ConfigError
from ..ports import Provider, WebhookParser
from ..settings import Settings

#: Provider name → the module that builds it (imported on first use: start-up never needs it).
REGISTRY = {"elevenlabs": "caller_mcp.providers.elevenlabs", "talkifai": "caller_mcp.providers.talkifai"}


def build_provider(name: str, settings: Settings, *, transport: Any = None) -> Provider:
    """Build the provider called ``name`` from ``settings``.

    Args:
        transport: an ``httpx`` transport in place of the network (tests, a custom sandbox).
    Raises:
        ConfigError: an unknown name, or the provider's settings are incomplete or invalid.
    """
    module = REGISTRY.get(name)
    if module is None:
        raise ConfigError(f"Unknown provider {name!r}; use one of {', '.join(REGISTRY)}.")
    return importlib.import_module(module).build(settings, transport=transport)


def build_webhook_parser(name: str, secret: str) -> WebhookParser:
    """The :class:`~caller_mcp.ports.WebhookParser` of provider ``name`` (its ``webhooks``
    module), verifying with ``secret``.

    Raises:
        ConfigError: an unknown name.
    """
    module = REGISTRY.get(name)
    if module is None:
        raise ConfigError(f"Unknown provider {name!r}; use one of {', '.join(REGISTRY)}.")
    return importlib.import_module(module + ".webhooks").parser(secret)


__all__ = ["REGISTRY", "build_provider", "build_webhook_parser"]
