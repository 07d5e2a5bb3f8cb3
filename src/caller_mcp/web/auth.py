"""Authentication of the HTTP transport through the SDK's ``TokenVerifier``: static bearer tokens
(``CALLER_MCP_TOKENS_FILE``) or OAuth JWT access tokens (``CALLER_MCP_OAUTH_ISSUER``).

The SDK's bearer middleware answers a request without a valid token with ``401`` and a
``WWW-Authenticate`` header naming the RFC 9728 metadata (``/.well-known/oauth-protected-resource/mcp``).
A verified token's ``client_id`` is the principal every call and batch is recorded under.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings

from ..errors import ConfigError
from ..settings import Settings
from .tokens import TokenEntry, match_token, parse_tokens

logger = logging.getLogger(__name__)

#: Read the history (get_call, list_calls, get_batch_status, list_batches, the resources).
SCOPE_READ = "calls:read"
#: Place, submit, retry or cancel calls and set the business context.
SCOPE_WRITE = "calls:write"
ALL_SCOPES = [SCOPE_READ, SCOPE_WRITE]


class StaticTokenVerifier:
    """A :class:`TokenVerifier` over the tokens file; the file is read again when it changes, so
    ``caller-mcp token create`` takes effect without a restart.

    Every token in the file carries both scopes. The token is never logged.

    Args:
        path: the tokens file (``CALLER_MCP_TOKENS_FILE``).
    Raises:
        ConfigError: the file is missing, unreadable, malformed or empty.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._entries: list[TokenEntry] = []
        self._load()
        if not self._entries:
            raise ConfigError(
                f"CALLER_MCP_TOKENS_FILE ({path}) holds no token; create one with `caller-mcp token create NAME --file {path}`."
            )

    def _load(self) -> None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return
            self._entries = parse_tokens(self.path.read_text(encoding="utf-8"), f"CALLER_MCP_TOKENS_FILE ({self.path})")
            self._stamp = stamp
        except OSError as exc:
            raise ConfigError(f"Cannot read CALLER_MCP_TOKENS_FILE ({self.path}): {exc.strerror}.") from exc

    async def verify_token(self, token: str) -> AccessToken | None:
        """The principal's access (both scopes) when ``token`` is in the file, else ``None``.

        A file that became unreadable or malformed keeps the last good entries (and logs why).
        """
        try:
            self._load()
        except ConfigError as exc:
            logger.error("%s Keeping the tokens read before.", exc)
        principal = match_token(self._entries, token)
        if principal is None:
            return None
        return AccessToken(token=token, client_id=principal, subject=principal, scopes=list(ALL_SCOPES))


@dataclass(frozen=True)
class AuthConfig:
    """What ``build_server`` needs to require authentication: the verifier and the SDK's settings."""

    verifier: TokenVerifier
    settings: AuthSettings
    kind: str  # "tokens" or "oauth", for the start-up log line


def auth_config(settings: Settings, public_url: str) -> AuthConfig | None:
    """The authentication ``settings`` configure, or ``None`` when none is.

    Args:
        public_url: the server's base URL (``http://host:port`` or ``CALLER_MCP_PUBLIC_URL``);
            the protected resource is ``{public_url}/mcp``.
    Raises:
        ConfigError: both kinds configured, or either one incomplete or unreadable.
    """
    tokens_file = settings.caller_mcp_tokens_file
    issuer = (settings.caller_mcp_oauth_issuer or "").strip()
    if tokens_file is not None and issuer:
        raise ConfigError("Set CALLER_MCP_TOKENS_FILE or CALLER_MCP_OAUTH_ISSUER, not both.")
    resource = public_url.rstrip("/") + "/mcp"
    if tokens_file is not None:
        verifier: TokenVerifier = StaticTokenVerifier(Path(tokens_file).expanduser())
        # Static tokens have no authorization server; the metadata names this server as issuer.
        auth = AuthSettings(
            issuer_url=public_url.rstrip("/"),
            resource_server_url=resource,
            required_scopes=[SCOPE_READ],
            validate_token_resource=False,
        )
        return AuthConfig(verifier, auth, "tokens")
    if issuer:
        from .oauth import JwtVerifier

        audience = (settings.caller_mcp_oauth_audience or "").strip()
        if not audience:
            raise ConfigError(
                "CALLER_MCP_OAUTH_AUDIENCE must be set with CALLER_MCP_OAUTH_ISSUER (the aud your issuer puts "
                f"in access tokens for this server, e.g. {resource})."
            )
        jwks_url = (settings.caller_mcp_oauth_jwks_url or "").strip() or issuer.rstrip("/") + "/.well-known/jwks.json"
        verifier = JwtVerifier(issuer=issuer, audience=audience, jwks_url=jwks_url)
        auth = AuthSettings(
            issuer_url=issuer,
            resource_server_url=resource,
            required_scopes=[SCOPE_READ],
            validate_token_resource=False,  # the verifier checks aud itself
        )
        return AuthConfig(verifier, auth, "oauth")
    return None
