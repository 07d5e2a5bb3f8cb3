"""OAuth access tokens (JWT) from an issuer, verified with PyJWT against the issuer's JWKS.

A token is accepted when its signature verifies with a key of ``CALLER_MCP_OAUTH_JWKS_URL``
(default ``{issuer}/.well-known/jwks.json``; asymmetric algorithms only), its ``iss`` is
``CALLER_MCP_OAUTH_ISSUER``, its ``aud`` names ``CALLER_MCP_OAUTH_AUDIENCE``, and it has not
expired (``exp`` required; 30 s leeway for clock skew). Its scopes are read from ``scope``
(RFC 8693/9068: space-separated) or ``scp`` (a list); the principal is ``sub``.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import jwt
from mcp.server.auth.provider import AccessToken

logger = logging.getLogger(__name__)

#: Signature algorithms accepted (never ``none`` or HMAC: the key comes from the issuer's JWKS).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
LEEWAY_SECS = 30


def token_scopes(claims: dict[str, Any]) -> list[str]:
    """The scopes a JWT grants: ``scope`` (space-separated string) or ``scp`` (list or string)."""
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list):
        return [item for item in raw if isinstance(item, str)]
    return []


class JwtVerifier:
    """A ``TokenVerifier`` for JWT access tokens from one issuer.

    Args:
        issuer: the expected ``iss``. audience: the expected ``aud``. jwks_url: the issuer's keys
            (fetched on first use, cached for five minutes, refetched for an unknown ``kid``).
    """

    def __init__(self, *, issuer: str, audience: str, jwks_url: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self._keys = jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=300, timeout=5)

    def _decode(self, token: str) -> dict[str, Any]:
        key = self._keys.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=ALGORITHMS,
            audience=self.audience,
            issuer=self.issuer,
            leeway=LEEWAY_SECS,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's principal (``sub``) and scopes when it verifies, else ``None``.

        The JWKS is fetched in a worker thread (PyJWT's client is synchronous). Why a token was
        refused is logged at INFO without the token.
        """
        try:
            claims = await anyio.to_thread.run_sync(self._decode, token)
        except jwt.PyJWKClientError as exc:
            logger.warning("JWT refused: the issuer's keys (%s) could not be used: %s", self.jwks_url, exc)
            return None
        except jwt.PyJWTError as exc:
            logger.info("JWT refused: %s", type(exc).__name__)
            return None
        subject = str(claims["sub"])
        return AccessToken(
            token=token,
            client_id=subject,
            subject=subject,
            scopes=token_scopes(claims),
            expires_at=int(claims["exp"]),
            claims={"iss": claims.get("iss")},
        )
