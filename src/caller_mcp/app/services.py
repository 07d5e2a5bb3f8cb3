"""What every use case works with: the settings, the store, the providers and the clock.

Built by :func:`caller_mcp.bootstrap.bootstrap`; the store and the providers are opened on first
use, so a server starts and lists its tools whatever the configuration.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup

from ..domain.caps import Caps
from ..domain.policy import DialPolicy
from ..errors import ConfigError, NotSupported
from ..ports import CAPABILITY_WORDS, Provider, Store
from ..settings import SANDBOX_NOTE, Settings
from ..store import LOCAL_PRINCIPAL  # noqa: F401 - re-exported: the app's default principal
from .stopping import GracefulStop


#: Batches whose last status poll :attr:`Services.polled` remembers.
MAX_REMEMBERED_POLLS = 256


@dataclass
class Services:
    """The running application's collaborators.

    Attributes:
        settings: the process settings.
        open_store: builds the store (called once, on first use; it does no I/O before its
            first awaited operation).
        make_provider: builds a provider by name (called once per name, on first use).
        sleep, monotonic, now: the clock (seconds; ``now`` is Unix time). Tests pass their own.
    """

    settings: Settings
    open_store: Callable[[], Store]
    make_provider: Callable[[str], Provider]
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], float] = time.time
    #: Where dials that block until answered run (the server's lifespan task group, so a graceful
    #: stop waits for them); ``None`` outside a server: such dials then run inline.
    background: TaskGroup | None = field(default=None, repr=False)
    #: The stop state: every dial holds it from its intent to its recorded outcome, and a
    #: stopping server refuses new dials (``app/stopping.py``).
    stopping: GracefulStop = field(default_factory=GracefulStop, repr=False)
    #: What the last status poll of each batch recorded: ``batch id → (status, last update,
    #: dispatched, counts)``; a poll that finds the same writes nothing (at most
    #: :data:`MAX_REMEMBERED_POLLS` batches, the oldest forgotten first).
    polled: dict[str, tuple[Any, ...]] = field(default_factory=dict, repr=False)
    _store: Store | None = field(default=None, repr=False)
    #: The providers whose signed webhooks this process receives (``serve --transport http`` with
    #: the provider's webhook secret): a get_call on their calls may wait for a push.
    webhooks_received: set[str] = field(default_factory=set)
    #: One event per call someone waits on; set (and dropped) when a webhook updates the call.
    _changes: dict[str, anyio.Event] = field(default_factory=dict, repr=False)
    _providers: dict[str, Provider] = field(default_factory=dict, repr=False)

    @property
    def store(self) -> Store:
        """The store (its operations are awaited; the first one opens it and raises
        ``ConfigError`` when it cannot be opened)."""
        if self._store is None:
            self._store = self.open_store()
        return self._store

    def call_changed(self, call_id: str) -> None:
        """Wake every :meth:`pause` waiting on ``call_id`` (a webhook updated its record)."""
        event = self._changes.pop(call_id, None)
        if event is not None:
            event.set()

    async def pause(self, secs: float, call_id: str | None = None) -> bool:
        """Wait ``secs`` seconds on the services' clock, or less if ``call_id``'s record changes
        first (:meth:`call_changed`).

        Returns:
            True when woken by a change, False when the time ran out.
        """
        if call_id is None:
            await self.sleep(secs)
            return False
        event = self._changes.setdefault(call_id, anyio.Event())
        woken = False

        async with anyio.create_task_group() as group:

            async def sleeper() -> None:
                await self.sleep(secs)
                group.cancel_scope.cancel()

            async def waiter() -> None:
                nonlocal woken
                await event.wait()
                woken = True
                group.cancel_scope.cancel()

            group.start_soon(sleeper)
            group.start_soon(waiter)
        return woken

    def provider(self, name: str | None = None) -> Provider:
        """The provider called ``name`` (default: the configured default), built on first use.

        Raises:
            ConfigError: unknown name, or incomplete or invalid settings for it.
        """
        # Rows written by the first release name the sandbox as their provider: it was ElevenLabs'.
        default = self.settings.default_provider()
        key = default if name in (None, "sandbox") else name
        if key not in self._providers:
            self._providers[key] = self.make_provider(key)
        provider = self._providers[key]
        if key != default and provider.sandbox and not self.provider(default).sandbox:
            # Real calls by default, and a second provider named with none of its settings: its
            # emulator must not answer for it as if it had dialled.
            raise ConfigError(
                f"The {key} provider is not configured (its variables are unset, so only its sandbox could "
                f"answer) while {default} places real calls. Set its variables (README, Configuration) to use "
                "both, or leave provider out."
            )
        return provider

    def remember_poll(self, batch_id: str, signature: tuple[Any, ...]) -> None:
        """Remember the ``signature`` of what a batch's status poll recorded (see :attr:`polled`)."""
        self.polled.pop(batch_id, None)
        self.polled[batch_id] = signature
        while len(self.polled) > MAX_REMEMBERED_POLLS:
            self.polled.pop(next(iter(self.polled)))

    def require(self, provider: Provider, *capabilities: str) -> None:
        """Refuse a use case the provider cannot serve.

        Raises:
            NotSupported: naming the provider, what it lacks and, where the provider says
                (``unsupported_advice``), what to do instead.
        """
        missing = provider.capabilities.missing(*capabilities)
        if missing:
            lacks = ", ".join(CAPABILITY_WORDS.get(name, name) for name in missing)
            advice = getattr(provider, "unsupported_advice", {})
            extra = "".join(f" {advice[name]}" for name in missing if name in advice)
            raise NotSupported(f"The {provider.name} provider does not support {lacks}.{extra}")

    @staticmethod
    def note(provider: Provider) -> str | None:
        """The sandbox note for answers about ``provider``'s calls (``None`` for a real provider)."""
        return SANDBOX_NOTE if provider.sandbox else None

    def answered_by(self, provider: Provider) -> dict[str, Any]:
        """The fields every answer carries about who answered it: ``provider`` (its name),
        ``sandbox`` (True when its emulator answered) and the sandbox ``note``."""
        return {"provider": provider.name, "sandbox": provider.sandbox, "note": self.note(provider)}

    def policy(self, provider: Provider) -> DialPolicy:
        """The dial policy for ``provider`` and the operator's allowlist."""
        return DialPolicy(
            real_provider=not provider.sandbox,
            allowed_numbers=self.settings.allowed_numbers(),
            allowed_countries=self.settings.allowed_countries(),
        )

    def caps(self, provider: Provider) -> Caps:
        """The caps in force for ``provider`` (stricter defaults when real phones ring)."""
        per_hour, batch_size = self.settings.call_caps(sandbox=provider.sandbox)
        return Caps(per_hour=per_hour, batch_size=batch_size)

    async def aclose(self) -> None:
        """Close every provider's HTTP client and the store, if they were opened."""
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.aclose()
        if self._store is not None:
            store, self._store = self._store, None
            await store.aclose()
