"""The tokens file: parsing, matching, and the verifier that re-reads it."""

from __future__ import annotations

import pytest

from caller_mcp.errors import ConfigError
from caller_mcp.web.auth import StaticTokenVerifier
from caller_mcp.web.tokens import create_token, match_token, parse_tokens, token_hash

pytestmark = pytest.mark.anyio


def test_parse_reads_principals_and_hashes_and_skips_comments():
    text = f"# team\nalice {token_hash('a')}\n\nci {token_hash('c').upper()}  # the pipeline\n"
    entries = parse_tokens(text)
    assert [(e.principal, e.sha256) for e in entries] == [("alice", token_hash("a")), ("ci", token_hash("c"))]


@pytest.mark.parametrize("line", ["alice", "alice deadbeef", f"al ice {token_hash('a')}", f"alice {token_hash('a')} extra"])
def test_a_malformed_line_names_its_number_and_not_its_hash(line):
    with pytest.raises(ConfigError, match="line 2 is not 'principal sha256-hex'") as caught:
        parse_tokens(f"ok {token_hash('x')}\n{line}\n")
    assert token_hash("a") not in str(caught.value)


def test_match_finds_the_principal_of_a_token_and_nothing_else():
    entries = parse_tokens(f"alice {token_hash('t1')}\nbob {token_hash('t2')}\n")
    assert match_token(entries, "t1") == "alice"
    assert match_token(entries, "t2") == "bob"
    assert match_token(entries, "t3") is None
    assert match_token(entries, "") is None


async def test_the_verifier_sees_tokens_created_after_it_started(tmp_path):
    path = tmp_path / "tokens"
    first = create_token("alice", path)
    verifier = StaticTokenVerifier(path)
    assert (await verifier.verify_token(first)).client_id == "alice"
    later = create_token("ci", path)
    access = await verifier.verify_token(later)
    assert access is not None and access.client_id == "ci" and set(access.scopes) == {"calls:read", "calls:write"}
    assert await verifier.verify_token("cmcp_nope") is None


async def test_a_file_broken_while_running_keeps_the_tokens_read_before(tmp_path, caplog):
    path = tmp_path / "tokens"
    token = create_token("alice", path)
    verifier = StaticTokenVerifier(path)
    path.write_text("garbage line here\n")
    assert (await verifier.verify_token(token)).client_id == "alice"
    assert token not in caplog.text


def test_a_missing_tokens_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read CALLER_MCP_TOKENS_FILE"):
        StaticTokenVerifier(tmp_path / "absent")
