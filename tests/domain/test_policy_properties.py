"""Property tests of the dial policy: a refused destination never produces an HTTP request.

(a) Through the MCP tool layer in real-provider mode, with an ``httpx.MockTransport`` that records
every request: ``place_call`` and ``submit_batch`` with a refused number answer a tool error and
send nothing; a number the policy accepts reaches the provider with exactly one POST.
(b) The policy on its own: whatever it accepts matches seed 002's E.164 pattern, and it raises
nothing but its own errors for arbitrary input.
"""

from __future__ import annotations

import itertools
import json
import unicodedata
from contextlib import contextmanager

import httpx
import phonenumbers
import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from mcp import Client

from caller_mcp.settings import Settings
from caller_mcp.errors import CallerError, InvalidInput, PolicyViolation
from caller_mcp.domain.policy import E164_PATTERN, DialPolicy, check_e164
from caller_mcp.mcp.server import build_server

PIZZA = "We are Pizza Palace."
GOOD = "+14155552671"  # a valid San Francisco number: the policy accepts it
ALLOWED_COUNTRIES = ("US", "GB")
POLICY = DialPolicy(real_provider=True, allowed_countries=ALLOWED_COUNTRIES)
CALL_PATH = "/v1/convai/twilio/outbound-call"
SUBMIT_PATH = "/v1/convai/batch-calling/submit"

# -- strategies ------------------------------------------------------------------------------------

DIGITS = "0123456789"


def digits(n_min: int, n_max: int | None = None) -> st.SearchStrategy[str]:
    return st.text(DIGITS, min_size=n_min, max_size=n_min if n_max is None else n_max)


def prefixed(prefix: str, n_min: int, n_max: int | None = None) -> st.SearchStrategy[str]:
    return digits(n_min, n_max).map(lambda rest: prefix + rest)


#: Digits of other scripts (Arabic-Indic, Devanagari, full-width …): ``int()`` reads them, the
#: seed's ASCII pattern must not.
UNICODE_DIGIT = st.characters(categories=("Nd",)).filter(lambda c: not c.isascii())
#: Every non-ASCII decimal digit, by value (65 scripts in Unicode 15).
DIGITS_OF_OTHER_SCRIPTS: dict[int, list[str]] = {value: [] for value in range(10)}
for _char in map(chr, range(0x80, 0x110000)):
    if unicodedata.category(_char) == "Nd":
        DIGITS_OF_OTHER_SCRIPTS[unicodedata.decimal(_char)].append(_char)


@st.composite
def good_number_with_a_unicode_digit(draw) -> str:
    """A valid number with one digit swapped for the same digit of another script."""
    at = draw(st.integers(2, len(GOOD) - 1))
    value = int(GOOD[at])
    same = draw(st.sampled_from(DIGITS_OF_OTHER_SCRIPTS[value]))
    return GOOD[:at] + same + GOOD[at + 1 :]


@st.composite
def good_number_with_an_extra_character(draw) -> str:
    """A valid number with any one non-ASCII-digit character inserted (space, dash, NUL, ZWJ, '+',
    a lone surrogate …)."""
    extra = draw(st.one_of(st.characters(exclude_characters=DIGITS), st.characters(categories=("Cs",))))
    at = draw(st.integers(0, len(GOOD)))
    return GOOD[:at] + extra + GOOD[at:]


def _example_numbers_outside_allowlist() -> list[str]:
    """phonenumbers' example numbers of every region but the allowed ones (DE, FR, JP, CA, JE …).

    An example that phonenumbers itself places in an allowed region is left out: the Isle of
    Man's example mobile, +447924123456, matches GB's mobile pattern first, so the library (and
    with it the policy) calls it GB.
    """
    found = set()
    for region in phonenumbers.SUPPORTED_REGIONS - set(ALLOWED_COUNTRIES):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None and phonenumbers.region_code_for_number(example) not in ALLOWED_COUNTRIES:
                found.add(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    return sorted(found)


OUTSIDE_ALLOWLIST = _example_numbers_outside_allowlist()

#: Inputs the policy refuses by construction; the test checks that it does before using them.
REFUSED = st.one_of(
    # not E.164 at all
    st.text().filter(lambda s: not E164_PATTERN.fullmatch(s)),
    digits(1, 16),  # no '+'
    prefixed("+0", 7, 14),  # country code cannot start with 0
    prefixed("+", 0, 7),  # too short
    prefixed("+1", 15, 30),  # too long
    st.text(UNICODE_DIGIT, min_size=8, max_size=15).map(lambda s: "+" + s),
    good_number_with_a_unicode_digit(),
    good_number_with_an_extra_character(),
    # premium rate, shared cost, UAN, personal, pager
    st.tuples(st.sampled_from("23456789"), digits(6)).map(lambda t: "+1900" + "".join(t)),  # US premium
    prefixed("+44871", 7),  # UK 0871 premium / shared
    prefixed("+4470", 8),  # UK personal numbers
    prefixed("+44764", 7),  # UK pagers
    prefixed("+4455", 8),  # UK corporate (UAN)
    prefixed("+33899", 6),  # French premium rate
    # emergency numbers and short codes (prefix matches included)
    st.sampled_from(["+4411200000", "+44118118", "+44999", "+4499912345", "+3311212345", "+4911012345"]),
    prefixed("+44999", 3, 9),
    prefixed("+44112", 3, 9),
    # valid numbers of countries that are not on the allowlist
    st.sampled_from(["+4915112345678", *OUTSIDE_ALLOWLIST]),
    prefixed("+49151", 8),
    prefixed("+336", 8),
    prefixed("+8190", 8),
)

#: Inputs of unknown verdict: the expectation is computed with the policy.
ANY = st.one_of(
    st.text(),
    st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True),
    st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True),
    prefixed("+1", 10),  # NANP-shaped: some valid US (allowed), some CA/JM … (refused)
    prefixed("+44", 9, 10),
)


def refused_reason(number: str) -> str | None:
    """The policy's refusal, or ``None`` when it accepts the number."""
    try:
        POLICY.check(number)
    except (InvalidInput, PolicyViolation) as exc:
        return str(exc)
    return None


# -- (a) through the tools ---------------------------------------------------------------------------


_batch_ids = itertools.count(1)


def answer(request: httpx.Request) -> httpx.Response:
    """A minimal ElevenLabs that accepts every call and batch (each batch gets a new id)."""
    if request.method == "POST" and request.url.path == CALL_PATH:
        return httpx.Response(200, json={"success": True, "message": "ok", "conversation_id": "conv_1", "callSid": "CA1"})
    if request.method == "POST" and request.url.path == SUBMIT_PATH:
        body = json.loads(request.content)
        return httpx.Response(
            200,
            json={"id": f"btcal_{next(_batch_ids)}", "name": body["call_name"], "status": "pending",
                  "total_calls_scheduled": len(body["recipients"])},
        )
    return httpx.Response(500, json={"detail": "unexpected request"})


@contextmanager
def real_provider_client(db_path):
    """``(call_tool, sent)``: a blocking ``call_tool`` on an in-memory client of a real-provider
    server, and the list of every HTTP request that server sent."""
    settings = Settings(
        _env_file=None,
        caller_mcp_db=db_path,
        elevenlabs_api_key="k",
        elevenlabs_agent_id="a",
        elevenlabs_agent_phone_number_id="p",
        elevenlabs_phone_provider="twilio",
        caller_mcp_allowed_countries=",".join(ALLOWED_COUNTRIES),
        # Neither guard may hide a request that the policy let through.
        caller_mcp_redial_guard_secs=0,
        caller_mcp_max_calls_per_hour=1_000_000,
        caller_mcp_confirm="never",
    )
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or answer(request))
    with start_blocking_portal("asyncio") as portal:
        client_cm = Client(build_server(settings, transport=transport), raise_exceptions=True)
        with portal.wrap_async_context_manager(client_cm) as client:
            yield (lambda name, arguments: portal.call(client.call_tool, name, arguments)), sent


def test_refused_numbers_never_reach_the_provider_and_accepted_ones_do(tmp_path):
    bad_inputs: set[str] = set()
    with real_provider_client(tmp_path / "props.sqlite3") as (call_tool, sent):

        @hsettings(
            max_examples=450,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(
            case=st.one_of(st.tuples(st.just(True), REFUSED), st.tuples(st.just(False), ANY)),
            shape=st.sampled_from(["plain", "object", "behind_a_good_one"]),
        )
        def check(case: tuple[bool, str], shape: str) -> None:
            by_construction, number = case
            reason = refused_reason(number)
            if by_construction:
                assert reason is not None, f"{number!r} was meant to be refused but the policy accepts it"
            recipients = {
                "plain": [number],
                "object": [{"phone_number": number}],
                "behind_a_good_one": [GOOD, number],
            }[shape]
            before = len(sent)
            call = call_tool("place_call", {"to_number": number, "business_description": PIZZA})
            batch = call_tool("submit_batch", {"recipients": recipients, "business_description": PIZZA})
            new = sent[before:]
            if reason is not None:
                bad_inputs.add(number)
                assert call.is_error, call.content
                assert batch.is_error, batch.content
                assert "nothing was sent" in batch.content[0].text
                assert new == [], [f"{r.method} {r.url}" for r in new]
            else:
                assert not call.is_error, call.content[0].text
                assert not batch.is_error, batch.content[0].text
                assert [(r.method, r.url.path) for r in new] == [("POST", CALL_PATH), ("POST", SUBMIT_PATH)]
                assert json.loads(new[0].content)["to_number"] == number

        check()
    assert len(bad_inputs) >= 200


@pytest.mark.parametrize("number", [GOOD, "+14155550123", "+442071838750", "+447400123456"])
def test_a_known_good_number_reaches_the_provider_with_exactly_one_post(tmp_path, number):
    assert refused_reason(number) is None
    with real_provider_client(tmp_path / "good.sqlite3") as (call_tool, sent):
        call = call_tool("place_call", {"to_number": number, "business_description": PIZZA})
        assert not call.is_error, call.content[0].text
        assert [(r.method, r.url.path) for r in sent] == [("POST", CALL_PATH)]
        assert json.loads(sent[0].content)["to_number"] == number
        batch = call_tool("submit_batch", {"recipients": [number], "business_description": PIZZA})
        assert not batch.is_error, batch.content[0].text
        assert [(r.method, r.url.path) for r in sent] == [("POST", CALL_PATH), ("POST", SUBMIT_PATH)]
        assert [r["phone_number"] for r in json.loads(sent[1].content)["recipients"]] == [number]


# -- (b) the policy on its own -------------------------------------------------------------------------

POLICIES = st.builds(
    DialPolicy,
    real_provider=st.booleans(),
    allowed_numbers=st.lists(st.one_of(st.text(max_size=20), ANY, ANY.map(lambda s: s + "*")), max_size=3).map(tuple),
    allowed_countries=st.lists(st.sampled_from(["US", "GB", "DE", "FR", "JP", "CA", "xx", ""]), max_size=3).map(tuple),
)


@hsettings(max_examples=400, deadline=None, database=None)
@given(number=st.one_of(ANY, REFUSED), policy=POLICIES, allow_it=st.booleans())
def test_whatever_the_policy_accepts_matches_the_seed_pattern_and_is_unchanged(number, policy, allow_it):
    if allow_it:  # an operator allowlist entry equal to the input must not bypass the E.164 check
        policy = DialPolicy(policy.real_provider, (*policy.allowed_numbers, number), policy.allowed_countries)
    try:
        accepted = policy.check(number)
    except (InvalidInput, PolicyViolation):
        return
    assert accepted == number
    assert E164_PATTERN.fullmatch(accepted)
    assert accepted.isascii()


@hsettings(max_examples=300, deadline=None, database=None)
@given(st.text())
def test_check_e164_raises_only_invalid_input_for_any_text(text):
    try:
        assert check_e164(text) == text
    except InvalidInput:
        assert not E164_PATTERN.fullmatch(text)
    else:
        assert E164_PATTERN.fullmatch(text)


@hsettings(max_examples=100, deadline=None, database=None)
@given(st.one_of(st.none(), st.integers(), st.floats(), st.binary(), st.lists(st.text()), st.dictionaries(st.text(), st.text())))
def test_check_e164_refuses_every_non_string(value):
    with pytest.raises(InvalidInput):
        check_e164(value)


@hsettings(max_examples=300, deadline=None, database=None)
@given(number=st.one_of(ANY, REFUSED), real_provider=st.booleans())
def test_the_policy_raises_only_its_own_errors(number, real_provider):
    try:
        DialPolicy(real_provider=real_provider, allowed_countries=ALLOWED_COUNTRIES).check(number)
    except CallerError as exc:
        assert isinstance(exc, (InvalidInput, PolicyViolation))
