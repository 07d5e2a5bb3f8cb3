"""Test suites: the suite file, its plan (cases × repeats), deterministic checks, quoted evidence
and the verdicts that make a report. Pure: text in, values out; no I/O.

A **suite** (YAML) names a line (``to_number``), the business and its **cases**; each case has a
caller ``scenario`` (plus an optional ``persona``), ``success_criteria`` that an agent judges
with a quote from the transcript (:func:`evidence_in`), and ``checks`` that caller-mcp judges
itself (:func:`evaluate_checks`). A case runs ``repeats`` times; each run of a case is a **unit**
(``case-id#repeat``, repeats counted from 1).

A unit *passes* when every check passed and every criterion has a passing verdict; a criterion
without a verdict leaves it ``not_judged``, never passed (:func:`unit_verdict`). Across repeats a
case is ``flaky`` when some passed and some failed, and a ``regression`` when it passed in the
previous run of the same suite and fails now (:func:`case_summaries`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import InvalidInput
from .policy import E164_PATTERN

#: Bounds checked before any per-case work (the whole run is one batch: its size cap applies too).
MAX_SUITE_CHARS = 200_000
MAX_CASES = 200
MAX_REPEATS = 20
MAX_UNITS = 1_000
MAX_CRITERIA = 20
MAX_PHRASES = 20
MAX_TEXT_CHARS = 2_000
#: Suite problems named one by one in an error; the rest are counted.
MAX_LISTED_PROBLEMS = 20
#: Shortest quote accepted as evidence, in characters after normalising (a bare "yes" proves nothing).
MIN_EVIDENCE_CHARS = 8

#: What ``checks.outcome`` may expect: the recipient statuses a finished call ends in.
OUTCOMES = ("completed", "voicemail", "failed", "cancelled")
#: A unit's verdict. ``running``: the call has not finished; ``not_judged``: checks passed (or
#: none) but a criterion has no verdict, or the call's outcome is unknown.
VERDICTS = ("passed", "failed", "not_judged", "running")
CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

_PUNCTUATION = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACES = re.compile(r"\s+")


# -- the suite file ---------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegexPhrase(_Strict):
    """``{regex: …}``: a Python regular expression searched, case-insensitively, in what the business said."""

    regex: str = Field(min_length=1, max_length=500)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        return value


class Checks(_Strict):
    """Deterministic checks of one case, judged by caller-mcp when the call has ended.

    Attributes:
        business_says: phrases the business must say (case, whitespace and punctuation
            ignored), or ``{regex: …}``; each is one check.
        outcome: how the call must end (:data:`OUTCOMES`).
        max_duration_secs: the call must last at most this many seconds.
        provider_success: what the provider's own analysis must say (True = success).
    """

    business_says: list[str | RegexPhrase] = Field(default_factory=list, max_length=MAX_PHRASES)
    outcome: Literal["completed", "voicemail", "failed", "cancelled"] | None = None
    max_duration_secs: float | None = Field(default=None, gt=0, le=7_200)
    provider_success: bool | None = None

    @field_validator("business_says", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, dict)) else value

    @field_validator("business_says")
    @classmethod
    def _not_blank(cls, value: list[str | RegexPhrase]) -> list[str | RegexPhrase]:
        for phrase in value:
            if isinstance(phrase, str) and not normalise(phrase):
                raise ValueError("a phrase must contain a letter or digit")
        return value


class CallerSettings(_Strict):
    """Caller settings a suite's defaults or a case may give (sent where the provider supports them).

    Attributes:
        language: ISO 639-1 code (``en``, ``es``). voice_id: the provider's voice id.
        dynamic_variables: values passed to the caller agent.
        expected_minutes: per call, for the cost estimate.
    """

    language: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")
    voice_id: str | None = Field(default=None, max_length=100)
    dynamic_variables: dict[str, str | int | float | bool] | None = Field(default=None, max_length=50)
    expected_minutes: float | None = Field(default=None, gt=0, le=120)


class Defaults(CallerSettings):
    """``defaults``: what every case gets unless it says otherwise."""

    repeats: int = Field(default=1, ge=1, le=MAX_REPEATS)


class Case(CallerSettings):
    """One test case: a caller goal, its success criteria and checks.

    Attributes:
        id: unique in the suite (letters, digits, ``_ . -``); with the repeat it names a unit.
        scenario: the caller's goal. persona: who the caller plays, added to the goal.
        to_number: this case's line, instead of the suite's (E.164).
        repeats: instead of the default.
        success_criteria: statements an agent judges with a quote (``record_verdict``).
    """

    id: str = Field(pattern=CASE_ID_PATTERN)
    scenario: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    persona: str | None = Field(default=None, max_length=500)
    to_number: str | None = Field(default=None, pattern=E164_PATTERN.pattern)
    repeats: int | None = Field(default=None, ge=1, le=MAX_REPEATS)
    success_criteria: list[str] = Field(default_factory=list, max_length=MAX_CRITERIA)
    checks: Checks = Field(default_factory=Checks)

    @field_validator("success_criteria", mode="before")
    @classmethod
    def _criteria_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("success_criteria")
    @classmethod
    def _criteria_distinct(cls, value: list[str]) -> list[str]:
        cleaned = [_SPACES.sub(" ", c).strip() for c in value]
        if any(not c or len(c) > 500 for c in cleaned):
            raise ValueError("each criterion must be 1 to 500 characters")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("criteria must be distinct")
        return cleaned

    @property
    def goal(self) -> str:
        """The scenario the caller is given: the scenario, with the persona when there is one."""
        return f"{self.scenario}, as {self.persona}" if self.persona else self.scenario


class Suite(_Strict):
    """A test suite file (see the module docstring)."""

    name: str = Field(min_length=1, max_length=100)
    to_number: str | None = Field(default=None, pattern=E164_PATTERN.pattern)
    business_description: str | None = Field(default=None, max_length=20_000)
    defaults: Defaults = Field(default_factory=Defaults)
    cases: list[Case] = Field(min_length=1, max_length=MAX_CASES)

    @model_validator(mode="after")
    def _consistent(self) -> Suite:
        seen: set[str] = set()
        for case in self.cases:
            if case.id in seen:
                raise ValueError(f"case id {case.id!r} is used twice; ids must be unique")
            seen.add(case.id)
            if case.to_number is None and self.to_number is None:
                raise ValueError(f"case {case.id!r} has no to_number and the suite names none")
        units = sum(self.repeats_of(c) for c in self.cases)
        if units > MAX_UNITS:
            raise ValueError(f"cases × repeats is {units:,} calls; at most {MAX_UNITS:,} per run")
        return self

    def repeats_of(self, case: Case) -> int:
        """How many times ``case`` runs."""
        return case.repeats or self.defaults.repeats

    def setting(self, case: Case, name: str) -> Any:
        """A caller setting (``language`` …) of ``case``, else of the defaults, else ``None``."""
        value = getattr(case, name)
        return value if value is not None else getattr(self.defaults, name)

    def case(self, case_id: str) -> Case | None:
        """The case with this id, or ``None``."""
        return next((c for c in self.cases if c.id == case_id), None)


@dataclass(frozen=True)
class Unit:
    """One call of a run: a case at one repeat (``case-id#repeat``), to one number, with one goal."""

    case_id: str
    repeat: int
    to_number: str
    goal: str

    @property
    def key(self) -> str:
        """``case-id#repeat``: the batch recipient id and JUnit test name."""
        return f"{self.case_id}#{self.repeat}"


def plan_units(suite: Suite) -> list[Unit]:
    """Cases × repeats, in file order with a case's repeats together."""
    return [
        Unit(case.id, repeat, case.to_number or suite.to_number or "", case.goal)
        for case in suite.cases
        for repeat in range(1, suite.repeats_of(case) + 1)
    ]


def parse_suite(text: str, source: str = "suite") -> Suite:
    """Read a suite from YAML text (safely: plain data only) and validate it.

    Args:
        text: the YAML. source: its name in errors (a file name, or ``suite`` for text).
    Returns:
        The :class:`Suite`.
    Raises:
        InvalidInput: a YAML error or invalid fields, each named by ``source``, line and field
            (``pizza.yaml, line 12, cases[1].checks.outcome: …``).
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{source}: the suite is empty; give YAML text or a suite file name.")
    if len(text) > MAX_SUITE_CHARS:
        raise InvalidInput(f"{source}: the suite is {len(text):,} characters; at most {MAX_SUITE_CHARS:,}.")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InvalidInput(f"{source}: the suite is empty; give YAML text or a suite file name.")
        problems = [f"{source}, line {line}: {what}" for line, what in _duplicate_keys(node)]
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidInput(f"{source}{where}: not valid YAML: {exc.problem or exc.context}.") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: not valid YAML: {exc}.") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}, line 1: a suite is a mapping with name, to_number, business_description and cases.")
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = _line_of(node, loc)
            where = _field_name(loc) or "suite"
            problems.append(f"{source}, line {line}, {where}: {_message(error)}")
    else:
        if not problems:
            return suite
    listed = "\n".join(f"- {p}" for p in problems[:MAX_LISTED_PROBLEMS])
    more = f"\n- … and {len(problems) - MAX_LISTED_PROBLEMS} more" if len(problems) > MAX_LISTED_PROBLEMS else ""
    raise InvalidInput(f"The suite is invalid ({len(problems)} problem{'s' * (len(problems) > 1)}); nothing was run:\n{listed}{more}")


def _message(error: Any) -> str:
    kind, message = error.get("type", ""), error.get("msg", "invalid")
    if kind == "extra_forbidden":
        return "unknown field (check its spelling)"
    if kind == "missing":
        return "required field is missing"
    return message.removeprefix("Value error, ")


def _field_name(loc: Sequence[Any]) -> str:
    """``('cases', 1, 'checks', 'outcome')`` → ``cases[1].checks.outcome`` (pydantic's union tags dropped)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "RegexPhrase") or "[" in str(part):  # which union member failed
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(node: yaml.Node, loc: Sequence[Any]) -> int:
    """The 1-based line of the YAML node at ``loc``: the deepest node the path reaches (a missing
    field's mapping, an unknown field's key)."""
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if match is None:
                return line
            key, node = match
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _duplicate_keys(node: yaml.Node) -> list[tuple[int, str]]:
    """Keys given twice in one mapping (YAML loaders silently keep the last one)."""
    found: list[tuple[int, str]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        found.append((key.start_mark.line + 1, f"{key.value}: given twice in one mapping"))
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return sorted(found)


# -- checks -----------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Text as evidence and phrases are compared: Unicode-compatible forms folded, lower case,
    punctuation removed, whitespace collapsed (``"40-Minutes!"`` → ``"40 minutes"``)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", folded)).strip()


@dataclass(frozen=True)
class CallFacts:
    """What is known about a finished call, for the checks.

    Attributes:
        outcome: :data:`OUTCOMES` value (how the call ended), ``None`` when unknown.
        duration_secs: seconds, when reported.
        provider_outcome: the provider's analysis (``success``/``failure``/``unknown``), if any.
        transcript: ``(role, message)`` turns; ``business`` is the line under test.
    """

    outcome: str | None
    duration_secs: float | None = None
    provider_outcome: str | None = None
    transcript: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CheckResult:
    """One check: its name (``business_says "40 minutes"``, ``outcome`` …), whether it passed, and why."""

    check: str
    passed: bool
    reason: str


def evaluate_checks(checks: Checks, facts: CallFacts) -> list[CheckResult]:
    """Judge every check of a case against a finished call. Returns one result per check, in the
    order ``outcome``, ``max_duration_secs``, ``provider_success``, then each phrase."""
    results: list[CheckResult] = []
    if checks.outcome is not None:
        got = facts.outcome or "unknown"
        results.append(
            CheckResult("outcome", got == checks.outcome, f"expected {checks.outcome}, the call ended {got}")
        )
    if checks.max_duration_secs is not None:
        limit = checks.max_duration_secs
        if facts.duration_secs is None:
            results.append(CheckResult("max_duration_secs", False, "the provider reported no duration"))
        else:
            results.append(
                CheckResult(
                    "max_duration_secs",
                    facts.duration_secs <= limit,
                    f"lasted {facts.duration_secs:g} s, limit {limit:g} s",
                )
            )
    if checks.provider_success is not None:
        wanted = "success" if checks.provider_success else "failure"
        got = facts.provider_outcome
        reason = f"expected {wanted}, the provider's analysis says {got}" if got else "the provider gave no analysis of this call"
        results.append(CheckResult("provider_success", got == wanted, reason))
    business = [message for role, message in facts.transcript if role == "business"]
    for phrase in checks.business_says:
        results.append(_phrase_check(phrase, business))
    return results


def _phrase_check(phrase: str | RegexPhrase, business: list[str]) -> CheckResult:
    if isinstance(phrase, RegexPhrase):
        name = f"business_says /{phrase.regex}/"
        pattern = re.compile(phrase.regex, re.IGNORECASE)
        hit = next((m for m in (pattern.search(turn) for turn in business) if m), None)
    else:
        name = f'business_says "{phrase}"'
        wanted = normalise(phrase)
        hit = next((turn for turn in business if _contains(normalise(turn), wanted)), None)
    if not business:
        return CheckResult(name, False, "the business said nothing")
    if hit is None:
        return CheckResult(name, False, f"the business never said it ({len(business)} business turns)")
    said = hit.group(0) if isinstance(hit, re.Match) else hit
    return CheckResult(name, True, f'said: "{_clip(said, 120)}"')


def _contains(haystack: str, needle: str) -> bool:
    """``needle`` occurs in ``haystack`` on word boundaries (both normalised)."""
    return f" {needle} " in f" {haystack} "


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# -- evidence and verdicts --------------------------------------------------------------------


def evidence_in(evidence: str, transcript: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """Find a quoted piece of evidence in one turn of a transcript.

    Args:
        evidence: the quote. transcript: ``(role, message)`` turns.
    Returns:
        ``(role, message)`` of the turn that contains it (case, whitespace and punctuation ignored).
    Raises:
        InvalidInput: too short, or in no single turn: the reason, so an invented quote is refused.
    """
    wanted = normalise(evidence or "")
    if len(wanted) < MIN_EVIDENCE_CHARS:
        raise InvalidInput(
            f"evidence must quote at least {MIN_EVIDENCE_CHARS} characters of the transcript (letters and "
            "digits, after normalising); a quote that short proves nothing."
        )
    turns = list(transcript)
    if not turns:
        raise InvalidInput("The call has no transcript, so nothing can be quoted: judge it by its checks alone.")
    for role, message in turns:
        if _contains(normalise(message), wanted):
            return role, message
    raise InvalidInput(
        f'Refused: "{_clip(evidence.strip(), 120)}" does not appear in any turn of this call\'s transcript '
        "(compared ignoring case, whitespace and punctuation). Quote the transcript word for word; read it "
        "with get_test_run's transcript_uri."
    )


@dataclass(frozen=True)
class Verdict:
    """An agent's verdict on one criterion of one unit, with the quote that supports it."""

    criterion: str
    passed: bool
    evidence: str


def unit_verdict(
    *, final: bool, outcome_unknown: bool, checks: Sequence[CheckResult], criteria: Sequence[str],
    verdicts: Sequence[Verdict],
) -> tuple[str, list[str]]:
    """The verdict of one unit and the criteria still awaiting a verdict.

    Args:
        final: the call has ended (or was never placed). outcome_unknown: the dial's outcome is
            unknown (it may have rung): never a plain failure.
        checks: the check results (empty until final). criteria: the case's success criteria.
        verdicts: recorded verdicts for this unit.
    Returns:
        ``(verdict, awaiting)``: :data:`VERDICTS` value, and the criteria without a verdict.
    """
    judged = {v.criterion: v for v in verdicts}
    awaiting = [c for c in criteria if c not in judged]
    if not final:
        return "running", awaiting
    if outcome_unknown:
        return "not_judged", awaiting
    if any(not c.passed for c in checks) or any(not v.passed for v in judged.values() if v.criterion in criteria):
        return "failed", awaiting
    return ("not_judged" if awaiting else "passed"), awaiting


@dataclass(frozen=True)
class CaseSummary:
    """One case across its repeats.

    Attributes:
        passed, failed, not_judged, running: units per verdict. pass_rate: passed / repeats (0-1).
        flaky: some repeats passed and some failed. regression: passed in the previous run, fails now.
        verdict: ``failed`` if any repeat failed, else ``running``, ``not_judged``, or ``passed``.
    """

    case_id: str
    repeats: int
    passed: int
    failed: int
    not_judged: int
    running: int
    pass_rate: float
    flaky: bool
    verdict: str
    regression: bool = False
    reasons: list[str] = field(default_factory=list)


def case_summary(case_id: str, verdicts: Sequence[str], reasons: Sequence[str] = ()) -> CaseSummary:
    """Summarise one case from its units' verdicts (see :class:`CaseSummary`)."""
    count = {v: sum(1 for x in verdicts if x == v) for v in VERDICTS}
    repeats = len(verdicts)
    if count["failed"]:
        verdict = "failed"
    elif count["running"]:
        verdict = "running"
    elif count["not_judged"]:
        verdict = "not_judged"
    else:
        verdict = "passed"
    return CaseSummary(
        case_id=case_id,
        repeats=repeats,
        passed=count["passed"],
        failed=count["failed"],
        not_judged=count["not_judged"],
        running=count["running"],
        pass_rate=round(count["passed"] / repeats, 3) if repeats else 0.0,
        flaky=bool(count["passed"] and count["failed"]),
        verdict=verdict,
        reasons=list(dict.fromkeys(reasons)),
    )


def mark_regressions(current: Sequence[CaseSummary], previous: dict[str, str] | None) -> list[CaseSummary]:
    """``current`` with ``regression`` set where a case passed in the previous run of the suite
    (``previous``: case id → verdict, ``None`` when there is no previous run) and fails now."""
    if not previous:
        return list(current)
    return [
        CaseSummary(**{**s.__dict__, "regression": s.verdict == "failed" and previous.get(s.case_id) == "passed"})
        for s in current
    ]
