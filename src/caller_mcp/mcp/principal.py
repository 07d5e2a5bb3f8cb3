"""Who is calling a tool: the principal of the request's access token, and its scopes.

Over HTTP with authentication the SDK's bearer middleware has verified the token
(``web/auth.py``); its ``client_id`` is the principal. Over stdio, or on loopback HTTP without
authentication, there is no token: the fixed local principal with every scope.
"""

from __future__ import annotations

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import Context

from ..errors import NotPermitted

#: The scope that places calls, submits, retries and cancels batches and sets the business context.
SCOPE_WRITE = "calls:write"


def access_of(ctx: Context) -> AccessToken | None:
    """The verified access token of the request ``ctx`` serves, or ``None`` (no authentication)."""
    token = get_access_token()
    if token is not None:
        return token
    request = ctx.request_context.request if ctx.request_context is not None else None
    user = getattr(request, "scope", {}).get("user") if request is not None else None
    return user.access_token if isinstance(user, AuthenticatedUser) else None


def current_principal() -> str:
    """The principal of the request being served, for handlers the SDK calls without a Context
    (static resources): the access token the SDK's middleware put in context, else ``local``."""
    from ..app.services import LOCAL_PRINCIPAL

    token = get_access_token()
    return token.client_id if token is not None else LOCAL_PRINCIPAL


def principal_of(ctx: Context) -> str:
    """The principal the request is recorded under: the token's ``client_id``, else ``local``."""
    from ..app.services import LOCAL_PRINCIPAL

    token = access_of(ctx)
    return token.client_id if token is not None else LOCAL_PRINCIPAL


def write_refusal(ctx: Context, what: str) -> NotPermitted | None:
    """The error to answer when the request's token lacks ``calls:write`` (``None`` when it may
    write, or when there is no token).

    Args:
        what: the refused action, e.g. ``"place calls"``.
    """
    token = access_of(ctx)
    if token is None or SCOPE_WRITE in token.scopes:
        return None
    return NotPermitted(
        f"Not done: the access token of {token.client_id} has no {SCOPE_WRITE} scope, which is needed to {what}. "
        "Ask the server's operator for a token with calls:write; reading calls needs only calls:read."
    )
