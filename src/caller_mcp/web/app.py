"""The HTTP application: the MCP server's streamable HTTP app mounted in a Starlette app beside
the provider webhooks, for ``caller-mcp serve --transport http``.

- ``/mcp``: the tools, over the SDK's streamable HTTP, behind the SDK's transport security (Host
  and Origin allowlists: a request with a foreign ``Origin`` gets ``403``) and body-size limit,
  and behind bearer-token authentication when configured (``web/auth.py``).
- ``/.well-known/oauth-protected-resource/mcp``: RFC 9728 metadata (with authentication).
- ``/webhooks/elevenlabs``, ``/webhooks/talkifai``: signed provider events (``web/webhooks.py``).
- ``/healthz``: ``{"ok": true}`` for load balancers.

One process serves every client from one set of services: one store, one dial policy, one set
of caps, and one sandbox emulator per provider, so a call placed by one client can be followed by
any other.
"""

from __future__ import annotations

import ipaddress

import anyio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from ..app.services import Services
from ..bootstrap import bootstrap
from ..errors import ConfigError
from ..mcp.server import build_server
from ..settings import Settings
from .auth import AuthConfig, auth_config

logger = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """True when ``host`` (an interface to bind) is a loopback address or ``localhost``.

    ``0.0.0.0``, ``::`` and any routable address are not: other machines can reach them.
    """
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _authority(host: str, port: int) -> str:
    """``host:port`` as a Host header spells it (IPv6 in brackets)."""
    name = host.strip("[]")
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


def public_url(settings: Settings, host: str, port: int) -> str:
    """The base URL clients use: ``CALLER_MCP_PUBLIC_URL``, else ``http://{host}:{port}``."""
    configured = (settings.caller_mcp_public_url or "").strip().rstrip("/")
    return configured or f"http://{_authority(host, port)}"


def transport_security(settings: Settings, host: str, port: int) -> TransportSecuritySettings:
    """The Host and Origin allowlists: loopback names on any port, the bound address, the public
    URL's host, and ``CALLER_MCP_ALLOWED_HOSTS`` / ``CALLER_MCP_ALLOWED_ORIGINS``. A request with
    any other ``Host`` or ``Origin`` is refused by the SDK (DNS rebinding, cross-site pages)."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    if not is_loopback(host) and host not in ("0.0.0.0", "::"):
        hosts.append(_authority(host, port))
        origins.append(f"http://{_authority(host, port)}")
    configured = (settings.caller_mcp_public_url or "").strip().rstrip("/")
    if configured:
        from urllib.parse import urlsplit

        parts = urlsplit(configured)
        if parts.hostname:
            hosts.append(parts.netloc.rsplit("@", 1)[-1])
            origins.append(f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}")
    hosts.extend(settings.allowed_hosts())
    origins.extend(settings.allowed_origins())
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(dict.fromkeys(hosts)),
        allowed_origins=list(dict.fromkeys(origins)),
    )


def _sandbox_senders(services: Services) -> list[Any]:
    """The webhook senders of the in-process emulators (sandbox mode with
    ``CALLER_MCP_SANDBOX_WEBHOOK_URL`` and a webhook secret); providers that cannot be built are skipped."""
    if not services.settings.caller_mcp_sandbox_webhook_url:
        return []
    senders = []
    for name in ("elevenlabs", "talkifai"):
        try:
            provider = services.provider(name)
        except ConfigError:
            continue
        sender = getattr(provider, "sandbox_webhooks", None)
        if provider.sandbox and sender is not None:
            senders.append(sender)
    return senders


@dataclass
class WebApp:
    """The built HTTP application and what it was built with.

    Attributes:
        app: the Starlette (ASGI) app to serve.
        services: the services every MCP session and webhook shares.
        auth: the authentication in force, or ``None`` (loopback only).
        url: the MCP endpoint, ``{public_url}/mcp``.
    """

    app: Starlette
    services: Services
    auth: AuthConfig | None
    url: str


def create_app(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    services: Services | None = None,
    transport: Any = None,
) -> WebApp:
    """Build the HTTP application.

    Args:
        host, port: where it will be served (the allowlists and default URLs follow them).
        services: prebuilt services (tests); default :func:`~caller_mcp.bootstrap.bootstrap`.
        transport: an ``httpx`` transport for the providers (tests).
    Returns:
        The :class:`WebApp`.
    Raises:
        ConfigError: authentication is misconfigured, or ``host`` is not loopback and no
            authentication is configured (anyone on the network could place calls).
    """
    base = public_url(settings, host, port)
    if not settings.caller_mcp_sandbox_webhook_url and (settings.elevenlabs_webhook_secret or settings.talkifai_webhook_secret):
        # The in-process sandboxes push their signed webhooks to this server itself.
        local = f"http://{_authority('127.0.0.1' if host in ('0.0.0.0', '::') else host, port)}"
        settings = settings.model_copy(update={"caller_mcp_sandbox_webhook_url": local})
    auth = auth_config(settings, base)
    if auth is None and not is_loopback(host):
        raise ConfigError(
            f"Refusing to serve on {host}: it is reachable from other machines and no authentication is "
            "configured, so anyone on the network could place calls. Set CALLER_MCP_TOKENS_FILE (create "
            "tokens with `caller-mcp token create NAME`) or CALLER_MCP_OAUTH_ISSUER, or bind 127.0.0.1."
        )
    app_services = services or bootstrap(settings, transport=transport)
    server = build_server(
        settings,
        services=app_services,
        token_verifier=auth.verifier if auth else None,
        auth=auth.settings if auth else None,
    )
    mcp_app = server.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=transport_security(settings, host, port),
        max_request_body_size=settings.caller_mcp_max_body_bytes,
        host=host,
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # The mounted app's lifespan runs the SDK's session manager, which enters the MCP
        # server's lifespan once for the whole process (one set of services for every session).
        async with mcp_app.router.lifespan_context(mcp_app), anyio.create_task_group() as background:
            for sender in _sandbox_senders(app_services):
                background.start_soon(sender.run)
            yield
            background.cancel_scope.cancel()

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    from .webhooks import webhook_routes

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        *webhook_routes(settings, app_services),
        Mount("/", app=mcp_app),
    ]
    return WebApp(app=Starlette(routes=routes, lifespan=lifespan), services=app_services, auth=auth, url=base + "/mcp")
