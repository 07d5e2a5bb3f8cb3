"""The ``caller-mcp`` console script.

- ``caller-mcp`` (no arguments): serve MCP over stdio. stdout carries JSON-RPC only; logs go to stderr.
- ``caller-mcp sandbox-api [--provider elevenlabs|talkifai] [--port N] [--host H] [--speed X]``: serve a
  provider's emulator over HTTP.
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
        "ELEVENLABS_AGENT_PHONE_NUMBER_ID, CALLER_MCP_*) are listed in the README's "
        "\"Configuration\" table. With none of the ELEVENLABS_* keys set, calls go to the built-in sandbox.",
    )
    parser.add_argument("--version", action="version", version=f"caller-mcp {__version__}")
    sub = parser.add_subparsers(
        dest="command",
        title="commands (none: serve MCP over stdio, as an MCP client launches it)",
    )
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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point. Returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "sandbox-api":
        return _serve_sandbox(args)

    from .mcp.sdk import run_stdio
    from .mcp.server import build_server
    from .settings import Settings

    settings = Settings.load()
    _configure_logging(settings.caller_mcp_log_level)
    if settings._problem:
        logging.getLogger("caller_mcp").error("%s", settings._problem)
    run_stdio(build_server(settings))
    return 0


def _serve_sandbox(args: argparse.Namespace) -> int:
    import uvicorn

    if args.provider == "talkifai":
        from .providers.talkifai.config import SANDBOX_API_KEY, SANDBOX_FROM_NUMBER
        from .sandbox.talkifai import create_app

        what = f"TalkifAI API (Bearer key: %s; from_number {SANDBOX_FROM_NUMBER})"
    else:
        from .providers.elevenlabs.config import SANDBOX_API_KEY
        from .sandbox import create_app

        what = "ElevenLabs API (xi-api-key: %s)"
    _configure_logging("INFO")
    app = create_app(api_key=args.api_key or SANDBOX_API_KEY, speed=args.speed)
    logging.getLogger("caller_mcp").info(
        "Sandbox " + what + " on http://%s:%s. No real phone is ever dialled.",
        "<custom>" if args.api_key else SANDBOX_API_KEY,
        args.host,
        args.port,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
