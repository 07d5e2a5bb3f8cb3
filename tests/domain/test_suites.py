"""Suites as pure rules: parsing with file, line and field in every error; cases × repeats;
checks; quoted evidence; unit and case verdicts; flakiness and regressions."""

from __future__ import annotations

import textwrap

import pytest

from caller_mcp.domain.suites import (
    CallFacts,
    Checks,
    Verdict,
    case_summary,
    evaluate_checks,
    evidence_in,
    mark_regressions,
    normalise,
    parse_suite,
    plan_units,
    unit_verdict,
)
from caller_mcp.errors import InvalidInput

SUITE = textwrap.dedent(
    """\
    name: pizza-palace-smoke
    to_number: "+15551234567"
    business_description: We are Pizza Palace. Delivery takes about 40 minutes.
    defaults: {repeats: 2, language: en, expected_minutes: 3}
    cases:
      - id: order-delivery
        scenario: order a large pepperoni pizza for delivery to 123 Main St
        persona: a regular customer in a hurry
        success_criteria:
          - the business confirms the order and gives a delivery time
        checks:
          business_says: ["40 minutes", {regex: "\\\\d+ minutes"}]
          outcome: completed
          max_duration_secs: 180
          provider_success: true
      - id: voicemail
        to_number: "+15550000001"
        repeats: 1
        scenario: ask about opening hours
        checks: {outcome: completed}
    """
)


def problems(text: str, source: str = "smoke.yaml") -> str:
    with pytest.raises(InvalidInput) as info:
        parse_suite(text, source)
    return str(info.value)


def test_a_valid_suite_parses_with_defaults_and_overrides():
    suite = parse_suite(SUITE, "smoke.yaml")
    assert suite.name == "pizza-palace-smoke"
    first, second = suite.cases
    assert suite.repeats_of(first) == 2 and suite.repeats_of(second) == 1
    assert suite.setting(first, "language") == "en"
    assert first.goal == "order a large pepperoni pizza for delivery to 123 Main St, as a regular customer in a hurry"
    assert first.checks.business_says[0] == "40 minutes"
    assert first.checks.business_says[1].regex == r"\d+ minutes"


def test_units_are_cases_times_repeats_with_case_id_hash_repeat_keys():
    units = plan_units(parse_suite(SUITE))
    assert [u.key for u in units] == ["order-delivery#1", "order-delivery#2", "voicemail#1"]
    assert [u.to_number for u in units] == ["+15551234567", "+15551234567", "+15550000001"]


def test_a_misspelt_field_is_named_with_its_file_and_line():
    text = SUITE.replace("provider_success: true", "provider_sucess: true")
    assert "smoke.yaml, line 15, cases[0].checks.provider_sucess: unknown field" in problems(text)


def test_a_bad_value_names_the_line_of_its_key_and_the_allowed_values():
    text = SUITE.replace("outcome: completed", "outcome: complete", 1)
    message = problems(text)
    assert "smoke.yaml, line 13, cases[0].checks.outcome:" in message
    assert "'completed', 'voicemail', 'failed' or 'cancelled'" in message


def test_a_missing_field_names_the_line_of_its_mapping():
    text = SUITE.replace("  - id: voicemail\n", "  - to_number_note: x\n")
    message = problems(text)
    assert "smoke.yaml, line 16, cases[1].id: required field is missing" in message
    assert "line 16, cases[1].to_number_note: unknown field" in message


def test_every_problem_is_listed_at_once():
    text = SUITE.replace("repeats: 2", "repeats: 0").replace("max_duration_secs: 180", "max_duration_secs: -1")
    message = problems(text)
    assert message.startswith("The suite is invalid (2 problems); nothing was run:")
    assert "line 4, defaults.repeats: Input should be greater than or equal to 1" in message
    assert "line 14, cases[0].checks.max_duration_secs: Input should be greater than 0" in message


def test_a_bad_regex_and_a_bad_number_are_refused_by_line():
    text = SUITE.replace('{regex: "\\\\d+ minutes"}', '{regex: "(unclosed"}').replace("+15550000001", "5550000001")
    message = problems(text)
    assert "line 12, cases[0].checks.business_says[1].regex: not a valid regular expression" in message
    assert "line 17, cases[1].to_number: String should match pattern" in message


def test_yaml_syntax_errors_name_line_and_column():
    assert problems("name: [unclosed\ncases: []\n", "broken.yaml").startswith("broken.yaml, line 2, column 6: not valid YAML")


def test_a_key_given_twice_is_an_error_not_silently_the_last():
    text = SUITE.replace("    scenario: ask about opening hours\n", "    scenario: ask about opening hours\n    scenario: again\n")
    assert "smoke.yaml, line 20: scenario: given twice in one mapping" in problems(text)


def test_duplicate_case_ids_and_a_missing_number_are_refused():
    text = SUITE.replace("id: voicemail", "id: order-delivery")
    assert "case id 'order-delivery' is used twice" in problems(text)
    no_number = SUITE.replace('to_number: "+15551234567"\n', "")
    assert "case 'order-delivery' has no to_number and the suite names none" in problems(no_number)


def test_yaml_tags_that_build_objects_are_refused():
    assert "not valid YAML" in problems("name: !!python/object/apply:os.system ['true']\ncases: []\n")


def test_not_a_mapping_and_empty_text_are_refused():
    assert "a suite is a mapping" in problems("- just\n- a list\n")
    assert "the suite is empty" in problems("   \n")


def test_normalise_ignores_case_whitespace_and_punctuation():
    assert normalise("  About 40-Minutes!\n  OK?") == "about 40 minutes ok"
    assert normalise("“Sure,” said Sam") == "sure said sam"


TRANSCRIPT = (
    ("business", "Thanks for calling! We are Pizza Palace. How can I help you today?"),
    ("caller", "Hi, I'd like to order a large pepperoni pizza."),
    ("business", "Sure. Delivery takes about 40 minutes. Can I get a name for that?"),
)


def test_checks_pass_on_a_call_that_meets_them():
    checks = Checks.model_validate(
        {"business_says": ["40 MINUTES", {"regex": r"\d+ minutes"}], "outcome": "completed", "max_duration_secs": 60, "provider_success": True}
    )
    results = evaluate_checks(checks, CallFacts("completed", 8, "success", TRANSCRIPT))
    assert [r.check for r in results] == [
        "outcome", "max_duration_secs", "provider_success", 'business_says "40 MINUTES"', r"business_says /\d+ minutes/",
    ]
    assert all(r.passed for r in results), results
    assert results[3].reason == 'said: "Sure. Delivery takes about 40 minutes. Can I get a name for that?"'


def test_failed_checks_say_why():
    checks = Checks.model_validate(
        {"business_says": ["gluten-free", "order a large"], "outcome": "completed", "max_duration_secs": 5, "provider_success": True}
    )
    results = evaluate_checks(checks, CallFacts("voicemail", 8, "failure", TRANSCRIPT))
    assert [(r.passed, r.reason) for r in results] == [
        (False, "expected completed, the call ended voicemail"),
        (False, "lasted 8 s, limit 5 s"),
        (False, "expected success, the provider's analysis says failure"),
        (False, "the business never said it (2 business turns)"),
        (False, "the business never said it (2 business turns)"),  # the caller said it, not the business
    ]


def test_a_phrase_must_match_whole_words():
    checks = Checks.model_validate({"business_says": ["40 min"]})
    assert not evaluate_checks(checks, CallFacts("completed", 1, None, TRANSCRIPT))[0].passed


def test_checks_without_facts_fail_with_the_reason():
    checks = Checks.model_validate({"max_duration_secs": 5, "provider_success": False, "business_says": "hello"})
    results = evaluate_checks(checks, CallFacts(None))
    assert [r.reason for r in results] == [
        "the provider reported no duration", "the provider gave no analysis of this call", "the business said nothing",
    ]


def test_evidence_is_found_in_one_turn_after_normalising():
    role, message = evidence_in("delivery takes about 40 minutes", TRANSCRIPT)
    assert role == "business" and message.startswith("Sure.")
    assert evidence_in("  DELIVERY takes, about 40 minutes!! ", TRANSCRIPT)[0] == "business"


@pytest.mark.parametrize(
    ("evidence", "reason"),
    [
        ("the business confirmed delivery in 40 minutes", "does not appear in any turn"),
        ("help you today? Hi, I'd like", "does not appear in any turn"),  # spans two turns
        ("Sure.", "at least 8 characters"),
        ("", "at least 8 characters"),
    ],
)
def test_invented_split_or_trivial_evidence_is_refused(evidence, reason):
    with pytest.raises(InvalidInput, match=reason):
        evidence_in(evidence, TRANSCRIPT)


def test_no_transcript_means_nothing_can_be_quoted():
    with pytest.raises(InvalidInput, match="no transcript"):
        evidence_in("anything at all", ())


PASS = evaluate_checks(Checks.model_validate({"outcome": "completed"}), CallFacts("completed"))
FAIL = evaluate_checks(Checks.model_validate({"outcome": "completed"}), CallFacts("voicemail"))
CRITERIA = ["confirms the order", "gives a delivery time"]


def test_a_unit_passes_only_when_checks_pass_and_every_criterion_has_a_passing_verdict():
    both = [Verdict(c, True, "quote") for c in CRITERIA]
    assert unit_verdict(final=True, outcome_unknown=False, checks=PASS, criteria=CRITERIA, verdicts=both) == ("passed", [])
    one = both[:1]
    assert unit_verdict(final=True, outcome_unknown=False, checks=PASS, criteria=CRITERIA, verdicts=one) == (
        "not_judged", ["gives a delivery time"],
    )
    failing = [Verdict(CRITERIA[0], False, "quote")]
    assert unit_verdict(final=True, outcome_unknown=False, checks=PASS, criteria=CRITERIA, verdicts=failing)[0] == "failed"
    assert unit_verdict(final=True, outcome_unknown=False, checks=FAIL, criteria=CRITERIA, verdicts=both)[0] == "failed"
    assert unit_verdict(final=False, outcome_unknown=False, checks=[], criteria=CRITERIA, verdicts=both)[0] == "running"
    assert unit_verdict(final=True, outcome_unknown=True, checks=[], criteria=[], verdicts=[])[0] == "not_judged"
    assert unit_verdict(final=True, outcome_unknown=False, checks=[], criteria=[], verdicts=[])[0] == "passed"


def test_a_case_with_mixed_repeats_is_flaky_and_failed():
    summary = case_summary("order", ["passed", "failed", "passed"])
    assert (summary.verdict, summary.flaky, summary.pass_rate, summary.passed, summary.failed) == ("failed", True, 0.667, 2, 1)
    assert case_summary("order", ["passed", "passed"]).verdict == "passed"
    assert not case_summary("order", ["passed", "passed"]).flaky
    assert case_summary("order", ["passed", "not_judged"]).verdict == "not_judged"
    assert case_summary("order", ["running", "passed"]).verdict == "running"


def test_a_regression_is_a_case_that_passed_before_and_fails_now():
    now = [case_summary("a", ["failed"]), case_summary("b", ["failed"]), case_summary("c", ["passed"])]
    marked = mark_regressions(now, {"a": "passed", "b": "failed", "c": "passed"})
    assert [s.regression for s in marked] == [True, False, False]
    assert [s.regression for s in mark_regressions(now, None)] == [False, False, False]


def test_the_readme_example_suite_is_valid():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    example = readme.split("## Test suites", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    suite = parse_suite(example, "README.md")
    assert [u.key for u in plan_units(suite)] == ["order-delivery#1", "order-delivery#2", "order-delivery#3"]
    assert suite.cases[0].checks.business_says[1].regex == r"\d+ minutes"
