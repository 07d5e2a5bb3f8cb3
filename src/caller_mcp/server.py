"""MCP wiring only: tool signatures, annotations, descriptions, and CallerError → ToolError.

``build_server(settings)`` makes a fresh ``MCPServer``; nothing is built at import time. The
service (store + provider) lives in the server's lifespan and is reached through ``Context``.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, ElicitationResult, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from . import __version__
from .config import Settings
from .errors import CallerError
from .models import (
    BatchStatusResult,
    BusinessContextResult,
    CallListResult,
    CancelBatchResult,
    PlaceCallResult,
    RecipientInput,
    SubmitBatchResult,
)

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "caller-mcp places real AI phone calls: an AI caller rings a business line and plays a customer "
    "with a goal (scenario). Typical flow: set_business_context → place_call (one number) or "
    "submit_batch (many) → get_batch_status → cancel_batch if needed; list_calls shows the history. "
    "Every call costs money and rings a real phone unless the answer says provider 'sandbox'; "
    "dry_run=true checks a call without dialling."
)

E164 = Field(description="Destination in E.164, e.g. +15551234567.")
DESCRIPTION_ARG = Field(description="Who the business is (overrides the stored context).")
SCENARIO_ARG = Field(description="The caller's goal, e.g. 'order a large pepperoni pizza for delivery'.")
BATCH_ID_ARG = Field(description="The batch_id returned by submit_batch.")


def _result(model: BaseModel, *, exclude: set[str] | None = None) -> CallToolResult:
    """Structured content = the whole model; text = compact JSON without bulky or empty fields."""
    text = model.model_dump_json(exclude_none=True, exclude=exclude)
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json"),
    )


T = TypeVar("T")


async def _run(awaitable: Awaitable[T], tool: str) -> T:
    """Await a service call; anticipated failures become ToolErrors with their own message."""
    try:
        return await awaitable
    except CallerError as exc:
        raise ToolError(str(exc)) from exc
    except Exception as exc:
        logger.exception("unexpected failure in %s", tool)
        raise ToolError(
            f"caller-mcp failed unexpectedly in {tool} ({type(exc).__name__}). The server is still running; "
            "its log on stderr has the details."
        ) from exc


def _service(ctx: Context) -> Any:
    return ctx.request_context.lifespan_context


class Confirmation(BaseModel):
    """What the person is asked when a dial needs confirmation."""

    confirm: bool = Field(description="Dial now?")


#: What a confirmation resolver answers when it does not ask: go ahead, the policy is the guard.
#: (The SDK wraps a resolver's plain value as an accepted elicitation.)
NOT_ASKED = Confirmation(confirm=True)
#: The confirmation parameter's value when the tool function is called without the resolver.
_GO_AHEAD = AcceptedElicitation(data=NOT_ASKED)


def _asks(ctx: Context, kind: str) -> bool:
    """Whether a dial of ``kind`` (``call`` or ``batch``) must be confirmed by the person.

    Only when ``CALLER_MCP_CONFIRM`` says so (``always``; ``batch`` for batches) and the client
    declared elicitation support; otherwise the dial policy is the guard. Consent is never read
    from a tool argument.

    Raises:
        ToolError: ``CALLER_MCP_CONFIRM`` has an invalid value.
    """
    try:
        mode = _service(ctx).settings.confirm_mode()
    except CallerError as exc:
        raise ToolError(str(exc)) from exc
    if mode == "never" or (mode == "batch" and kind != "batch"):
        return False
    capabilities = ctx.client_capabilities
    return capabilities is not None and capabilities.elicitation is not None


async def ask_call(
    ctx: Context,
    to_number: str,
    business_description: str | None = None,
    scenario: str | None = None,
    allow_redial: bool = False,
    dry_run: bool = False,
) -> Any:
    """Resolver: ask the person before place_call dials, when required (see ``_asks``)."""
    if dry_run or not _asks(ctx, "call"):
        return NOT_ASKED
    question = _service(ctx).call_question(to_number, business_description, scenario, allow_redial=allow_redial)
    return NOT_ASKED if question is None else Elicit(question, Confirmation)


async def ask_batch(
    ctx: Context,
    recipients: list[str | RecipientInput],
    call_name: str | None = None,
    business_description: str | None = None,
    scenario: str | None = None,
    scheduled_time_unix: int | None = None,
    dry_run: bool = False,
) -> Any:
    """Resolver: ask the person before submit_batch submits, when required (see ``_asks``)."""
    if dry_run or not _asks(ctx, "batch"):
        return NOT_ASKED
    question = _service(ctx).batch_question(recipients, call_name, business_description, scenario, scheduled_time_unix)
    return NOT_ASKED if question is None else Elicit(question, Confirmation)


def _confirmed(answer: Any) -> bool:
    """True when the person accepted and ticked ``confirm`` (or was not asked)."""
    return isinstance(answer, AcceptedElicitation) and bool(answer.data.confirm)


def build_server(settings: Settings, *, transport: Any = None) -> MCPServer:
    """Build the caller-mcp MCP server.

    Args:
        settings: the configuration (``Settings()`` reads the environment).
        transport: optional ``httpx`` transport for the provider's client (tests, custom sandbox).
    Returns:
        An ``MCPServer`` with the tools registered; run it with ``.run()`` (stdio) or hand it to
        ``mcp.Client`` in-process. The store and provider open in its lifespan.
    """

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[Any]:
        from .service import CallerService

        service = CallerService(settings, transport=transport)
        try:
            yield service
        finally:
            await service.aclose()

    async def set_business_context(
        description: Annotated[str, Field(description="Who the business is and what it offers.")],
        ctx: Context,
        scenario: Annotated[str | None, Field(description="Default caller goal for later calls.")] = None,
    ) -> Annotated[CallToolResult, BusinessContextResult]:
        """Save the business the AI caller will ring and, optionally, its default goal (scenario).

        Replaces any earlier context and survives restarts. No call is placed and nothing is
        charged. Next: place_call or submit_batch, which use this context when they get no
        business_description or scenario of their own."""

        return _result(await _run(_service(ctx).set_context(description, scenario), "set_business_context"))

    async def place_call(
        to_number: Annotated[str, E164],
        ctx: Context,
        business_description: Annotated[str | None, DESCRIPTION_ARG] = None,
        scenario: Annotated[str | None, SCENARIO_ARG] = None,
        allow_redial: Annotated[bool, Field(description="Ring again within the redial guard.")] = False,
        dry_run: Annotated[bool, Field(description="Check and show the request; do not dial.")] = False,
        confirmation: Annotated[ElicitationResult[Confirmation], Resolve(ask_call)] = _GO_AHEAD,
    ) -> Annotated[CallToolResult, PlaceCallResult]:
        """Ring a phone number now: an AI caller plays a customer of the business and pursues the scenario.

        This places a REAL phone call that costs money (unless the answer says provider 'sandbox').
        The same number and scenario within a couple of minutes returns the earlier call instead
        (duplicate_of) unless allow_redial. Description and scenario default to set_business_context's.
        Returns the local call_id and the provider's conversation_id; list_calls shows the history."""
        service = _service(ctx)
        answer = await _run(
            service.place_call(
                to_number,
                business_description,
                scenario,
                allow_redial=allow_redial,
                dry_run=dry_run,
                confirmed=_confirmed(confirmation),
            ),
            "place_call",
        )
        return _result(answer, exclude={"raw"})

    async def submit_batch(
        recipients: Annotated[
            list[str | RecipientInput],
            Field(description="E.164 numbers, or objects {phone_number, scenario?, business_description?}."),
        ],
        ctx: Context,
        call_name: Annotated[str | None, Field(description="Name of the batch; generated when absent.")] = None,
        business_description: Annotated[str | None, DESCRIPTION_ARG] = None,
        scenario: Annotated[str | None, Field(description="Caller goal for recipients without their own.")] = None,
        scheduled_time_unix: Annotated[int | None, Field(description="Start time, Unix seconds; omit to start now.")] = None,
        dry_run: Annotated[bool, Field(description="Check and show the request; do not submit.")] = False,
        confirmation: Annotated[ElicitationResult[Confirmation], Resolve(ask_batch)] = _GO_AHEAD,
    ) -> Annotated[CallToolResult, SubmitBatchResult]:
        """Schedule AI test calls to many numbers at once, each with its own goal if given.

        Every recipient is a REAL phone call that costs money (unless provider is 'sandbox'). All
        entries are checked first; if any is invalid nothing is sent. Next: get_batch_status with
        the returned batch_id to follow progress; cancel_batch to stop it."""
        return _result(
            await _run(
                _service(ctx).submit_batch(
                    recipients,
                    call_name,
                    business_description,
                    scenario,
                    scheduled_time_unix,
                    dry_run=dry_run,
                    confirmed=_confirmed(confirmation),
                ),
                "submit_batch",
            )
        )

    async def get_batch_status(
        batch_id: Annotated[str, BATCH_ID_ARG], ctx: Context
    ) -> Annotated[CallToolResult, BatchStatusResult]:
        """Read a batch's progress: its status, how many recipients are in each status, and which
        failed or reached voicemail (with conversation ids). Free, places no call; poll it every few
        seconds while the batch runs."""
        return _result(await _run(_service(ctx).get_batch_status(batch_id), "get_batch_status"))

    async def list_calls(
        ctx: Context,
        limit: Annotated[int, Field(description="1-200.")] = 20,
        status: Annotated[str | None, Field(description="e.g. initiated, failed, outcome_unknown.")] = None,
        to_number: Annotated[str | None, Field(description="E.164.")] = None,
        since: Annotated[str | None, Field(description="ISO 8601 or Unix seconds.")] = None,
    ) -> Annotated[CallToolResult, CallListResult]:
        """The calls this server placed, newest first, from its local records (survives restarts).
        Free: no provider request. outcome_unknown means the provider may have dialled; check before
        placing that call again."""
        return _result(await _run(_service(ctx).list_calls(limit, status, to_number, since), "list_calls"))

    async def cancel_batch(
        batch_id: Annotated[str, BATCH_ID_ARG], ctx: Context
    ) -> Annotated[CallToolResult, CancelBatchResult]:
        """Cancel a batch: recipients not yet dialled are never called; calls already under way
        finish. Cannot be undone. Returns the batch's new status."""
        return _result(await _run(_service(ctx).cancel_batch(batch_id), "cancel_batch"))

    # Dialling is "destructive" in MCP's sense: an irreversible effect outside the server, which
    # clients use to ask for confirmation. Only set_business_context stays in the closed world.
    tools = [
        _tool(set_business_context, "Set business context", destructive=True, idempotent=True, open_world=False),
        _tool(place_call, "Place an AI test call", destructive=True, idempotent=False),
        _tool(submit_batch, "Submit a batch of AI test calls", destructive=True, idempotent=False),
        _tool(get_batch_status, "Get batch status", read_only=True, idempotent=True),
        _tool(list_calls, "List placed calls", read_only=True, idempotent=True, open_world=False),
        _tool(cancel_batch, "Cancel a batch", destructive=True, idempotent=True),
    ]
    return MCPServer("caller-mcp", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan, tools=tools)


def _tool(
    fn: Any,
    title: str,
    *,
    read_only: bool = False,
    destructive: bool = False,
    idempotent: bool = False,
    open_world: bool = True,
) -> Tool:
    """Make ``fn`` a tool with explicit annotations and compact schemas.

    The description is ``fn``'s docstring, dedented. Generated schema titles like ``"Call Name"``
    only repeat the property name; dropping them keeps the whole ``tools/list`` answer small,
    which every conversation pays for in context.
    """
    annotations = ToolAnnotations(
        title=title,
        read_only_hint=read_only,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )
    tool = Tool.from_function(fn, description=inspect.cleandoc(fn.__doc__ or ""), annotations=annotations)
    tool.parameters = compact_schema(tool.parameters)
    if tool.fn_metadata.output_schema is not None:
        tool.fn_metadata.output_schema = compact_schema(tool.fn_metadata.output_schema, keep_defaults=False)
    return tool


def compact_schema(schema: Any, *, keep_defaults: bool = True) -> Any:
    """Return a shorter, equivalent copy of a JSON schema.

    Drops ``title`` keywords (property names are kept) and writes ``anyOf: [{type: T}, {type: null}]``
    as ``type: [T, "null"]``. With ``keep_defaults=False`` (output schemas, where a default
    says nothing to the reader) ``default`` keywords go too.
    """
    if isinstance(schema, list):
        return [compact_schema(item, keep_defaults=keep_defaults) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("additionalProperties") is True:  # the default; says nothing
        schema = {k: v for k, v in schema.items() if k != "additionalProperties"}
    any_of = schema.get("anyOf")
    if isinstance(any_of, list):
        any_of = [compact_schema(a, keep_defaults=keep_defaults) for a in any_of]
    if (
        isinstance(any_of, list)
        and len(any_of) == 2
        and {"type": "null"} in any_of
        and all(isinstance(a, dict) and set(a) == {"type"} and isinstance(a["type"], str) for a in any_of)
    ):
        other = next(a["type"] for a in any_of if a["type"] != "null")
        schema = {"type": [other, "null"], **{k: v for k, v in schema.items() if k != "anyOf"}}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if (key == "title" and isinstance(value, str)) or (key == "default" and not keep_defaults):
            continue
        if key == "description" and not keep_defaults and "properties" in schema:
            continue  # an output model's docstring: the tool description already says it
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: compact_schema(sub, keep_defaults=keep_defaults) for name, sub in value.items()}
        else:
            out[key] = compact_schema(value, keep_defaults=keep_defaults)
    return out


def run_stdio(server: MCPServer) -> None:
    """Serve ``server`` over stdio, answering lines that are not JSON-RPC with a JSON-RPC error.

    The SDK's stdio loop drops such lines silently, which leaves a client waiting forever. Here a
    line that does not parse gets ``-32700 Parse error`` (``-32600 Invalid Request`` when it is
    JSON but not a JSON-RPC message), with the request's id when one can be read and ``id: null``
    otherwise, as JSON-RPC 2.0 prescribes, and the server keeps serving.
    """
    import anyio

    anyio.run(_serve_stdio, server)


async def _serve_stdio(server: MCPServer) -> None:
    import anyio
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage
    from mcp_types import ErrorData, JSONRPCError

    lowlevel = server._lowlevel_server  # MCPServer.run_stdio_async has no hook for this filter
    async with stdio_server() as (read_stream, write_stream):
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

        async with anyio.create_task_group() as tg:
            tg.start_soon(filter_malformed)
            await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
            tg.cancel_scope.cancel()


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
