"""Configuration: one :class:`Settings` read from the environment, and how it resolves to a provider.

The variable names come from seed 002 (``ELEVENLABS_*``) and the foundation issue
(``CALLER_MCP_*``). ``Settings`` never raises on a bad value at start-up: the server must always
start and list its tools, so every problem is reported by :meth:`Settings.resolve` as a
:class:`~caller_mcp.errors.ConfigError`, which the tools that need a provider return as their error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError

DEFAULT_API_BASE = "https://api.elevenlabs.io"
REQUIRED_VARIABLES = ("ELEVENLABS_API_KEY", "ELEVENLABS_AGENT_ID", "ELEVENLABS_AGENT_PHONE_NUMBER_ID")
PHONE_PROVIDERS = ("twilio", "sip_trunk", "auto")
PROVIDERS = ("elevenlabs", "sandbox")

#: Identifiers the sandbox emulator knows (see ``sandbox/app.py``); used when no ids are configured.
SANDBOX_API_KEY = "sandbox"
SANDBOX_AGENT_ID = "agent_sandbox"
SANDBOX_PHONE_NUMBER_ID = "phnum_sandbox_twilio"
SANDBOX_SIP_PHONE_NUMBER_ID = "phnum_sandbox_sip"
SANDBOX_API_BASE = "http://sandbox.caller-mcp.invalid"
#: Said in every sandbox answer, by the tools and by the emulator.
SANDBOX_NOTE = "Sandbox: no real phone was dialled."

#: Seconds to wait for a TCP/TLS connection to the provider (``CALLER_MCP_CONNECT_TIMEOUT_SECS``).
DEFAULT_CONNECT_TIMEOUT_SECS = 5.0
#: Seconds to wait for the provider's answer once the request is sent (``CALLER_MCP_READ_TIMEOUT_SECS``).
DEFAULT_READ_TIMEOUT_SECS = 20.0
DEFAULT_MAX_CALLS_PER_HOUR = 60
DEFAULT_MAX_BATCH_SIZE = 1_000
CONFIRM_MODES = ("always", "batch", "never")

PhoneProvider = Literal["twilio", "sip_trunk", "auto"]


class Settings(BaseSettings):
    """Every setting of caller-mcp, read from environment variables of the same name (upper case).

    Tests build it directly: ``Settings(_env_file=None, caller_mcp_provider="sandbox", …)``.
    Values are kept as given; :meth:`resolve` validates them, so a typo never stops the server.
    """

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    elevenlabs_api_key: SecretStr | None = Field(default=None, description="ElevenLabs API key (xi-api-key).")
    elevenlabs_agent_id: str | None = Field(default=None, description="Conversational AI agent that plays the caller.")
    elevenlabs_agent_phone_number_id: str | None = Field(
        default=None, description="ElevenLabs id of the phone number the call is placed from."
    )
    elevenlabs_api_base: str = Field(default=DEFAULT_API_BASE, description="Base URL of the ElevenLabs API.")
    elevenlabs_phone_provider: str = Field(default="auto", description="twilio | sip_trunk | auto.")
    caller_mcp_provider: str | None = Field(default=None, description="elevenlabs | sandbox; unset = by the keys.")
    caller_mcp_db: Path | None = Field(default=None, description="SQLite file; default in the user data dir.")
    caller_mcp_log_level: str = Field(default="WARNING", description="Log level of the stderr log.")
    # Dial policy (policy.py). Lists are comma-separated in the environment.
    caller_mcp_allowed_numbers: str = Field(default="", description="Exact E.164 numbers and prefixes like +1555*.")
    caller_mcp_allowed_countries: str = Field(default="", description="ISO 3166 region codes, e.g. US,GB.")
    caller_mcp_max_calls_per_hour: int | None = Field(default=None, ge=0, description="Dials per rolling hour.")
    caller_mcp_max_batch_size: int | None = Field(default=None, ge=1, description="Recipients per batch.")
    caller_mcp_redial_guard_secs: float = Field(default=120.0, ge=0, description="Duplicate-call window.")
    caller_mcp_confirm: str = Field(default="batch", description="always | batch | never (elicitation).")
    # Provider client.
    caller_mcp_connect_timeout_secs: float = Field(default=DEFAULT_CONNECT_TIMEOUT_SECS, gt=0, le=60)
    caller_mcp_read_timeout_secs: float = Field(default=DEFAULT_READ_TIMEOUT_SECS, gt=0, le=45)
    # The built-in sandbox: sandbox seconds per real second (demos and tests run calls faster).
    caller_mcp_sandbox_speed: float = Field(default=1.0, gt=0, le=1000)

    _problem: str | None = PrivateAttr(default=None)

    @classmethod
    def load(cls) -> Settings:
        """Read the environment without ever raising.

        A value that does not parse (``CALLER_MCP_MAX_CALLS_PER_HOUR=lots``) leaves every field at
        its default and is reported by :meth:`resolve` — so the server still starts and lists its
        tools, and every tool that needs the configuration says which variable to fix.
        """
        try:
            return cls()
        except ValidationError as exc:
            settings = cls.model_construct()
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']).upper()}: {error['msg']} (got {error.get('input')!r})"
                for error in exc.errors()
            )
            settings._problem = f"Invalid configuration: {problems}. Fix the variable and restart the server."
            return settings

    def allowed_numbers(self) -> tuple[str, ...]:
        """``CALLER_MCP_ALLOWED_NUMBERS`` split on commas and whitespace (empty = no number list)."""
        return tuple(item for item in self.caller_mcp_allowed_numbers.replace(",", " ").split() if item)

    def allowed_countries(self) -> tuple[str, ...]:
        """``CALLER_MCP_ALLOWED_COUNTRIES`` as upper-case region codes (empty = no country list)."""
        return tuple(item.upper() for item in self.caller_mcp_allowed_countries.replace(",", " ").split() if item)

    def call_caps(self, *, sandbox: bool) -> tuple[int | None, int | None]:
        """``(max calls per hour, max batch size)`` in force; ``None`` = no cap.

        Against a real provider the defaults are 60 and 1,000; in the sandbox a cap applies only
        when its variable is set (dial-safety issue).
        """
        per_hour = self.caller_mcp_max_calls_per_hour
        batch = self.caller_mcp_max_batch_size
        if sandbox:
            return per_hour, batch
        return (DEFAULT_MAX_CALLS_PER_HOUR if per_hour is None else per_hour), (
            DEFAULT_MAX_BATCH_SIZE if batch is None else batch
        )

    def confirm_mode(self) -> str:
        """``CALLER_MCP_CONFIRM``: ``always``, ``batch`` or ``never``.

        Raises:
            ConfigError: any other value.
        """
        mode = (self.caller_mcp_confirm or "batch").strip().lower()
        if mode not in CONFIRM_MODES:
            raise ConfigError(f"CALLER_MCP_CONFIRM must be one of {', '.join(CONFIRM_MODES)}; got {self.caller_mcp_confirm!r}.")
        return mode

    def database_path(self) -> Path:
        """Return the SQLite file to use: ``CALLER_MCP_DB``, else ``caller-mcp.sqlite3`` in the
        per-user data directory that ``platformdirs`` names (created if missing)."""
        if self.caller_mcp_db is not None:
            return Path(self.caller_mcp_db).expanduser()
        from platformdirs import user_data_path

        return user_data_path("caller-mcp", appauthor=False, ensure_exists=True) / "caller-mcp.sqlite3"

    def resolve(self) -> ProviderConfig:
        """Decide which provider serves the tools, with which identifiers.

        Rules (foundation issue): ``CALLER_MCP_PROVIDER=sandbox``, or none of the three required
        ``ELEVENLABS_*`` variables set and no ``CALLER_MCP_PROVIDER`` → the sandbox. All three
        set → ElevenLabs. Some but not all set, or ``CALLER_MCP_PROVIDER=elevenlabs`` with any
        missing → seed 002's error naming exactly the missing ones.

        Returns:
            A :class:`ProviderConfig`.
        Raises:
            ConfigError: with a message naming the variable to fix.
        """
        if self._problem:
            raise ConfigError(self._problem)
        provider = (self.caller_mcp_provider or "").strip().lower() or None
        if provider is not None and provider not in PROVIDERS:
            raise ConfigError(
                f"CALLER_MCP_PROVIDER must be one of {', '.join(PROVIDERS)} (or unset); "
                f"got {self.caller_mcp_provider!r}."
            )
        phone_provider = (self.elevenlabs_phone_provider or "auto").strip().lower()
        if phone_provider not in PHONE_PROVIDERS:
            raise ConfigError(
                f"ELEVENLABS_PHONE_PROVIDER must be one of {', '.join(PHONE_PROVIDERS)}; "
                f"got {self.elevenlabs_phone_provider!r}."
            )
        values = {
            "ELEVENLABS_API_KEY": self.elevenlabs_api_key.get_secret_value().strip() if self.elevenlabs_api_key else "",
            "ELEVENLABS_AGENT_ID": (self.elevenlabs_agent_id or "").strip(),
            "ELEVENLABS_AGENT_PHONE_NUMBER_ID": (self.elevenlabs_agent_phone_number_id or "").strip(),
        }
        missing = [name for name in REQUIRED_VARIABLES if not values[name]]

        if provider == "sandbox" or (provider is None and len(missing) == len(REQUIRED_VARIABLES)):
            # The sandbox has its own key and ids; configured real ones are never sent anywhere.
            # ELEVENLABS_PHONE_PROVIDER=sip_trunk picks its SIP-trunk number, to exercise that path.
            return ProviderConfig(
                name="sandbox",
                api_base=SANDBOX_API_BASE,
                api_key=SecretStr(SANDBOX_API_KEY),
                agent_id=SANDBOX_AGENT_ID,
                agent_phone_number_id=(
                    SANDBOX_SIP_PHONE_NUMBER_ID if phone_provider == "sip_trunk" else SANDBOX_PHONE_NUMBER_ID
                ),
                phone_provider=phone_provider,  # type: ignore[arg-type]
                connect_timeout_secs=self.caller_mcp_connect_timeout_secs,
                read_timeout_secs=self.caller_mcp_read_timeout_secs,
                sandbox_speed=self.caller_mcp_sandbox_speed,
            )
        if missing:
            raise ConfigError(f"Missing required environment variables: {', '.join(missing)}")
        api_base = (self.elevenlabs_api_base or DEFAULT_API_BASE).strip().rstrip("/")
        if not api_base.startswith(("https://", "http://")):
            raise ConfigError(f"ELEVENLABS_API_BASE must be an http(s) URL; got {self.elevenlabs_api_base!r}.")
        return ProviderConfig(
            name="elevenlabs",
            api_base=api_base,
            api_key=SecretStr(values["ELEVENLABS_API_KEY"]),
            agent_id=values["ELEVENLABS_AGENT_ID"],
            agent_phone_number_id=values["ELEVENLABS_AGENT_PHONE_NUMBER_ID"],
            phone_provider=phone_provider,  # type: ignore[arg-type]
            connect_timeout_secs=self.caller_mcp_connect_timeout_secs,
            read_timeout_secs=self.caller_mcp_read_timeout_secs,
        )


@dataclass(frozen=True)
class ProviderConfig:
    """The resolved provider settings.

    Attributes:
        name: ``"elevenlabs"`` (a real provider: real phones ring) or ``"sandbox"`` (the emulator).
        api_base: base URL without a trailing slash.
        api_key: sent as the ``xi-api-key`` header; a ``SecretStr`` so it never shows in a repr.
        agent_id: ElevenLabs agent that plays the caller.
        agent_phone_number_id: ElevenLabs phone number the calls come from.
        phone_provider: ``twilio``, ``sip_trunk`` or ``auto`` (look the number up once).
        connect_timeout_secs, read_timeout_secs: the HTTP client's timeouts, seconds.
        sandbox_speed: how much faster than real time the built-in sandbox runs its calls.
    """

    name: Literal["elevenlabs", "sandbox"]
    api_base: str
    api_key: SecretStr
    agent_id: str
    agent_phone_number_id: str
    phone_provider: PhoneProvider
    connect_timeout_secs: float = DEFAULT_CONNECT_TIMEOUT_SECS
    read_timeout_secs: float = DEFAULT_READ_TIMEOUT_SECS
    sandbox_speed: float = 1.0

    @property
    def is_sandbox(self) -> bool:
        """True when no real phone can ring."""
        return self.name == "sandbox"
