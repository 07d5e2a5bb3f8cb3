"""``caller-mcp serve`` and ``caller-mcp token create`` as an operator runs them."""

from __future__ import annotations

import subprocess

from caller_mcp.web.tokens import match_token, parse_tokens

from .test_cli import SCRIPT, clean_env


def test_serve_http_on_a_non_loopback_address_without_authentication_exits_2(tmp_path):
    done = subprocess.run(
        [SCRIPT, "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "1"],
        env=clean_env(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "Refusing to serve on 0.0.0.0" in done.stderr and "CALLER_MCP_TOKENS_FILE" in done.stderr
    assert "Traceback" not in done.stderr


def test_token_create_prints_the_token_once_and_stores_only_its_hash(tmp_path):
    tokens = tmp_path / "team" / "tokens"
    done = subprocess.run(
        [SCRIPT, "token", "create", "alice", "--file", str(tokens)],
        env=clean_env(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("cmcp_") and len(token) > 40
    stored = tokens.read_text()
    assert token not in stored and token not in done.stderr
    assert match_token(parse_tokens(stored), token) == "alice"
    assert tokens.stat().st_mode & 0o077 == 0
    again = subprocess.run(
        [SCRIPT, "token", "create", "ci"], env={**clean_env(tmp_path), "CALLER_MCP_TOKENS_FILE": str(tokens)},
        capture_output=True, text=True, timeout=60,
    )
    assert again.returncode == 0, again.stderr
    entries = parse_tokens(tokens.read_text())
    assert [e.principal for e in entries] == ["alice", "ci"]
    assert match_token(entries, again.stdout.strip()) == "ci" and match_token(entries, token) == "alice"


def test_token_create_refuses_a_bad_name(tmp_path):
    done = subprocess.run(
        [SCRIPT, "token", "create", "bad name!", "--file", str(tmp_path / "t")],
        env=clean_env(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and "NAME must be" in done.stderr
    assert not (tmp_path / "t").exists()
