import pytest

from caller_mcp.config import DEFAULT_API_BASE, SANDBOX_PHONE_NUMBER_ID, SANDBOX_SIP_PHONE_NUMBER_ID, Settings
from caller_mcp.errors import ConfigError

KEYS = {
    "elevenlabs_api_key": "sk_live_SECRET_abc",
    "elevenlabs_agent_id": "agent_1",
    "elevenlabs_agent_phone_number_id": "phnum_1",
}


def make(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_no_keys_and_no_provider_means_sandbox():
    config = make().resolve()
    assert config.name == "sandbox" and config.is_sandbox
    assert config.agent_phone_number_id == SANDBOX_PHONE_NUMBER_ID


def test_all_three_keys_mean_elevenlabs_with_default_base_and_auto_phone_provider():
    config = make(**KEYS).resolve()
    assert config.name == "elevenlabs"
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
        make(**present).resolve()
    assert str(info.value) == f"Missing required environment variables: {missing}"


def test_elevenlabs_provider_without_keys_names_all_three():
    with pytest.raises(ConfigError) as info:
        make(caller_mcp_provider="elevenlabs").resolve()
    assert str(info.value) == (
        "Missing required environment variables: ELEVENLABS_API_KEY, ELEVENLABS_AGENT_ID, "
        "ELEVENLABS_AGENT_PHONE_NUMBER_ID"
    )


def test_blank_values_count_as_missing():
    with pytest.raises(ConfigError, match="ELEVENLABS_AGENT_ID"):
        make(**{**KEYS, "elevenlabs_agent_id": "  "}).resolve()


def test_sandbox_provider_wins_over_keys_and_never_uses_the_real_key():
    config = make(caller_mcp_provider="sandbox", **KEYS).resolve()
    assert config.is_sandbox
    assert "SECRET" not in config.api_key.get_secret_value()
    assert config.agent_id != "agent_1"


def test_sandbox_sip_trunk_picks_the_sandbox_sip_number():
    config = make(elevenlabs_phone_provider="sip_trunk").resolve()
    assert config.agent_phone_number_id == SANDBOX_SIP_PHONE_NUMBER_ID


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
        make(**{**KEYS, field: value}).resolve()


def test_environment_variables_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("ELEVENLABS_API_KEY", "k")
    monkeypatch.setenv("ELEVENLABS_AGENT_ID", "a")
    monkeypatch.setenv("ELEVENLABS_AGENT_PHONE_NUMBER_ID", "p")
    monkeypatch.setenv("ELEVENLABS_PHONE_PROVIDER", "SIP_TRUNK")
    monkeypatch.setenv("ELEVENLABS_API_BASE", "https://example.test/")
    monkeypatch.setenv("CALLER_MCP_DB", str(tmp_path / "x.db"))
    settings = Settings(_env_file=None)
    config = settings.resolve()
    assert (config.name, config.phone_provider, config.api_base) == ("elevenlabs", "sip_trunk", "https://example.test")
    assert settings.database_path() == tmp_path / "x.db"


def test_repr_of_settings_and_config_masks_the_key():
    settings = make(**KEYS)
    assert "SECRET" not in repr(settings)
    assert "SECRET" not in repr(settings.resolve())


def test_default_database_lives_in_the_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    path = make().database_path()
    assert path == tmp_path / "caller-mcp" / "caller-mcp.sqlite3"
    assert path.parent.is_dir()
