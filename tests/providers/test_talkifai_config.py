"""Resolving TalkifAI's settings: sandbox without keys, seed 002's missing-variables text, E.164
from number checked before any request, the read timeout that outlasts the 60 s ring."""

from __future__ import annotations

import pytest

from caller_mcp.errors import ConfigError
from caller_mcp.providers import REGISTRY, build_provider
from caller_mcp.providers.talkifai import config as talkifai_config
from caller_mcp.providers.talkifai.config import SANDBOX_API_BASE, SANDBOX_FROM_NUMBER, resolve
from caller_mcp.settings import PROVIDER_CHOICES, Settings

KEY = "tk_live_SECRET_456"


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_no_talkifai_variables_means_the_sandbox_even_when_talkifai_is_chosen():
    config = resolve(settings(caller_mcp_provider="talkifai", caller_mcp_sandbox_speed=50))
    assert config.sandbox is True
    assert config.api_base == SANDBOX_API_BASE and config.from_number == SANDBOX_FROM_NUMBER
    assert config.sandbox_speed == 50


def test_sandbox_flag_wins_over_a_configured_key_which_is_never_used():
    config = resolve(settings(talkifai_api_key=KEY, talkifai_from_number="+12025550100", caller_mcp_sandbox=True))
    assert config.sandbox is True
    assert config.api_key.get_secret_value() != KEY


def test_key_and_number_mean_the_real_api_at_the_seed_base():
    config = resolve(settings(talkifai_api_key=KEY, talkifai_from_number="+12025550100"))
    assert config.sandbox is False
    assert config.api_base == "https://api.talkifai.dev"
    assert config.api_key.get_secret_value() == KEY and config.from_number == "+12025550100"
    assert KEY not in repr(config)


def test_read_timeout_defaults_past_the_60_s_ring_and_is_configurable():
    assert resolve(settings(talkifai_api_key=KEY, talkifai_from_number="+12025550100")).read_timeout_secs == 65
    assert Settings(_env_file=None, talkifai_read_timeout_secs=90).talkifai_read_timeout_secs == 90
    # ElevenLabs keeps its own read timeout.
    assert Settings(_env_file=None).caller_mcp_read_timeout_secs == 20


def test_environment_variables_are_read(monkeypatch):
    monkeypatch.setenv("TALKIFAI_API_KEY", KEY)
    monkeypatch.setenv("TALKIFAI_FROM_NUMBER", "+442071838750")
    monkeypatch.setenv("TALKIFAI_API_BASE", "https://talkifai.example.test/")
    monkeypatch.setenv("TALKIFAI_READ_TIMEOUT_SECS", "70")
    monkeypatch.setenv("CALLER_MCP_PROVIDER", "talkifai")
    loaded = Settings.load()
    config = resolve(loaded)
    assert loaded.default_provider() == "talkifai"
    assert config.api_base == "https://talkifai.example.test"
    assert config.from_number == "+442071838750" and config.read_timeout_secs == 70


@pytest.mark.parametrize(
    ("values", "missing"),
    [({"talkifai_api_key": KEY}, "TALKIFAI_FROM_NUMBER"), ({"talkifai_from_number": "+12025550100"}, "TALKIFAI_API_KEY")],
)
def test_partial_configuration_names_the_missing_variable(values, missing):
    with pytest.raises(ConfigError) as caught:
        resolve(settings(**values))
    assert str(caught.value) == f"Missing required environment variables: {missing}"


@pytest.mark.parametrize("number", ["2025550123", "1-202-555-0123", "+1 202 555 0100", "+0123456789"])
def test_from_number_must_be_e164(number):
    with pytest.raises(ConfigError, match="TALKIFAI_FROM_NUMBER must be in E.164 format"):
        resolve(settings(talkifai_api_key=KEY, talkifai_from_number=number))


def test_api_base_must_be_http():
    with pytest.raises(ConfigError, match="TALKIFAI_API_BASE must be an http"):
        resolve(settings(talkifai_api_key=KEY, talkifai_from_number="+12025550100", talkifai_api_base="ftp://x"))


def test_talkifai_is_a_provider_choice_and_registered():
    assert "talkifai" in PROVIDER_CHOICES and "talkifai" in REGISTRY
    assert settings(caller_mcp_provider="TalkifAI").default_provider() == "talkifai"
    assert talkifai_config.DEFAULT_API_BASE == "https://api.talkifai.dev"


@pytest.mark.anyio
async def test_build_provider_mounts_the_sandbox_when_unconfigured():
    provider = build_provider("talkifai", settings())
    try:
        assert provider.name == "talkifai" and provider.sandbox is True
    finally:
        await provider.aclose()

