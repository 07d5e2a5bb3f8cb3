"""The ``caller-mcp`` console script.

- ``caller-mcp`` (no arguments): serve MCP over stdio. stdout carries JSON-RPC only; logs go to stderr.
- ``caller-mcp serve [--transport stdio|http] [--host H] [--port N]``: the same server over stdio
  (default) or streamable HTTP at ``/mcp`` with the provider webhooks (``web/app.py``).
- ``caller-mcp token create NAME [--file F]``: a new static bearer token for the HTTP transport.
- ``caller-mcp sandbox-api [--provider elevenlabs|talkifai] [--port N] [--host H] [--speed X]``: serve a
  provider's emulator over HTTP.
- ``caller-mcp test SUITE.yaml [--junit FILE] [--markdown FILE] [--dry-run] [--timeout SECS]
  [--require-verdicts]``: run a test suite for CI (:mod:`caller_mcp.cli_suite`).
"""

from __future__ import annotations

import argparse
import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _configure_logging(level: str) -> None:
    """Send every log record to stderr (never stdout, which is the JSON-RPC channel)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    resolved = logging.getLevelName(level.strip().upper()) if isinstance(level, str) else logging.WARNING
    root.setLevel(resolved if isinstance(resolved, int) else logging.WARNING)


def _positive(text: str) -> float:
    """argparse type: a number greater than zero."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="caller-mcp",
        description="MCP server that places AI test calls (ElevenLabs; sandbox when no keys are set). "
        "With no command it serves MCP over stdio.",
        epilog="Environment variables (ELEVENLABS_API_KEY, ELEVENLABS_AGENT_ID, "
        "ELEVENLABS_AGENT_PHONE_NUMBER_ID, TALKIFAI_API_KEY, TALKIFAI_FROM_NUMBER, CALLER_MCP_*) are listed in the "
        "README's \"Configuration\" table. With none of a provider's keys set, its calls go to its built-in sandbox.",
    )
    parser.add_argument("--version", action="version", version=f"caller-mcp {__version__}")
    sub = parser.add_subparsers(
        dest="command",
        title="commands (none: serve MCP over stdio, as an MCP client launches it)",
    )
    serve = sub.add_parser(
        "serve",
        help="serve MCP over stdio (default) or streamable HTTP for a team",
        description="Serve the MCP tools over stdio (default) or streamable HTTP at /mcp, with the "
        "provider webhooks at /webhooks/elevenlabs and /webhooks/talkifai. A non-loopback --host needs "
        "CALLER_MCP_TOKENS_FILE or CALLER_MCP_OAUTH_ISSUER.",
    )
    serve.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default stdio")
    serve.add_argument("--host", default="127.0.0.1", help="interface for http (default 127.0.0.1, loopback only)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port for http (default 8000)")
    token = sub.add_parser("token", help="manage static bearer tokens for the HTTP transport")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser(
        "create",
        help="print a new random token once and append its hash to the tokens file",
        description="Print a new random bearer token for NAME (the principal its calls are recorded under) "
        "and append 'NAME sha256-hex' to the tokens file. The token is shown once and never stored.",
    )
    create.add_argument("name", metavar="NAME", help="principal, e.g. alice or ci")
    create.add_argument("--file", default=None, help="tokens file (default: CALLER_MCP_TOKENS_FILE)")
    sandbox = sub.add_parser(
        "sandbox-api",
        help="serve a provider emulator (ElevenLabs or TalkifAI) over HTTP on loopback",
        description="Serve the ElevenLabs (default) or TalkifAI emulator over HTTP on loopback. No real phone is ever dialled.",
    )
    sandbox.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
    sandbox.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1, loopback only)")
    sandbox.add_argument("--speed", type=_positive, default=1.0, help="sandbox seconds per real second (default 1)")
    sandbox.add_argument("--api-key", default=None, help="the key it accepts (default: the emulator's own)")
    sandbox.add_argument(
        "--provider", choices=("elevenlabs", "talkifai"), default="elevenlabs", help="which emulator (default elevenlabs)"
    )
    sandbox.add_argument(
        "--webhook-url", default=None,
        help="post signed webhooks to URL/webhooks/PROVIDER as calls end (a caller-mcp serve --transport http)",
    )
    sandbox.add_argument("--webhook-secret", default=None, help="the webhook signing secret (with --webhook-url)")
    from .cli_suite import add_parser

    add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point. Returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "sandbox-api":
        return _serve_sandbox(args)
    if args.command == "token":
        return _create_token(args)
    if args.command == "serve" and args.transport == "http":
        return _serve_http(args)
    if args.command == "test":
        from .cli_suite import main as run_suite

        return run_suite(args)

    from .app.stopping import GracefulStop, drain_bound_secs
    from .mcp.sdk import run_stdio
    from .mcp.server import build_server
    from .settings import Settings

    settings = Settings.load()
    _configure_logging(settings.caller_mcp_log_level)
    if settings._problem:
        logging.getLogger("caller_mcp").error("%s", settings._problem)
    # stdin EOF, SIGTERM or SIGINT: no new dials, the ones in flight finish and are recorded.
    stopping = GracefulStop()
    return run_stdio(build_server(settings, stopping=stopping), stopping, drain_bound_secs(settings))


def _create_token(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .errors import ConfigError
    from .settings import Settings
    from .web.tokens import create_token

    path = args.file or (str(Settings.load().caller_mcp_tokens_file or "") or None)
    if path is None:
        print("caller-mcp: name the tokens file with --file F or CALLER_MCP_TOKENS_FILE.", file=sys.stderr)
        return 2
    try:
        token = create_token(args.name, Path(path).expanduser())
    except ConfigError as exc:
        print(f"caller-mcp: {exc}", file=sys.stderr)
        return 2
    print(token)
    print(
        f"Token for {args.name} added to {path} (only its SHA-256 is stored; this is the one time it is shown). "
        "Clients send it as 'Authorization: Bearer <token>'.",
        file=sys.stderr,
    )
    return 0


def _serve_http(args: argparse.Namespace) -> int:
    import uvicorn

    from .errors import ConfigError
    from .settings import Settings
    from .web.app import create_app

    settings = Settings.load()
    _configure_logging(settings.caller_mcp_log_level)
    log = logging.getLogger("caller_mcp")
    if settings._problem:
        log.error("%s", settings._problem)
    try:
        web = create_app(settings, host=args.host, port=args.port)
    except ConfigError as exc:
        print(f"caller-mcp: {exc}", file=sys.stderr)
        return 2
    # Said at every level, after the socket is bound (uvicorn's own start-up line is kept too).
    print(
        f"caller-mcp: serving MCP on {web.url} "
        + (f"(authentication: {web.auth.kind})" if web.auth else "(no authentication: loopback only)"),
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(web.app, host=args.host, port=args.port, log_level="info", access_log=False)
    return 0


def _with_webhooks(emulator: object, provider: str, url: str, secret: str) -> object:
    """The emulator mounted in an app whose lifespan runs its webhook sender."""
    from contextlib import asynccontextmanager

    import anyio
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from .sandbox.webhooks import elevenlabs_sender, talkifai_sender

    sender = (talkifai_sender if provider == "talkifai" else elevenlabs_sender)(emulator, url, secret)

    @asynccontextmanager
    async def lifespan(_: Starlette):  # type: ignore[no-untyped-def]
        async with anyio.create_task_group() as group:
            group.start_soon(sender.run)
            yield
            group.cancel_scope.cancel()

    app = Starlette(routes=[Mount("/", app=emulator)], lifespan=lifespan)
    app.state.sandbox = emulator.state.sandbox  # type: ignore[attr-defined]
    return app


def _serve_sandbox(args: argparse.Namespace) -> int:
    import uvicorn

    if args.provider == "talkifai":
        from .providers.talkifai.config import (
            SANDBOX_API_KEY,
            SANDBOX_FROM_NUMBER,
            SANDBOX_FROM_PHONE_NUMBER_ID,
            SANDBOX_ORGANIZATION_ID,
        )
        from .sandbox.talkifai import create_app

        what = (
            f"TalkifAI API (Bearer key: %s; from_number {SANDBOX_FROM_NUMBER}, fromPhoneNumberId "
            f"{SANDBOX_FROM_PHONE_NUMBER_ID}, organizationId {SANDBOX_ORGANIZATION_ID})"
        )
    else:
        from .providers.elevenlabs.config import SANDBOX_API_KEY
        from .sandbox import create_app

        what = "ElevenLabs API (xi-api-key: %s)"
    _configure_logging("INFO")
    app = create_app(api_key=args.api_key or SANDBOX_API_KEY, speed=args.speed)
    if args.webhook_url:
        if not args.webhook_secret:
            print("caller-mcp: --webhook-url needs --webhook-secret (the secret the server verifies with).", file=sys.stderr)
            return 2
        app = _with_webhooks(app, args.provider, args.webhook_url, args.webhook_secret)
    logging.getLogger("caller_mcp").info(
        "Sandbox " + what + " on http://%s:%s. No real phone is ever dialled.",
        "<custom>" if args.api_key else SANDBOX_API_KEY,
        args.host,
        args.port,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
