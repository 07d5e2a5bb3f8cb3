"""Static bearer tokens: the ``CALLER_MCP_TOKENS_FILE`` format, ``caller-mcp token create``, and
the constant-time check.

The file holds one ``principal sha256-hex`` line per token (``#`` starts a comment). Only the
SHA-256 of a token is ever written; the token itself is printed once, when it is created, and
never stored or logged. A principal may have several lines (one per token, e.g. a laptop and CI).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

#: A principal's name: what the records and ``list_calls`` show as who placed a call.
PRINCIPAL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
#: Prefix of the tokens ``token create`` makes (tells them apart in a secret scanner's findings).
TOKEN_PREFIX = "cmcp_"


def token_hash(token: str) -> str:
    """The SHA-256 of ``token`` (UTF-8) as 64 lower-case hex digits: what the file stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenEntry:
    """One line of the tokens file: who the token stands for and its SHA-256 (hex)."""

    principal: str
    sha256: str


def parse_tokens(text: str, source: str = "CALLER_MCP_TOKENS_FILE") -> list[TokenEntry]:
    """Read the tokens file's lines.

    Returns:
        One entry per token line, in file order.
    Raises:
        ConfigError: a line that is not ``principal sha256-hex`` (naming its line number, never
            its content past the principal).
    """
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not PRINCIPAL_PATTERN.match(parts[0]) or not _HEX.match(parts[1].lower()):
            raise ConfigError(
                f"{source} line {number} is not 'principal sha256-hex' (a name of letters, digits, . _ @ - "
                "and the 64-hex-digit SHA-256 of the token). Create tokens with `caller-mcp token create NAME`."
            )
        entries.append(TokenEntry(parts[0], parts[1].lower()))
    return entries


def match_token(entries: list[TokenEntry], token: str) -> str | None:
    """The principal whose token is ``token``, or ``None``.

    Every entry is compared, in constant time (``hmac.compare_digest`` on the hashes), so the
    time taken says nothing about which entry, or how much of one, matched.
    """
    digest = token_hash(token)
    found = None
    for entry in entries:
        if hmac.compare_digest(entry.sha256, digest) and found is None:
            found = entry.principal
    return found


def create_token(principal: str, path: Path) -> str:
    """Make a new random token for ``principal`` and append its hash to the file at ``path``
    (created with mode 0600 if missing).

    Returns:
        The token (``cmcp_`` + 43 URL-safe characters, 256 random bits): shown once, never stored.
    Raises:
        ConfigError: a bad principal name, or an existing file that does not parse.
    """
    if not PRINCIPAL_PATTERN.match(principal):
        raise ConfigError(
            f"NAME must be 1-64 letters, digits or . _ @ - (starting with a letter or digit); got {principal!r}."
        )
    if path.exists():
        parse_tokens(path.read_text(encoding="utf-8"), str(path))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(f"{principal} {token_hash(token)}\n")
    return token
