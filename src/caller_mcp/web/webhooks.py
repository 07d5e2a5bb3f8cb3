"""The webhook endpoints: ``POST /webhooks/elevenlabs`` and ``POST /webhooks/talkifai``.

Authenticated by the provider's signature, not by a bearer token (``providers/<name>/webhooks.py``
verifies it on the raw body). Answers: ``200 {"ok": true, "result": applied|replay|unknown|ignored}``;
``401`` for a missing, wrong or stale signature (nothing stored); ``400`` for a signed body that is
not an event; ``413`` for a body over :data:`~caller_mcp.domain.webhooks.MAX_WEBHOOK_BYTES`
(refused while reading, before it is parsed); ``404`` when the provider's secret is not set here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..app import webhooks
from ..app.services import Services
from ..domain.webhooks import MAX_WEBHOOK_BYTES
from ..errors import CallerError, InvalidInput, WebhookRejected
from ..ports import WebhookParser
from ..providers import build_webhook_parser
from ..settings import Settings

logger = logging.getLogger(__name__)


class _TooLarge(Exception):
    pass


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The raw body, refused past ``limit`` bytes while it is read (a declared length too)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _endpoint(services: Services, parser: WebhookParser | None, secret_name: str) -> Callable[[Request], object]:
    async def receive(request: Request) -> JSONResponse:
        if parser is None:
            return JSONResponse(
                {"ok": False, "error": f"{secret_name} is not set on this server: it does not accept these webhooks."},
                status_code=404,
            )
        try:
            body = await _bounded_body(request, MAX_WEBHOOK_BYTES)
        except _TooLarge:
            return JSONResponse({"ok": False, "error": f"Body over {MAX_WEBHOOK_BYTES} bytes."}, status_code=413)
        try:
            outcome = await webhooks.receive(services, parser, body, request.headers)
        except WebhookRejected as exc:
            logger.warning("refused a %s webhook: %s", parser.provider, exc)
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=401)
        except InvalidInput as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        except CallerError as exc:  # the store cannot be opened: let the provider retry
            logger.error("a %s webhook could not be applied: %s", parser.provider, exc)
            return JSONResponse({"ok": False, "error": "The server cannot record the event now."}, status_code=503)
        return JSONResponse(outcome.as_json())

    return receive


def webhook_routes(settings: Settings, services: Services) -> list[Route]:
    """The two webhook routes; a provider whose secret is not configured answers 404.

    Each configured provider is added to ``services.webhooks_received``, so ``get_call`` on its
    calls may wait for a push.
    """
    parsers: dict[str, tuple[WebhookParser | None, str]] = {}
    for name, secret, variable in (
        ("elevenlabs", settings.elevenlabs_webhook_secret, "ELEVENLABS_WEBHOOK_SECRET"),
        ("talkifai", settings.talkifai_webhook_secret, "TALKIFAI_WEBHOOK_SECRET"),
    ):
        value = secret.get_secret_value() if secret is not None else ""
        parsers[name] = (build_webhook_parser(name, value) if value else None, variable)
        if value:
            services.webhooks_received.add(name)
    return [
        Route(f"/webhooks/{name}", _endpoint(services, parser, variable), methods=["POST"], name=f"webhook_{name}")
        for name, (parser, variable) in parsers.items()
    ]
