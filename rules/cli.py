"""`python -m rules`: validate, test, simulate and explain rule sets; print the fact catalogue.

Every failure is a one-line message naming the file, line and field (exit status 1); the
command never prints a traceback, and output cut short by a closed pipe (`| head`) is quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from rules.advice import warnings
from rules.codes import TRIGGERS
from rules.errors import HistoryError, RuleRuntimeError, RuleSetError, SimulationTooLarge
from rules.factdoc import format_definitions, format_table
from rules.history_files import read_history
from rules.loader import fact_problem, load_ruleset, run_tests
from rules.ruleset import RuleSet
from rules.simulation import format_episodes, simulate
from rules.simulation import format_table as format_simulation


class _Failed(Exception):
    """A reported failure: the message is printed as is and the command exits 1."""


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _Failed(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise _Failed(f"{path}: cannot read: {exc.strerror or exc}") from None


def _load(path: str) -> RuleSet:
    try:
        return load_ruleset(_read(path), source=path)
    except RuleSetError as exc:
        raise _Failed("\n".join(issue.format(path) for issue in exc.errors)) from None


def _validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            ruleset = _load(path)
        except _Failed as exc:
            print(exc, file=sys.stderr)
            failed += 1
            continue
        print(
            f"{path}: ok ({len(ruleset.rules)} rules, {len(ruleset.tips)} tips, "
            f"{len(ruleset.tests)} tests)"
        )
        for warning in warnings(ruleset):
            print(f"{path}: warning: {warning['path']}: {warning['message']}")
    return 1 if failed else 0


def _test(args: argparse.Namespace) -> int:
    ruleset = _load(args.file)
    # load_ruleset already refused failing tests; list what ran.
    problems = run_tests(ruleset)
    for case in ruleset.tests:
        print(f"ok   {case.name}")
    print(f"{len(ruleset.tests)} tests, {len(problems)} failures")
    return 1 if problems else 0


def _day(text: str | None, option: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise _Failed(f"{option}: '{text}' is not a date YYYY-MM-DD") from None


def _simulate(args: argparse.Namespace) -> int:
    ruleset = _load(args.file)
    try:
        history = read_history(args.history, _read(args.history), timezone=args.timezone)
    except HistoryError as exc:
        raise _Failed("\n".join(f"{args.history}: {w}: {m}" for w, m in exc.errors)) from None
    first = history.enrolled_at.astimezone(history.zone).date()
    start = _day(args.start, "--start") or first
    last = max([row.day for row in history.daily_steps], default=start)
    end = _day(args.end, "--end") or last
    if end < start:
        raise _Failed(f"--end {end} is before --start {start}")
    try:
        days = simulate(ruleset, history, start, end)
    except (SimulationTooLarge, RuleRuntimeError) as exc:
        raise _Failed(f"{args.file}: {exc}") from None
    print(format_simulation(days))
    print()
    print(format_episodes(days))
    return 0


def _facts_argument(text: str) -> dict[str, object]:
    """Facts from JSON text or a JSON file, checked against the catalogue."""
    source = text
    if Path(text).is_file() or text.lower().endswith(".json"):
        source = _read(text)
    try:
        raw = json.loads(source)
    except json.JSONDecodeError as exc:
        raise _Failed(f"--facts: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise _Failed("--facts: nested too deeply") from None
    if not isinstance(raw, dict):
        raise _Failed('--facts: give a JSON object such as {"pain.latest": 8}')
    problems = [p for name, value in raw.items() if (p := fact_problem(name, value))]
    if problems:
        raise _Failed("\n".join(f"--facts: {problem}" for problem in problems))
    return {k: frozenset(v) if isinstance(v, list) else v for k, v in raw.items()}


def _explain(args: argparse.Namespace) -> int:
    ruleset = _load(args.file)
    facts = _facts_argument(args.facts)
    now = None
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            now = None
        if now is None or now.utcoffset() is None:
            raise _Failed(f"--now: '{args.now}' is not an ISO date-time with a UTC offset")
    try:
        decision = ruleset.evaluate(facts, args.trigger, now=now)
    except RuleRuntimeError as exc:
        raise _Failed(f"{args.file}: {exc}") from None
    print(decision.explain())
    return 0


def _facts(args: argparse.Namespace) -> int:
    print(format_definitions() if args.definitions else format_table())
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rules", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="validate rule-set files (exit 1 on errors)")
    validate.add_argument("files", nargs="+")
    validate.set_defaults(run=_validate)
    test = commands.add_parser("test", help="run a rule set's embedded tests")
    test.add_argument("file")
    test.set_defaults(run=_test)
    sim = commands.add_parser("simulate", help="replay a rule set over a JSON or CSV history")
    sim.add_argument("file")
    sim.add_argument("history")
    sim.add_argument("--start", help="first local date (default: enrolment)")
    sim.add_argument("--end", help="last local date (default: last day with steps)")
    sim.add_argument("--timezone", default="UTC", help="patient zone for a CSV history")
    sim.set_defaults(run=_simulate)
    explain = commands.add_parser("explain", help="evaluate facts (JSON text or file) and explain")
    explain.add_argument("file")
    explain.add_argument("--facts", required=True, help="JSON object of facts, or a JSON file")
    explain.add_argument("--trigger", default="schedule", choices=TRIGGERS)
    explain.add_argument("--now", help="ISO datetime with offset (default: now)")
    explain.set_defaults(run=_explain)
    facts = commands.add_parser("facts", help="print the fact catalogue")
    facts.add_argument("--definitions", action="store_true", help="print precise definitions")
    facts.set_defaults(run=_facts)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status."""
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        status = run(args)
        sys.stdout.flush()
    except _Failed as exc:
        print(exc, file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader stopped reading (`| head`): nothing more to say, and nothing at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, but still one line rather than a traceback
        print(f"python -m rules: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return int(status)
