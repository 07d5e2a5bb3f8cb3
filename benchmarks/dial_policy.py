"""Cost of the dial policy per number: ``DialPolicy.check`` before and after issue 10, side by side.

Workloads, each timed old / old+cache / new interleaved, every round over all of its numbers:

* ``valid +1``: random NANP numbers (any area code, Caribbean ones included) that
  ``phonenumbers.is_valid_number`` accepts;
* ``valid other``: seeded neighbours of the example numbers of 11 other countries (+44 +49 +33 +61
  +81 +91 +55 +7 +86 +39 +34), valid ones only;
* ``valid mixed``: half of each (the issue's target: a median ≤ 40 µs a number);
* ``verdict sample``: the numbers of tests/domain/test_policy_verdicts.py, which hold every verdict
  (refused types, emergency and short numbers, invalid numbers, unknown country codes).

"old" is the former ``check``, the reference copy kept in that test module (one copy only), run
as it shipped: without phonenumbers' pattern cache, which the new policy turns on for the whole
process. "old+cache" is the same with the cache, to tell the two gains apart. The policy is the
real-provider one without an allowlist, as for a batch against ElevenLabs.

Per workload and algorithm: µs per number (total / count, median over the rounds) and the median
of the per-call times of every call of every round, less the clock's own cost. The clock is this
thread's CPU time by default, so other processes on the machine do not inflate it (``--clock
wall`` for ``perf_counter``). Before timing, old and new run once over every number and their
verdicts are compared; any difference stops the benchmark.

    .venv/bin/python benchmarks/dial_policy.py [--rounds 7] [--count 10000] [--clock cpu|wall]

Needs the test extra (``pip install -e '.[test]'``) for the reference module's imports.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from pathlib import Path

import phonenumbers

from caller_mcp.errors import InvalidInput, PolicyViolation
from caller_mcp.domain.policy import DialPolicy

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "domain" / "test_policy_verdicts.py"
TARGET_US = 40.0
OTHER_REGIONS = ("GB", "DE", "FR", "AU", "JP", "IN", "BR", "RU", "CN", "IT", "ES")


def load_reference():
    spec = importlib.util.spec_from_file_location("policy_verdicts_reference", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def valid_nanp(rng: random.Random, count: int) -> list[str]:
    numbers: list[str] = []
    while len(numbers) < count:
        number = f"+1{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            numbers.append(number)
    return numbers


def valid_other(rng: random.Random, count: int) -> list[str]:
    examples = [
        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        for region in OTHER_REGIONS
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE)
        if (example := phonenumbers.example_number_for_type(region, kind))
    ]
    numbers: list[str] = []
    while len(numbers) < count:
        example = examples[len(numbers) % len(examples)]
        k = rng.randint(2, 5)
        number = example[:-k] + "".join(rng.choice("0123456789") for _ in range(k))
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            numbers.append(number)
    return numbers


class PatternCache:
    """Turns phonenumbers' compiled-pattern cache off around the old algorithm, as it ran before.

    The policy now turns the cache on (``enable_pattern_cache``), and it is global: without this
    the old algorithm would be timed with the new cache. Reaches into ``phonenumbers.re_util``;
    the benchmark only, never the policy.
    """

    def __init__(self) -> None:
        from phonenumbers import re_util

        self._module = re_util
        self._saved = getattr(re_util, "_COMPILED_PATTERNS", None)

    @contextmanager
    def off(self):
        self._module._COMPILED_PATTERNS = None
        try:
            yield
        finally:
            self._module._COMPILED_PATTERNS = self._saved


def verdict(check: Callable[[str], str], number: str) -> str:
    try:
        return "accept" if check(number) == number else "changed"
    except (InvalidInput, PolicyViolation) as exc:
        return f"{type(exc).__name__}: {exc}"


def timing_overhead(numbers: list[str], clock: Callable[[], float]) -> tuple[float, float]:
    """What ``timed`` measures for a check that does nothing: (µs per number, per-call median µs)."""
    per_call: list[float] = []
    passes = [timed(lambda number: number, numbers, per_call, clock) for _ in range(3)]
    return statistics.median(passes), statistics.median(per_call)


def timed(check: Callable[[str], str], numbers: list[str], per_call: list[float], clock: Callable[[], float]) -> float:
    """µs per number over one pass; appends every call's µs to ``per_call``."""
    start = clock()
    for number in numbers:
        t0 = clock()
        try:
            check(number)
        except (InvalidInput, PolicyViolation):
            pass
        per_call.append((clock() - t0) * 1e6)
    return (clock() - start) * 1e6 / len(numbers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per workload (default 7)")
    parser.add_argument("--count", type=int, default=10_000, help="valid numbers per valid workload (default 10000)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu: this thread's CPU time, steady when other processes share the cores (default); "
                        "wall: time.perf_counter")
    args = parser.parse_args()
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter

    reference = load_reference()
    policy = DialPolicy(real_provider=True)
    policy.check("+14155552671")  # imports phonenumbers and turns its pattern cache on
    patterns = PatternCache()

    def old(number: str) -> str:
        return reference._old_check(policy, number)

    #: name → (check, phonenumbers' pattern cache on while it runs)
    algorithms: dict[str, tuple[Callable[[str], str], bool]] = {
        "old": (old, False), "old+cache": (old, True), "new": (policy.check, True),
    }
    rng = random.Random(10)
    workloads = {
        "valid +1": valid_nanp(rng, args.count),
        "valid other": valid_other(rng, args.count),
        "verdict sample": list(reference.SAMPLE),
    }
    workloads["valid mixed"] = workloads["valid +1"][: args.count // 2] + workloads["valid other"][: args.count // 2]

    for name, numbers in workloads.items():  # also the warm-up: metadata loaded, screens built
        differ = sum(verdict(old, n) != verdict(policy.check, n) for n in numbers)
        print(f"check {name:<15} {len(numbers):>6,} numbers, verdicts differing old/new: {differ}")
        if differ:
            return 1

    overhead_mean, overhead_call = timing_overhead(workloads["valid mixed"], clock)
    print()
    print(f"DialPolicy(real_provider=True).check, {args.rounds} interleaved rounds, {args.clock} clock, "
          f"python {sys.version.split()[0]}, phonenumbers {phonenumbers.__version__}; "
          f"less the timing loop's own {overhead_mean:.2f} µs/n and {overhead_call:.2f} µs a call")
    print(f"{'workload':<16}{'numbers':>8}{'old µs/n':>10}{'old+cache':>11}{'new µs/n':>10}{'old/new':>9}"
          f"{'old p50':>9}{'new p50':>9}{'p50 old/new':>13}")
    results = {}
    for name, numbers in workloads.items():
        means: dict[str, list[float]] = {algo: [] for algo in algorithms}
        calls: dict[str, list[float]] = {algo: [] for algo in algorithms}
        for _ in range(args.rounds):
            for algo, (check, cached) in algorithms.items():
                with nullcontext() if cached else patterns.off():
                    means[algo].append(timed(check, numbers, calls[algo], clock))
        mean = {algo: statistics.median(values) - overhead_mean for algo, values in means.items()}
        p50 = {algo: statistics.median(values) - overhead_call for algo, values in calls.items()}
        results[name] = p50["new"]
        print(f"{name:<16}{len(numbers):>8,}{mean['old']:>10.1f}{mean['old+cache']:>11.1f}{mean['new']:>10.1f}"
              f"{mean['old'] / mean['new']:>9.2f}{p50['old']:>9.1f}{p50['new']:>9.1f}{p50['old'] / p50['new']:>13.2f}")
    headline = results["valid mixed"]
    status = "OK" if headline <= TARGET_US else "ABOVE TARGET"
    print(f"median µs per valid number (mixed), new: {headline:.1f}   (target ≤ {TARGET_US:.0f}: {status})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
