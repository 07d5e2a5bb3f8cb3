"""``caller-mcp test SUITE.yaml``: run a test suite from a CI pipeline.

Runs the suite on the configured provider (the built-in sandbox when no keys are set) through
the same use cases as the ``run_test_suite`` tool — dial policy, caps and records included — with
a progress bar on stderr, then writes the reports and exits:

- ``0``: every call ended and every judged case passed (criteria awaiting a verdict are skipped);
- ``1``: a case failed, a call had not ended by ``--timeout`` or its outcome is unknown, or, with
  ``--require-verdicts``, a criterion has no verdict;
- ``2``: a usage or configuration error (bad suite, missing keys, a refused number, a cap).

In the sandbox the CLI runs calls :data:`CLI_SANDBOX_SPEED` times faster than real time unless
``CALLER_MCP_SANDBOX_SPEED`` is set, so a suite finishes in seconds on a fresh clone.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import anyio

#: Sandbox seconds per real second for ``caller-mcp test`` when ``CALLER_MCP_SANDBOX_SPEED`` is unset.
CLI_SANDBOX_SPEED = 20.0
DEFAULT_TIMEOUT_SECS = 600.0
#: Seconds each progress read waits at most (the bar moves in between).
READ_WAIT_SECS = 5.0
#: Consecutive failed reads of the run after which the CLI stops waiting and reports what it has.
MAX_READ_FAILURES = 5
OK, FAILED, USAGE = 0, 1, 2


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``test`` command to the console script's subcommands."""
    test = sub.add_parser(
        "test",
        help="run a test suite (YAML) and write JUnit / Markdown reports, for CI",
        description="Run a test suite on the configured provider (the sandbox when no keys are set), show "
        "progress on stderr, write the reports, and exit 0 (every judged case passed), 1 (a case failed or "
        "did not finish) or 2 (usage or configuration error).",
    )
    test.add_argument("suite", help="the suite file (YAML)")
    test.add_argument("--junit", metavar="FILE", help="write a JUnit XML report here")
    test.add_argument("--markdown", metavar="FILE", help="write a Markdown report here")
    test.add_argument("--dry-run", action="store_true", help="check the suite and every number; dial nothing")
    test.add_argument(
        "--timeout", metavar="SECS", type=float, default=DEFAULT_TIMEOUT_SECS,
        help=f"give up waiting for the calls after this many seconds (default {DEFAULT_TIMEOUT_SECS:g})",
    )
    test.add_argument(
        "--require-verdicts", action="store_true",
        help="count success criteria without a verdict as failures (default: skipped)",
    )


def main(args: argparse.Namespace) -> int:
    """Run ``caller-mcp test``; returns the exit code (see the module docstring)."""
    from .cli import _configure_logging
    from .settings import Settings

    settings = Settings.load()
    _configure_logging(settings.caller_mcp_log_level)
    if settings._problem:
        return _usage(settings._problem)
    if args.timeout <= 0:
        return _usage("--timeout must be a positive number of seconds.")
    if "CALLER_MCP_SANDBOX_SPEED" not in {k.upper() for k in os.environ}:
        settings.caller_mcp_sandbox_speed = CLI_SANDBOX_SPEED
    path = Path(args.suite)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _usage(f"Cannot read the suite file {args.suite}: {exc}")
    return anyio.run(_run, settings, text, path.name, args)


def _usage(message: str) -> int:
    print(f"caller-mcp test: {message}", file=sys.stderr)
    return USAGE


async def _run(settings, text: str, source: str, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .app import testing
    from .bootstrap import bootstrap
    from .errors import CallerError, ProviderError

    services = bootstrap(settings)
    try:
        async with anyio.create_task_group() as group:
            services.background = group  # single calls, where the provider has no batches, are paced here
            try:
                plan = await testing.plan_run(services, text, source)
                started = await testing.start_run(services, plan, dry_run=args.dry_run)
            except ProviderError as exc:
                group.cancel_scope.cancel()
                print(f"caller-mcp test: {exc}", file=sys.stderr)
                return FAILED if "may or may not" in str(exc) else USAGE
            except CallerError as exc:
                group.cancel_scope.cancel()
                return _usage(str(exc))
            if started.estimate:
                print(started.estimate, file=sys.stderr)
            if started.dry_run:
                print(f"{started.message} Provider {started.provider}{' (sandbox)' if started.sandbox else ''}.")
                for note in started.not_applied:
                    print(f"note: {note}", file=sys.stderr)
                return OK
            print(started.message.split(" Next:")[0] + f" Run {started.run_id}.", file=sys.stderr)
            code = await _follow(services, started.run_id or "", plan, args, tqdm)
            group.cancel_scope.cancel()
    finally:
        services.background = None
        await services.aclose()
    return code


async def _follow(services, run_id: str, plan, args: argparse.Namespace, tqdm) -> int:
    from .app import run_reports, testing
    from .errors import CallerError

    deadline = services.monotonic() + args.timeout
    failures = 0
    with tqdm(total=len(plan.units), desc=plan.suite.name, unit="call", file=sys.stderr, dynamic_ncols=True) as bar:
        while True:
            remaining = deadline - services.monotonic()
            try:
                run = await testing.get_test_run(services, run_id, max(0.0, min(READ_WAIT_SECS, remaining)))
            except CallerError as exc:
                failures += 1
                print(f"caller-mcp test: reading the run failed: {exc}", file=sys.stderr)
                if failures >= MAX_READ_FAILURES:
                    print(f"caller-mcp test: giving up after {failures} failed reads; the report shows what is known.", file=sys.stderr)
                    break
                run = None
            if run is not None:
                failures = 0
                finished = round(run.progress * len(plan.units))
                bar.update(finished - bar.n)
                bar.set_postfix_str(", ".join(f"{k} {v}" for k, v in sorted(run.counts.items())))
                if run.status in ("done", "failed", "outcome_unknown"):
                    break
            if services.monotonic() >= deadline:
                print(f"caller-mcp test: --timeout {args.timeout:g} s reached before every call ended.", file=sys.stderr)
                break
            if run is None:
                await services.sleep(READ_WAIT_SECS)
    report = await testing.build_report(services, run_id, read=False)
    if args.junit:
        Path(args.junit).write_text(run_reports.junit_xml(report, require_verdicts=args.require_verdicts), encoding="utf-8")
    markdown = run_reports.markdown(report)
    if args.markdown:
        Path(args.markdown).write_text(markdown, encoding="utf-8")
    verdicts = [verdict for _, verdict, _ in report.units]
    failed = [c for c in report.cases if c.verdict == "failed"]
    unknown = report.run.status == "outcome_unknown"
    unfinished = sum(1 for u, v, _ in report.units if v == "running" or (v == "not_judged" and (unknown or u.status == "unknown")))
    unjudged = sum(1 for v in verdicts if v == "not_judged")
    for case in report.cases:
        why = f" — {'; '.join(case.reasons[:3])}" if case.reasons else ""
        print(f"{case.verdict.upper():<10} {case.case_id} ({case.passed}/{case.repeats} passed){why}")
    print(
        f"{report.suite.name}: {len(report.cases) - len(failed)} of {len(report.cases)} cases not failed; "
        f"{unjudged} calls await a verdict{' (required)' if args.require_verdicts and unjudged else ''}; run {run_id}."
    )
    if failed or unfinished or (args.require_verdicts and unjudged):
        return FAILED
    return OK

