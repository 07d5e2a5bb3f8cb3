"""Configuration: one :class:`Settings` read from the environment, and how it resolves to a provider.

The variable names come from seed 002 (``ELEVENLABS_*``) and the foundation issue
(``CALLER_MCP_*``). ``Settings`` never raises on a bad value at start-up: the server must always
start and list its tools, so every problem is reported when a provider is resolved from it
(``providers/<name>/config.py``) as a :class:`~caller_mcp.errors.ConfigError`, which the tools that
need a provider return as their error.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PrivateAttr, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError

#: ``CALLER_MCP_PROVIDER`` values: a provider, or ``sandbox`` (ElevenLabs' emulator; kept from
#: the first release, when the sandbox was named like a provider).
PROVIDER_CHOICES = ("elevenlabs", "talkifai", "sandbox")
#: Said in every sandbox answer, by the tools and by the emulator.
SANDBOX_NOTE = "Sandbox: no real phone was dialled."

#: Seconds to wait for a TCP/TLS connection to the provider (``CALLER_MCP_CONNECT_TIMEOUT_SECS``).
DEFAULT_CONNECT_TIMEOUT_SECS = 5.0
#: Seconds to wait for the provider's answer once the request is sent (``CALLER_MCP_READ_TIMEOUT_SECS``).
DEFAULT_READ_TIMEOUT_SECS = 20.0
#: TalkifAI's outbound call blocks until the callee answers and gives up with 408 after 60 s
#: (seed 004), so its read timeout must outlast that (``TALKIFAI_READ_TIMEOUT_SECS``).
DEFAULT_TALKIFAI_READ_TIMEOUT_SECS = 65.0
DEFAULT_MAX_CALLS_PER_HOUR = 60
DEFAULT_MAX_BATCH_SIZE = 1_000
CONFIRM_MODES = ("always", "batch", "never")


class Settings(BaseSettings):
    """Every setting of caller-mcp, read from environment variables of the same name (upper case).

    Tests build it directly: ``Settings(_env_file=None, caller_mcp_provider="sandbox", …)``.
    Values are kept as given; each provider's ``resolve`` validates its own, so a typo never stops the server.
    """

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    elevenlabs_api_key: SecretStr | None = Field(default=None, description="ElevenLabs API key (xi-api-key).")
    elevenlabs_agent_id: str | None = Field(default=None, description="Conversational AI agent that plays the caller.")
    elevenlabs_agent_phone_number_id: str | None = Field(
        default=None, description="ElevenLabs id of the phone number the call is placed from."
    )
    elevenlabs_api_base: str = Field(default="https://api.elevenlabs.io", description="Base URL of the ElevenLabs API.")
    elevenlabs_phone_provider: str = Field(default="auto", description="twilio | sip_trunk | auto.")
    elevenlabs_script_mode: str = Field(default="override", description="override | variables (caller script).")
    # TalkifAI (seed 004): the agent assigned to TALKIFAI_FROM_NUMBER in TalkifAI Studio speaks.
    talkifai_api_key: SecretStr | None = Field(default=None, description="TalkifAI API key (Bearer).")
    talkifai_from_number: str | None = Field(default=None, description="Registered TalkifAI number, E.164.")
    talkifai_api_base: str = Field(default="https://api.talkifai.dev", description="Base URL of the TalkifAI API.")
    talkifai_read_timeout_secs: float = Field(default=DEFAULT_TALKIFAI_READ_TIMEOUT_SECS, gt=0, le=300)
    # TalkifAI's batch API names the calling number by its Studio id and lists jobs per organization
    # (openapi.json: POST /batch/create ``fromPhoneNumberId``, GET /batch/jobs ``organizationId``).
    talkifai_from_phone_number_id: str | None = Field(default=None, description="Studio id of TALKIFAI_FROM_NUMBER.")
    talkifai_organization_id: str | None = Field(default=None, description="TalkifAI organization id (batch list).")
    talkifai_batch_concurrency: int = Field(default=5, ge=1, le=50, description="concurrentCallLimit of a batch.")
    # TalkifAI redials no_answer/busy/timeout contacts itself up to maxAttempts; 1 = never redial.
    talkifai_batch_max_attempts: int = Field(default=1, ge=1, le=10, description="maxAttempts of a batch.")
    caller_mcp_provider: str | None = Field(
        default=None, description="elevenlabs | talkifai | sandbox; unset = by the keys."
    )
    caller_mcp_sandbox: bool = Field(default=False, description="Force the providers' sandbox emulators.")
    caller_mcp_db: Path | str | None = Field(
        default=None, description="SQLite file (default in the user data dir), or postgresql://… for PostgreSQL."
    )
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
    # Test suites (issue 14): where run_test_suite finds suite files by name, and how many of a
    # run's calls ring at once on a provider without batches.
    caller_mcp_suites_dir: Path | None = Field(default=None, description="Folder of suite YAML files.")
    caller_mcp_test_concurrency: int = Field(default=2, ge=1, le=50, description="Calls of a test run at once.")
    # The built-in sandbox: sandbox seconds per real second (demos and tests run calls faster).
    caller_mcp_sandbox_speed: float = Field(default=1.0, gt=0, le=1000)
    # Serving over HTTP (`caller-mcp serve --transport http`): authentication and transport security.
    caller_mcp_tokens_file: Path | None = Field(
        default=None, description="Static bearer tokens: one 'principal sha256-hex' line per token."
    )
    caller_mcp_oauth_issuer: str | None = Field(default=None, description="OAuth issuer of JWT access tokens.")
    caller_mcp_oauth_audience: str | None = Field(default=None, description="Audience (aud) the JWTs must name.")
    caller_mcp_oauth_jwks_url: str | None = Field(
        default=None, description="The issuer's JWKS; default {issuer}/.well-known/jwks.json."
    )
    caller_mcp_public_url: str | None = Field(
        default=None, description="Base URL clients reach the server at, e.g. https://calls.example.com."
    )
    caller_mcp_allowed_hosts: str = Field(default="", description="Extra Host header values, comma-separated.")
    caller_mcp_allowed_origins: str = Field(default="", description="Extra Origin values, comma-separated.")
    caller_mcp_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    # Provider webhooks (HTTP mode): the signing secrets set in each provider's dashboard.
    elevenlabs_webhook_secret: SecretStr | None = Field(default=None, description="ElevenLabs webhook HMAC secret.")
    talkifai_webhook_secret: SecretStr | None = Field(default=None, description="TalkifAI webhook HMAC secret.")
    # Where the sandboxes send their signed webhooks (the serving process's own /webhooks/...).
    caller_mcp_sandbox_webhook_url: str | None = Field(
        default=None, description="Base URL the sandboxes post signed webhooks to."
    )

    _problem: str | None = PrivateAttr(default=None)

    @classmethod
    def load(cls) -> Settings:
        """Read the environment without ever raising.

        A value that does not parse (``CALLER_MCP_MAX_CALLS_PER_HOUR=lots``) leaves that field at
        its default, keeps every other variable as set (``CALLER_MCP_DB`` above all: a typo elsewhere
        must not send the server to the default database), and is reported by
        :meth:`provider_choice` — so the server still starts and lists its tools, and every tool
        that needs the configuration says which variable to fix.
        """
        try:
            return cls()
        except ValidationError as exc:
            bad = {str(error["loc"][0]) for error in exc.errors() if error.get("loc")}
            try:  # init arguments outrank the environment: the bad fields at their defaults, the rest as set
                settings = cls(**{name: cls.model_fields[name].default for name in bad if name in cls.model_fields})
            except ValidationError:
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

    def allowed_hosts(self) -> tuple[str, ...]:
        """``CALLER_MCP_ALLOWED_HOSTS`` split on commas and whitespace."""
        return tuple(item for item in self.caller_mcp_allowed_hosts.replace(",", " ").split() if item)

    def allowed_origins(self) -> tuple[str, ...]:
        """``CALLER_MCP_ALLOWED_ORIGINS`` split on commas and whitespace."""
        return tuple(item.rstrip("/") for item in self.caller_mcp_allowed_origins.replace(",", " ").split() if item)

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

    def database_url(self) -> str | None:
        """``CALLER_MCP_DB`` when it is a PostgreSQL URL (``postgresql://…``), else ``None``."""
        value = self.caller_mcp_db
        return value if isinstance(value, str) and value.startswith(("postgresql://", "postgres://")) else None

    def database_path(self) -> Path:
        """Return the SQLite file to use: ``CALLER_MCP_DB``, else ``caller-mcp.sqlite3`` in the
        per-user data directory that ``platformdirs`` names (created if missing)."""
        if self.caller_mcp_db is not None:
            return Path(self.caller_mcp_db).expanduser()
        from platformdirs import user_data_path

        return user_data_path("caller-mcp", appauthor=False, ensure_exists=True) / "caller-mcp.sqlite3"

    def provider_choice(self) -> str | None:
        """``CALLER_MCP_PROVIDER`` as a provider name (``sandbox`` means ElevenLabs' sandbox), or
        ``None`` when unset.

        Raises:
            ConfigError: an unparsable environment, or an unknown provider name.
        """
        if self._problem:
            raise ConfigError(self._problem)
        choice = (self.caller_mcp_provider or "").strip().lower() or None
        if choice is not None and choice not in PROVIDER_CHOICES:
            raise ConfigError(
                f"CALLER_MCP_PROVIDER must be one of {', '.join(PROVIDER_CHOICES)} (or unset); "
                f"got {self.caller_mcp_provider!r}."
            )
        return choice

    def default_provider(self) -> str:
        """The provider that serves a tool call naming none: ``CALLER_MCP_PROVIDER``, else ElevenLabs.

        Raises:
            ConfigError: as :meth:`provider_choice`.
        """
        choice = self.provider_choice()
        return "elevenlabs" if choice in (None, "sandbox") else choice

    def sandbox_requested(self) -> bool:
        """True when the operator asked for the sandbox (``CALLER_MCP_SANDBOX=true`` or
        ``CALLER_MCP_PROVIDER=sandbox``).

        Raises:
            ConfigError: as :meth:`provider_choice`.
        """
        return bool(self.caller_mcp_sandbox) or self.provider_choice() == "sandbox"
