"""Everything that reaches past the MCP SDK's public surface, in one module.

- :class:`StrictTool`: a registered tool whose input schema is :func:`~.schema.input_schema`'s,
  which publishes no output schema (see :attr:`StrictTool.output_schema`), and which refuses
  arguments its schema does not name (the SDK's argument model ignores them silently, so a misspelt
  ``goal=`` would dial with the default scenario).
- :func:`run_stdio`: the SDK's stdio loop, with lines that are not JSON-RPC answered instead
  of dropped, stdin read by a thread that never holds the process open, and a graceful stop on
  stdin EOF, SIGTERM and SIGINT.

``tests/mcp/test_sdk.py`` fails loudly when the SDK changes under either.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from functools import cached_property
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import ToolAnnotations
from pydantic import BaseModel

from ..app.stopping import GracefulStop
from .schema import input_schema

logger = logging.getLogger(__name__)


class StrictTool(Tool):
    """A tool with strict, compact schemas that refuses unknown arguments (see the module docstring)."""

    #: The pydantic model of the tool's structured content (``structured_content`` is that model
    #: dumped without null fields; the README's tool table lists its fields).
    answer_model: Any = None

    @cached_property
    def output_schema(self) -> dict[str, Any] | None:  # type: ignore[override]
        """``None``: no output schema is published. The structured content is still sent with
        every answer. Output schemas were 40 % of ``tools/list`` (4.7k of 11.9k characters),
        which clients pay for in every conversation, and the fields are the ones the text
        content carries; the room they took serves the tools themselves."""
        return None

    async def run(self, arguments: dict[str, Any], context: Context, convert_result: bool = False) -> Any:
        """Refuse unknown arguments with a message naming them and the accepted ones, then run.

        Raises:
            ToolError: an unknown argument, or whatever the SDK's ``Tool.run`` raises.
        """
        accepted = set(self.parameters.get("properties", {}))
        unknown = sorted(set(arguments or {}) - accepted)
        if unknown:
            raise ToolError(
                f"Error executing tool {self.name}: unknown argument{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)}; {self.name} accepts {', '.join(sorted(accepted)) or 'no arguments'}. "
                "Nothing was done."
            )
        return await super().run(arguments, context, convert_result=convert_result)


def make_tool(
    fn: Callable[..., Any], *, title: str, answer: type[BaseModel], annotations: ToolAnnotations
) -> StrictTool:
    """Register ``fn`` as a :class:`StrictTool`.

    Args:
        fn: the tool function; its docstring, on one line, is the description.
        title: the human-readable title (top level and in the annotations).
        answer: the model of its structured content.
        annotations: its behaviour hints.
    """
    # structured_output=False: the SDK would otherwise build the answer model's validator and
    # JSON schema for each tool at start-up, for an output schema that is never published.
    tool = Tool.from_function(
        fn, title=title, description=" ".join((fn.__doc__ or "").split()), annotations=annotations,
        structured_output=False,
    )
    fields = dict(tool)
    fields["parameters"] = input_schema(tool.parameters)
    return StrictTool(**fields, answer_model=answer)


def run_stdio(server: MCPServer, stopping: GracefulStop | None = None, drain_secs: float = 0.0) -> int:
    """Serve ``server`` over stdio until stdin closes or SIGTERM/SIGINT arrives; returns the exit code.

    A line that is not JSON-RPC gets ``-32700 Parse error`` (``-32600 Invalid Request`` when it is
    JSON but not a JSON-RPC message), with the request's id when one can be read and ``id: null``
    otherwise, as JSON-RPC 2.0 prescribes, and the server keeps serving (the SDK's stdio loop
    drops such lines silently, which leaves a client waiting forever).

    The stop is graceful (:class:`~caller_mcp.app.stopping.GracefulStop`): on stdin EOF, or on
    the first SIGTERM or SIGINT (stdin open or not), new dials are refused, the dials in flight
    are awaited (at most ``drain_secs``) with their outcomes written and their answers sent while
    stdout is open, and the server exits with 0. While a signal's stop waits, stdin is still
    read and answered. A second signal stops at once: what is still in flight is cancelled and
    recorded ``outcome_unknown``; the exit code is then 128 + the signal's number.

    Args:
        stopping: the stop state the server's dials hold (``build_server(stopping=…)``).
        drain_secs: the longest wait for the dials in flight
            (:func:`~caller_mcp.app.stopping.drain_bound_secs`).
    """
    return anyio.run(_serve_stdio, server, stopping or GracefulStop(), drain_secs)


class _StdinLines:
    """stdin's lines for the SDK's ``stdio_server`` (its ``stdin`` argument), read by a daemon thread.

    The SDK reads stdin on an anyio worker thread, which a cancellation cannot interrupt and which
    the interpreter waits for at exit: a server told to stop while its client keeps stdin open
    would stay until stdin closed. A daemon thread blocked in a read holds nothing open;
    :meth:`close` ends the lines at once.
    """

    def __init__(self, wire: Any) -> None:
        self._wire = wire  # binary, the SDK's claim on fd 0 (fd 0 itself reads the null device)
        self._send, self._receive = anyio.create_memory_object_stream[str](0)

    def start(self) -> None:
        """Start the reading thread (call it on the event loop)."""
        token = anyio.lowlevel.current_token()
        threading.Thread(target=self._pump, args=(token,), name="caller-mcp stdin", daemon=True).start()

    def _pump(self, token: Any) -> None:
        try:
            for raw in self._wire:
                anyio.from_thread.run(self._send.send, raw.decode("utf-8", errors="replace"), token=token)
            anyio.from_thread.run_sync(self._send.close, token=token)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, RuntimeError, OSError, ValueError):
            pass  # the server stopped reading, or the event loop is gone

    def close(self) -> None:
        """End the lines: the reader sees end of input now."""
        self._send.close()

    def __aiter__(self) -> _StdinLines:
        return self

    async def __anext__(self) -> str:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None


async def _serve_stdio(server: MCPServer, stopping: GracefulStop, drain_secs: float) -> int:
    from mcp.server.stdio import _claim_fd, _open_stdin_diversion, stdio_server
    from mcp.shared.message import SessionMessage
    from mcp_types import ErrorData, JSONRPCError

    lowlevel = server._lowlevel_server  # MCPServer.run_stdio_async has no hook for this filter
    wire, release = _claim_fd(0, sys.stdin, "rb", _open_stdin_diversion)
    lines = _StdinLines(wire)
    forced: list[int] = []
    try:
        async with stdio_server(stdin=lines) as (read_stream, write_stream):  # type: ignore[arg-type]
            lines.start()
            send, receive = anyio.create_memory_object_stream[Any](0)

            async def filter_malformed() -> None:
                async with send:
                    async for item in read_stream:
                        if isinstance(item, Exception):
                            code, text, request_id = _classify_bad_line(item)
                            logger.warning("answered a malformed stdin line with %s", code)
                            error = JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=text))
                            await write_stream.send(SessionMessage(error))
                            continue
                        await send.send(item)
                    # End of input (stdin closed, or a signal's stop is done): the server loop ends
                    # when ``send`` closes, and cancels what is left, so the dials are awaited first.
                    await stopping.drain("stdin closed", drain_secs)

            async def stop_on_signals(group: Any) -> None:
                asked = False
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for signum in signals:
                        name = signal.Signals(signum).name
                        if asked:
                            logger.warning(
                                "%s again: stopping now; %d dial(s) in flight are cancelled and recorded "
                                "outcome_unknown", name, stopping.in_flight,
                            )
                            forced.append(signum)
                            group.cancel_scope.cancel()
                            return
                        asked = True
                        logger.warning("%s: stopping (send it again to stop at once)", name)
                        group.start_soon(drain_then_close, name)

            async def drain_then_close(reason: str) -> None:
                await stopping.drain(reason, drain_secs)
                lines.close()

            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(filter_malformed)
                    tg.start_soon(stop_on_signals, tg)
                    await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
                    tg.cancel_scope.cancel()
            finally:
                lines.close()  # the SDK's stdin task ends with the lines
    finally:
        if release is not None:
            release()
    return 128 + forced[0] if forced else 0


def _classify_bad_line(exc: Exception) -> tuple[int, str, str | int | None]:
    """JSON-RPC error code, message and request id for a stdin line the SDK could not read.

    When the line is JSON with a usable ``id`` (it failed only the SDK's stricter reading, e.g.
    a lone surrogate in a string), the error carries that id so the client is not left waiting.
    """
    raw = None
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
            raw = first.get("input") if isinstance(first, dict) else None
        except Exception:  # noqa: BLE001 - best effort only
            raw = None
    parse_error = -32700, "Parse error: the line is not valid JSON. Send one JSON-RPC 2.0 message per line.", None
    message: Any = raw if isinstance(raw, dict) else None
    if isinstance(raw, (str, bytes)):
        try:
            message = json.loads(raw)
        except ValueError:
            return parse_error
    elif message is None and ("json_invalid" in str(exc) or "Invalid JSON" in str(exc)):
        return parse_error
    request_id = message.get("id") if isinstance(message, dict) else None
    if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
        request_id = None
    if request_id is not None:
        return (
            -32600,
            "Invalid Request: the message could not be read (invalid Unicode such as a lone surrogate, "
            "or a field of the wrong type).",
            request_id,
        )
    return -32600, "Invalid Request: the line is JSON but not a JSON-RPC 2.0 message.", None
