"""How the ElevenLabs settings resolve: the sandbox when no keys are set (or when asked for), the
real API with all three, and an error naming exactly the missing or invalid variables otherwise."""

from __future__ import annotations

import pytest

from caller_mcp.errors import ConfigError
from caller_mcp.providers.elevenlabs.config import (
    DEFAULT_API_BASE,
    REQUIRED_VARIABLES,
    SANDBOX_AGENT_ID,
    SANDBOX_API_BASE,
    SANDBOX_API_KEY,
    SANDBOX_PHONE_NUMBER_ID,
    SANDBOX_SIP_PHONE_NUMBER_ID,
    resolve,
)
from caller_mcp.settings import Settings

KEYS = {
    "elevenlabs_api_key": "sk_live_SECRET_abc",
    "elevenlabs_agent_id": "agent_1",
    "elevenlabs_agent_phone_number_id": "phnum_1",
}


def make(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_no_keys_and_no_provider_means_the_elevenlabs_sandbox():
    settings = make()
    config = resolve(settings)
    assert settings.default_provider() == "elevenlabs" and config.sandbox is True
    assert config.agent_phone_number_id == SANDBOX_PHONE_NUMBER_ID
    assert (config.api_base, config.agent_id) == (SANDBOX_API_BASE, SANDBOX_AGENT_ID)
    assert config.api_key.get_secret_value() == SANDBOX_API_KEY


def test_all_three_keys_mean_the_real_api_with_default_base_and_auto_phone_provider():
    settings = make(**KEYS)
    config = resolve(settings)
    assert settings.default_provider() == "elevenlabs" and config.sandbox is False
    assert config.api_base == DEFAULT_API_BASE
    assert config.phone_provider == "auto"
    assert config.agent_id == "agent_1" and config.agent_phone_number_id == "phnum_1"
    assert config.api_key.get_secret_value() == "sk_live_SECRET_abc"


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ({"elevenlabs_api_key": "k"}, "ELEVENLABS_AGENT_ID, ELEVENLABS_AGENT_PHONE_NUMBER_ID"),
        ({"elevenlabs_agent_id": "a"}, "ELEVENLABS_API_KEY, ELEVENLABS_AGENT_PHONE_NUMBER_ID"),
        ({"elevenlabs_api_key": "k", "elevenlabs_agent_phone_number_id": "p"}, "ELEVENLABS_AGENT_ID"),
    ],
)
def test_some_keys_name_exactly_the_missing_ones(present, missing):
    with pytest.raises(ConfigError) as info:
        resolve(make(**present))
    assert str(info.value) == f"Missing required environment variables: {missing}"


def test_elevenlabs_provider_without_keys_names_all_three():
    with pytest.raises(ConfigError) as info:
        resolve(make(caller_mcp_provider="elevenlabs"))
    assert str(info.value) == (
        "Missing required environment variables: ELEVENLABS_API_KEY, ELEVENLABS_AGENT_ID, "
        "ELEVENLABS_AGENT_PHONE_NUMBER_ID"
    )
    assert str(info.value).endswith(", ".join(REQUIRED_VARIABLES))


def test_blank_values_count_as_missing():
    with pytest.raises(ConfigError, match="ELEVENLABS_AGENT_ID"):
        resolve(make(**{**KEYS, "elevenlabs_agent_id": "  "}))


@pytest.mark.parametrize("forced", [{"caller_mcp_provider": "sandbox"}, {"caller_mcp_sandbox": True}])
def test_sandbox_requested_wins_over_keys_and_never_uses_the_real_key(forced):
    config = resolve(make(**forced, **KEYS))
    assert config.sandbox is True
    assert "SECRET" not in config.api_key.get_secret_value()
    assert config.agent_id != "agent_1"
    assert config.agent_phone_number_id == SANDBOX_PHONE_NUMBER_ID and config.api_base == SANDBOX_API_BASE


def test_caller_mcp_provider_sandbox_still_means_elevenlabs_in_sandbox_mode():
    settings = make(caller_mcp_provider=" Sandbox ")
    assert settings.default_provider() == "elevenlabs" and settings.sandbox_requested() is True
    assert resolve(settings).sandbox is True


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_caller_mcp_sandbox_true_in_the_environment_forces_the_sandbox(monkeypatch, value):
    for name, key in KEYS.items():
        monkeypatch.setenv(name.upper(), key)
    monkeypatch.setenv("CALLER_MCP_SANDBOX", value)
    settings = Settings(_env_file=None)
    assert settings.sandbox_requested() is True
    assert resolve(settings).sandbox is True


def test_sandbox_sip_trunk_picks_the_sandbox_sip_number():
    config = resolve(make(elevenlabs_phone_provider="sip_trunk"))
    assert config.agent_phone_number_id == SANDBOX_SIP_PHONE_NUMBER_ID
    assert config.phone_provider == "sip_trunk" and config.sandbox is True


def test_sandbox_speed_and_timeouts_are_carried_into_the_config():
    config = resolve(
        make(caller_mcp_sandbox_speed=100, caller_mcp_connect_timeout_secs=2, caller_mcp_read_timeout_secs=9)
    )
    assert (config.sandbox_speed, config.connect_timeout_secs, config.read_timeout_secs) == (100, 2, 9)


@pytest.mark.parametrize(
    ("field", "value", "names"),
    [
        ("caller_mcp_provider", "twilio", "CALLER_MCP_PROVIDER"),
        ("elevenlabs_phone_provider", "vonage", "ELEVENLABS_PHONE_PROVIDER"),
        ("elevenlabs_api_base", "api.elevenlabs.io", "ELEVENLABS_API_BASE"),
    ],
)
def test_invalid_values_are_config_errors_naming_the_variable(field, value, names):
    with pytest.raises(ConfigError, match=names):
        resolve(make(**{**KEYS, field: value}))


def test_an_unparsable_environment_is_a_config_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("CALLER_MCP_MAX_CALLS_PER_HOUR", "lots")
    with pytest.raises(ConfigError, match="Invalid configuration: CALLER_MCP_MAX_CALLS_PER_HOUR"):
        resolve(Settings.load())


def test_environment_variables_are_read_and_resolved(monkeypatch, tmp_path):
    monkeypatch.setenv("ELEVENLABS_API_KEY", "k")
    monkeypatch.setenv("ELEVENLABS_AGENT_ID", "a")
    monkeypatch.setenv("ELEVENLABS_AGENT_PHONE_NUMBER_ID", "p")
    monkeypatch.setenv("ELEVENLABS_PHONE_PROVIDER", "SIP_TRUNK")
    monkeypatch.setenv("ELEVENLABS_API_BASE", "https://example.test/")
    monkeypatch.setenv("CALLER_MCP_DB", str(tmp_path / "x.db"))
    settings = Settings(_env_file=None)
    config = resolve(settings)
    assert (config.sandbox, config.phone_provider, config.api_base) == (False, "sip_trunk", "https://example.test")
    assert settings.default_provider() == "elevenlabs"
    assert settings.database_path() == tmp_path / "x.db"


def test_repr_of_the_config_masks_the_key():
    assert "SECRET" not in repr(resolve(make(**KEYS)))
