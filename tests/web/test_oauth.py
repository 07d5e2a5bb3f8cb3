"""OAuth JWT access tokens, signed by a test key whose JWKS is served on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from caller_mcp.settings import Settings
from caller_mcp.web.oauth import JwtVerifier, token_scopes
from tests.fakes import PIZZA

from .conftest import mcp_client, serving
from .test_http import INIT, MCP_HEADERS

pytestmark = pytest.mark.anyio
ISSUER = "https://auth.example.test"
AUDIENCE = "https://calls.example.test/mcp"


@pytest.fixture(scope="module")
def signing_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_url(signing_key):
    """The test key's JWKS, served by a stdlib HTTP server on 127.0.0.1."""
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "test-1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def mint(signing_key):
    def _mint(sub="alice", scope="calls:read calls:write", aud=AUDIENCE, iss=ISSUER, exp_in=600, key=None, kid="test-1"):
        now = int(time.time())
        claims = {"sub": sub, "iss": iss, "aud": aud, "iat": now, "exp": now + exp_in, "scope": scope}
        return jwt.encode(claims, key or signing_key, algorithm="RS256", headers={"kid": kid})

    return _mint


@pytest.fixture
def oauth_settings(db_path, jwks_url) -> Settings:
    return Settings(
        _env_file=None,
        caller_mcp_db=db_path,
        caller_mcp_oauth_issuer=ISSUER,
        caller_mcp_oauth_audience=AUDIENCE,
        caller_mcp_oauth_jwks_url=jwks_url,
    )


async def test_a_good_jwt_is_verified_with_the_issuers_keys(jwks_url, mint):
    verifier = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_url)
    access = await verifier.verify_token(mint())
    assert access is not None and access.client_id == "alice" and access.scopes == ["calls:read", "calls:write"]


@pytest.mark.parametrize(
    "change",
    [
        {"exp_in": -120},  # expired beyond the leeway
        {"aud": "https://other.example/mcp"},
        {"iss": "https://evil.example"},
        {"kid": "unknown-kid"},
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "unknown-key"],
)
async def test_a_bad_jwt_is_refused(jwks_url, mint, change):
    verifier = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_url)
    assert await verifier.verify_token(mint(**change)) is None


async def test_a_jwt_signed_by_another_key_is_refused(jwks_url, mint):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_url)
    assert await verifier.verify_token(mint(key=other)) is None
    assert await verifier.verify_token("not.a.jwt") is None


def test_scopes_come_from_scope_or_scp():
    assert token_scopes({"scope": "calls:read calls:write"}) == ["calls:read", "calls:write"]
    assert token_scopes({"scp": ["calls:read"]}) == ["calls:read"]
    assert token_scopes({}) == []


async def test_over_http_good_expired_wrong_audience_and_missing_scope(oauth_settings, mint, build_web):
    with serving(build_web(oauth_settings)) as url:
        async with mcp_client(url, mint()) as client:
            placed = await client.call_tool("place_call", {"to_number": "+15551230000", "business_description": PIZZA})
            assert not placed.is_error, placed.content
        async with mcp_client(url, mint(sub="reader", scope="calls:read")) as reader:
            listed = await reader.call_tool("list_calls", {})
            refused = await reader.call_tool("place_call", {"to_number": "+15551230001", "business_description": PIZZA})
            cancel = await reader.call_tool("cancel_batch", {"batch_id": "btc_x"})
        async with httpx.AsyncClient() as http:
            expired = await http.post(url + "/mcp", json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {mint(exp_in=-120)}"})
            wrong = await http.post(url + "/mcp", json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {mint(aud='x')}"})
            no_read = await http.post(url + "/mcp", json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {mint(scope='')}"})
            metadata = (await http.get(url + "/.well-known/oauth-protected-resource/mcp")).json()
    assert not listed.is_error
    assert refused.is_error and "no calls:write scope" in refused.content[0].text and "place calls" in refused.content[0].text
    assert cancel.is_error and "no calls:write scope" in cancel.content[0].text
    assert expired.status_code == 401 and "invalid_token" in expired.headers["www-authenticate"]
    assert wrong.status_code == 401
    assert no_read.status_code == 403 and "insufficient_scope" in no_read.headers["www-authenticate"]
    assert metadata["authorization_servers"] == [ISSUER]
