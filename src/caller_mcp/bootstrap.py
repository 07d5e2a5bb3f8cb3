"""The composition root: the one place that names concrete classes and builds the application
from :class:`~caller_mcp.settings.Settings` (after cosmicpython's ``bootstrap``)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from .app.services import Services
from .settings import Settings
from .ports import Store
from .store import SqliteStore, ThreadedStore, open_store


def bootstrap(
    settings: Settings,
    *,
    transport: Any = None,
    store: Store | SqliteStore | None = None,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Services:
    """Build the application's services.

    Args:
        settings: the configuration (``Settings.load()`` reads the environment).
        transport: an ``httpx`` transport for every provider's client in place of the network
            (``httpx.MockTransport`` in tests, ``httpx.ASGITransport`` around an emulator).
        store: a store to use instead of the one ``settings`` names (a blocking ``SqliteStore``
            is run on a worker thread).
        sleep, monotonic: the clock of waits (tests pass their own).
    Returns:
        :class:`Services`; the store and providers open on first use. Close with ``aclose()``.
    """
    from .providers import build_provider

    chosen = ThreadedStore(lambda: store) if isinstance(store, SqliteStore) else store
    return Services(
        settings=settings,
        open_store=(lambda: chosen) if chosen is not None else (lambda: open_store(settings)),
        make_provider=lambda name: build_provider(name, settings, transport=transport),
        sleep=sleep,
        monotonic=monotonic,
    )
