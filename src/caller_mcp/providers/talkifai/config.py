"""TalkifAI settings resolved from :class:`~caller_mcp.settings.Settings`: which key, which
registered number calls come from, and whether the sandbox emulator answers instead of the API.

Rules (issue 11): neither ``TALKIFAI_API_KEY`` nor ``TALKIFAI_FROM_NUMBER`` set → the sandbox, even
with ``CALLER_MCP_PROVIDER=talkifai`` (so that choice works offline with no account); both set →
the real API; one of them → seed 002's wording naming the missing one. ``CALLER_MCP_SANDBOX=true``
(or ``CALLER_MCP_PROVIDER=sandbox``) forces the sandbox. ``TALKIFAI_FROM_NUMBER`` is checked
against E.164 here, at resolve time, before any request (seed 004: both numbers must be E.164).

Batches (``openapi.json``) need two more values the outbound call does not: the calling number's
Studio id (``TALKIFAI_FROM_PHONE_NUMBER_ID``, sent as ``fromPhoneNumberId``; nothing documents how
to look it up from the E.164 number) and, to list batch jobs, ``TALKIFAI_ORGANIZATION_ID``. Both are
optional: the tools that need them say which to set.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from ...domain.policy import E164_PATTERN
from ...errors import ConfigError
from ...settings import Settings
from ..http import check_key

#: Seed 004 and ``openapi.json`` agree on the host with no ``/v1`` prefix (the API introduction's
#: ``https://api.talkifai.dev/v1`` contradicts them; we follow the seed).
DEFAULT_API_BASE = "https://api.talkifai.dev"
REQUIRED_VARIABLES = ("TALKIFAI_API_KEY", "TALKIFAI_FROM_NUMBER")

#: What the sandbox emulator knows (see ``caller_mcp.sandbox.talkifai``).
SANDBOX_API_KEY = "talkifai_sandbox"
SANDBOX_FROM_NUMBER = "+15550000100"
SANDBOX_AGENT_ID = "agent_sandbox_voice"
SANDBOX_AGENT_NAME = "Sandbox voice agent"
SANDBOX_API_BASE = "http://talkifai.sandbox.caller-mcp.invalid"
SANDBOX_FROM_PHONE_NUMBER_ID = "phone_sandbox_0100"
SANDBOX_ORGANIZATION_ID = "org_sandbox"


@dataclass(frozen=True)
class TalkifaiConfig:
    """The resolved TalkifAI settings.

    Attributes:
        api_base: base URL without a trailing slash.
        api_key: sent as ``Authorization: Bearer …``; a ``SecretStr`` so it never shows in a repr.
        from_number: the registered number (E.164) whose Studio-assigned agent speaks.
        reads_timeout_secs: the read timeout of every request but the outbound call (reads,
            batch requests: ``CALLER_MCP_READ_TIMEOUT_SECS``), so their retries fit a tool call.
        connect_timeout_secs, read_timeout_secs: the HTTP client's timeouts, seconds; the read
            timeout outlasts the 60 s the outbound call may block.
        sandbox: True when the emulator answers: no real phone can ring.
        sandbox_speed: how much faster than real time the emulator runs its calls.
        from_phone_number_id: Studio id of ``from_number`` (batches' ``fromPhoneNumberId``), if set.
        organization_id: the organization whose batch jobs are listed, if set.
        batch_concurrency: ``concurrentCallLimit`` sent with a batch (1-50).
        batch_max_attempts: ``maxAttempts`` sent with a batch (1-10; 1 = TalkifAI never redials).
    """

    api_base: str
    api_key: SecretStr
    from_number: str
    connect_timeout_secs: float = 5.0
    read_timeout_secs: float = 65.0
    reads_timeout_secs: float = 20.0
    sandbox: bool = False
    sandbox_speed: float = 1.0
    from_phone_number_id: str | None = None
    organization_id: str | None = None
    batch_concurrency: int = 5
    batch_max_attempts: int = 1


def resolve(settings: Settings) -> TalkifaiConfig:
    """Resolve the TalkifAI settings (see the module docstring for the rules).

    Raises:
        ConfigError: with a message naming the variable to fix.
    """
    key = settings.talkifai_api_key.get_secret_value().strip() if settings.talkifai_api_key else ""
    values = {"TALKIFAI_API_KEY": key, "TALKIFAI_FROM_NUMBER": (settings.talkifai_from_number or "").strip()}
    missing = [name for name in REQUIRED_VARIABLES if not values[name]]
    if key:
        check_key("TALKIFAI_API_KEY", key)
    timeouts = {
        "connect_timeout_secs": settings.caller_mcp_connect_timeout_secs,
        "read_timeout_secs": settings.talkifai_read_timeout_secs,
        "reads_timeout_secs": settings.caller_mcp_read_timeout_secs,
        "batch_concurrency": settings.talkifai_batch_concurrency,
        "batch_max_attempts": settings.talkifai_batch_max_attempts,
    }
    if settings.sandbox_requested() or len(missing) == len(REQUIRED_VARIABLES):
        # The sandbox has its own key and number; configured real ones are never sent anywhere.
        return TalkifaiConfig(
            api_base=SANDBOX_API_BASE,
            api_key=SecretStr(SANDBOX_API_KEY),
            from_number=SANDBOX_FROM_NUMBER,
            from_phone_number_id=SANDBOX_FROM_PHONE_NUMBER_ID,
            organization_id=SANDBOX_ORGANIZATION_ID,
            sandbox=True,
            sandbox_speed=settings.caller_mcp_sandbox_speed,
            **timeouts,
        )
    if missing:
        raise ConfigError(f"Missing required environment variables: {', '.join(missing)}")
    from_number = values["TALKIFAI_FROM_NUMBER"]
    if not E164_PATTERN.fullmatch(from_number):
        raise ConfigError(
            f"TALKIFAI_FROM_NUMBER must be in E.164 format (for example +12025550100); got {from_number!r}."
        )
    api_base = (settings.talkifai_api_base or DEFAULT_API_BASE).strip().rstrip("/")
    if not api_base.startswith(("https://", "http://")):
        raise ConfigError(f"TALKIFAI_API_BASE must be an http(s) URL; got {settings.talkifai_api_base!r}.")
    return TalkifaiConfig(
        api_base=api_base,
        api_key=SecretStr(key),
        from_number=from_number,
        from_phone_number_id=(settings.talkifai_from_phone_number_id or "").strip() or None,
        organization_id=(settings.talkifai_organization_id or "").strip() or None,
        **timeouts,
    )
