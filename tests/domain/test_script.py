import pytest

from caller_mcp.domain.script import DEFAULT_SCENARIO, build_script, normalize_description, normalize_scenario
from caller_mcp.providers.elevenlabs.mapping import client_data


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("order a pizza", "order a pizza"),
        ("  order a pizza  ", "order a pizza"),
        ("order\n a   large\tpizza", "order a large pizza"),
        ("order a pizza.", "order a pizza"),
        ("order a pizza!!! ", "order a pizza"),
        ("book a table?", "book a table"),
        ("check hours, then book;", "check hours, then book"),
        ("...", None),
        ("   ", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_scenario_trims_collapses_and_strips_trailing_punctuation(given, expected):
    assert normalize_scenario(given) == expected


def test_normalize_description_trims_and_keeps_inner_lines():
    assert normalize_description("  We are X.\nWe sell Y.  ") == "We are X.\nWe sell Y."
    assert normalize_description(" \n ") is None


def test_first_message_follows_seed_template():
    script = build_script("We are Pizza Palace.", "order a pizza")
    assert script.first_message == "Hi, I'm calling because I'd like to order a pizza."


def test_prompt_is_seed_caller_prompt_with_description_and_goal_filled_in():
    script = build_script("We are Pizza Palace, a pizza restaurant.", "order a large pepperoni pizza")
    assert script.prompt.startswith("You are simulating a real customer contacting the business below.")
    assert "The other side is the company, an operator, or an IVR." in script.prompt
    assert "avoid escalating to a human unless the flow requires it." in script.prompt
    assert "Business description: We are Pizza Palace, a pizza restaurant." in script.prompt
    assert "Caller goal: order a large pepperoni pizza" in script.prompt
    assert script.prompt.endswith("Speak naturally, ask one thing at a time, and keep each response concise.")


def test_client_data_nests_prompt_and_first_message_as_elevenlabs_expects():
    script = build_script("We are X.", "ask the hours")
    assert client_data(script) == {
        "conversation_config_override": {
            "agent": {"prompt": {"prompt": script.prompt}, "first_message": script.first_message}
        }
    }


def test_default_scenario_is_the_seed_text():
    assert DEFAULT_SCENARIO == (
        "check availability, complete a typical customer task, and avoid speaking to a human if possible"
    )
