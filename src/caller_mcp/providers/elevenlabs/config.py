"""ElevenLabs settings resolved from :class:`~caller_mcp.settings.Settings`: which agent and phone
number, which key, and whether the sandbox emulator answers instead of the real API.

Rules (foundation issue, seed 002's variable names): none of the three required ``ELEVENLABS_*``
variables set and no ``CALLER_MCP_PROVIDER`` → the sandbox; all three → the real API; some but
not all, or ``CALLER_MCP_PROVIDER=elevenlabs`` with any missing → seed 002's error naming exactly
the missing ones. ``CALLER_MCP_PROVIDER=sandbox`` or ``CALLER_MCP_SANDBOX=true`` forces the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr

from ...errors import ConfigError
from ...settings import Settings
from ..http import check_key

DEFAULT_API_BASE = "https://api.elevenlabs.io"
REQUIRED_VARIABLES = ("ELEVENLABS_API_KEY", "ELEVENLABS_AGENT_ID", "ELEVENLABS_AGENT_PHONE_NUMBER_ID")
PHONE_PROVIDERS = ("twilio", "sip_trunk", "auto")
#: ``ELEVENLABS_SCRIPT_MODE``: how the caller script reaches the agent (``mapping.client_data``).
SCRIPT_MODES = ("override", "variables")

#: Identifiers the sandbox emulator knows (see ``sandbox/app.py``).
SANDBOX_API_KEY = "sandbox"
SANDBOX_AGENT_ID = "agent_sandbox"
SANDBOX_PHONE_NUMBER_ID = "phnum_sandbox_twilio"
SANDBOX_SIP_PHONE_NUMBER_ID = "phnum_sandbox_sip"
SANDBOX_API_BASE = "http://sandbox.caller-mcp.invalid"

PhoneProvider = Literal["twilio", "sip_trunk", "auto"]
ScriptMode = Literal["override", "variables"]


@dataclass(frozen=True)
class ElevenLabsConfig:
    """The resolved ElevenLabs settings.

    Attributes:
        api_base: base URL without a trailing slash.
        api_key: sent as the ``xi-api-key`` header; a ``SecretStr`` so it never shows in a repr.
        agent_id: the agent that plays the caller. agent_phone_number_id: the number calls come from.
        phone_provider: ``twilio``, ``sip_trunk`` or ``auto`` (look the number up once).
        connect_timeout_secs, read_timeout_secs: the HTTP client's shared, seconds.
        sandbox: True when the emulator answers: no real phone can ring.
        sandbox_speed: how much faster than real time the emulator runs its calls.
        script_mode: ``override`` (the prompt is overridden per call, seed 002) or ``variables``
            (the agent's own prompt gets the description and scenario as dynamic variables).
    """

    api_base: str
    api_key: SecretStr
    agent_id: str
    agent_phone_number_id: str
    phone_provider: PhoneProvider
    connect_timeout_secs: float = 5.0
    read_timeout_secs: float = 20.0
    sandbox: bool = False
    sandbox_speed: float = 1.0
    script_mode: ScriptMode = "override"


def resolve(settings: Settings) -> ElevenLabsConfig:
    """Resolve the ElevenLabs settings (see the module docstring for the rules).

    Raises:
        ConfigError: with a message naming the variable to fix.
    """
    phone_provider = (settings.elevenlabs_phone_provider or "auto").strip().lower()
    if phone_provider not in PHONE_PROVIDERS:
        raise ConfigError(
            f"ELEVENLABS_PHONE_PROVIDER must be one of {', '.join(PHONE_PROVIDERS)}; "
            f"got {settings.elevenlabs_phone_provider!r}."
        )
    script_mode = (settings.elevenlabs_script_mode or "override").strip().lower()
    if script_mode not in SCRIPT_MODES:
        raise ConfigError(
            f"ELEVENLABS_SCRIPT_MODE must be one of {', '.join(SCRIPT_MODES)}; got {settings.elevenlabs_script_mode!r}."
        )
    key = settings.elevenlabs_api_key.get_secret_value().strip() if settings.elevenlabs_api_key else ""
    values = {
        "ELEVENLABS_API_KEY": key,
        "ELEVENLABS_AGENT_ID": (settings.elevenlabs_agent_id or "").strip(),
        "ELEVENLABS_AGENT_PHONE_NUMBER_ID": (settings.elevenlabs_agent_phone_number_id or "").strip(),
    }
    missing = [name for name in REQUIRED_VARIABLES if not values[name]]
    shared = {
        "connect_timeout_secs": settings.caller_mcp_connect_timeout_secs,
        "read_timeout_secs": settings.caller_mcp_read_timeout_secs,
        "script_mode": script_mode,
    }
    if settings.sandbox_requested() or (settings.provider_choice() is None and len(missing) == len(REQUIRED_VARIABLES)):
        # The sandbox has its own key and ids; configured real ones are never sent anywhere.
        # ELEVENLABS_PHONE_PROVIDER=sip_trunk picks its SIP-trunk number, to exercise that path.
        return ElevenLabsConfig(
            api_base=SANDBOX_API_BASE,
            api_key=SecretStr(SANDBOX_API_KEY),
            agent_id=SANDBOX_AGENT_ID,
            agent_phone_number_id=SANDBOX_SIP_PHONE_NUMBER_ID if phone_provider == "sip_trunk" else SANDBOX_PHONE_NUMBER_ID,
            phone_provider=phone_provider,  # type: ignore[arg-type]
            sandbox=True,
            sandbox_speed=settings.caller_mcp_sandbox_speed,
            **shared,
        )
    if missing:
        raise ConfigError(f"Missing required environment variables: {', '.join(missing)}")
    check_key("ELEVENLABS_API_KEY", key)
    api_base = (settings.elevenlabs_api_base or DEFAULT_API_BASE).strip().rstrip("/")
    if not api_base.startswith(("https://", "http://")):
        raise ConfigError(f"ELEVENLABS_API_BASE must be an http(s) URL; got {settings.elevenlabs_api_base!r}.")
    return ElevenLabsConfig(
        api_base=api_base,
        api_key=SecretStr(key),
        agent_id=values["ELEVENLABS_AGENT_ID"],
        agent_phone_number_id=values["ELEVENLABS_AGENT_PHONE_NUMBER_ID"],
        phone_provider=phone_provider,  # type: ignore[arg-type]
        **shared,
    )
