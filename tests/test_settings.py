"""Settings: read from the environment without ever raising; problems are reported when asked."""

from __future__ import annotations

import pytest

from caller_mcp.errors import ConfigError
from caller_mcp.settings import PROVIDER_CHOICES, SANDBOX_NOTE, Settings

KEYS = {
    "elevenlabs_api_key": "sk_live_SECRET_abc",
    "elevenlabs_agent_id": "agent_1",
    "elevenlabs_agent_phone_number_id": "phnum_1",
}


def make(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_environment_variables_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("ELEVENLABS_API_KEY", "k")
    monkeypatch.setenv("ELEVENLABS_AGENT_ID", "a")
    monkeypatch.setenv("ELEVENLABS_AGENT_PHONE_NUMBER_ID", "p")
    monkeypatch.setenv("ELEVENLABS_PHONE_PROVIDER", "SIP_TRUNK")
    monkeypatch.setenv("CALLER_MCP_PROVIDER", "elevenlabs")
    monkeypatch.setenv("CALLER_MCP_DB", str(tmp_path / "x.db"))
    settings = Settings(_env_file=None)
    assert settings.elevenlabs_api_key.get_secret_value() == "k"
    assert (settings.elevenlabs_agent_id, settings.elevenlabs_agent_phone_number_id) == ("a", "p")
    assert settings.elevenlabs_phone_provider == "SIP_TRUNK"  # kept as given; the provider validates it
    assert settings.provider_choice() == "elevenlabs"
    assert settings.database_path() == tmp_path / "x.db"


def test_repr_of_settings_masks_the_key():
    assert "SECRET" not in repr(make(**KEYS))
    assert "SECRET" not in str(make(**KEYS).model_dump())


def test_default_database_lives_in_the_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    path = make().database_path()
    assert path == tmp_path / "caller-mcp" / "caller-mcp.sqlite3"
    assert path.parent.is_dir()


def test_unset_provider_means_elevenlabs_and_no_sandbox_request():
    settings = make()
    assert settings.provider_choice() is None
    assert settings.default_provider() == "elevenlabs"
    assert settings.sandbox_requested() is False


@pytest.mark.parametrize(("choice", "sandbox"), [("elevenlabs", False), ("sandbox", True), (" SANDBOX ", True)])
def test_provider_choices_resolve_to_elevenlabs(choice, sandbox):
    settings = make(caller_mcp_provider=choice)
    assert settings.provider_choice() == choice.strip().lower() and settings.provider_choice() in PROVIDER_CHOICES
    assert settings.default_provider() == "elevenlabs"
    assert settings.sandbox_requested() is sandbox


def test_caller_mcp_sandbox_flag_requests_the_sandbox(monkeypatch):
    monkeypatch.setenv("CALLER_MCP_SANDBOX", "true")
    settings = Settings(_env_file=None)
    assert settings.caller_mcp_sandbox is True and settings.sandbox_requested() is True
    assert settings.default_provider() == "elevenlabs"


def test_unknown_provider_is_a_config_error_naming_the_variable_and_the_choices():
    settings = make(caller_mcp_provider="twilio")
    for ask in (settings.provider_choice, settings.default_provider, settings.sandbox_requested):
        with pytest.raises(ConfigError, match="CALLER_MCP_PROVIDER must be one of elevenlabs, talkifai, sandbox"):
            ask()


def test_load_never_raises_and_reports_the_unparsable_variable(monkeypatch):
    monkeypatch.setenv("CALLER_MCP_MAX_CALLS_PER_HOUR", "lots")
    monkeypatch.setenv("CALLER_MCP_DB", "/srv/calls/caller.sqlite3")
    monkeypatch.setenv("CALLER_MCP_ALLOWED_COUNTRIES", "GB")
    settings = Settings.load()
    assert settings.caller_mcp_max_calls_per_hour is None  # the bad one at its default
    # ...and every other variable as set: a typo must not move the server to the default database.
    assert str(settings.caller_mcp_db) == "/srv/calls/caller.sqlite3"
    assert settings.allowed_countries() == ("GB",)
    with pytest.raises(ConfigError) as info:
        settings.provider_choice()
    assert "Invalid configuration: CALLER_MCP_MAX_CALLS_PER_HOUR" in str(info.value)
    assert "'lots'" in str(info.value) and "restart the server" in str(info.value)


def test_caps_default_for_a_real_provider_and_apply_in_the_sandbox_only_when_set():
    assert make().call_caps(sandbox=False) == (60, 1_000)
    assert make().call_caps(sandbox=True) == (None, None)
    set_ = make(caller_mcp_max_calls_per_hour=3, caller_mcp_max_batch_size=2)
    assert set_.call_caps(sandbox=True) == (3, 2) and set_.call_caps(sandbox=False) == (3, 2)


@pytest.mark.parametrize(("value", "mode"), [("always", "always"), (" Batch ", "batch"), ("never", "never"), ("", "batch")])
def test_confirm_mode_reads_the_three_modes(value, mode):
    assert make(caller_mcp_confirm=value).confirm_mode() == mode


def test_invalid_confirm_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="CALLER_MCP_CONFIRM must be one of always, batch, never"):
        make(caller_mcp_confirm="sometimes").confirm_mode()


def test_allowlists_split_on_commas_and_spaces():
    settings = make(caller_mcp_allowed_numbers="+15551234567, +1555*", caller_mcp_allowed_countries="us,gb ca")
    assert settings.allowed_numbers() == ("+15551234567", "+1555*")
    assert settings.allowed_countries() == ("US", "GB", "CA")


def test_the_sandbox_note_says_no_real_phone_was_dialled():
    assert "no real phone" in SANDBOX_NOTE
