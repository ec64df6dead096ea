"""`python -m rules`: validate, test, simulate and explain rule sets; print the fact catalogue."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from pathlib import Path

from rules.errors import RuleSetError
from rules.facts import format_definitions, format_table
from rules.loader import load_ruleset, run_tests
from rules.reference import History
from rules.ruleset import RuleSet
from rules.simulation import format_table as format_simulation
from rules.simulation import simulate


def _load(path: str) -> RuleSet | None:
    try:
        return load_ruleset(Path(path).read_text(encoding="utf-8"), source=path)
    except RuleSetError as exc:
        for issue in exc.errors:
            print(issue.format(path), file=sys.stderr)
        return None
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return None


def _validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        ruleset = _load(path)
        if ruleset is None:
            failed += 1
        else:
            print(
                f"{path}: ok ({len(ruleset.rules)} rules, {len(ruleset.tips)} tips, "
                f"{len(ruleset.tests)} tests)"
            )
    return 1 if failed else 0


def _test(args: argparse.Namespace) -> int:
    ruleset = _load(args.file)
    if ruleset is None:
        return 1
    # load_ruleset already refused failing tests; list what ran.
    problems = run_tests(ruleset)
    for case in ruleset.tests:
        print(f"ok   {case.name}")
    print(f"{len(ruleset.tests)} tests, {len(problems)} failures")
    return 1 if problems else 0


def _simulate(args: argparse.Namespace) -> int:
    ruleset = _load(args.file)
    if ruleset is None:
        return 1
    try:
        text = Path(args.history).read_text(encoding="utf-8")
        history = History.load(args.history, text, timezone=args.timezone)
    except (OSError, ValueError, KeyError) as exc:
        print(f"{args.history}: cannot read history: {exc}", file=sys.stderr)
        return 1
    first = history.enrolled_at.astimezone(history.zone).date()
    start = date.fromisoformat(args.start) if args.start else first
    last = max([row.day for row in history.daily_steps], default=start)
    end = date.fromisoformat(args.end) if args.end else last
    print(format_simulation(simulate(ruleset, history, start, end)))
    return 0


def _explain(args: argparse.Namespace) -> int:
    ruleset = _load(args.file)
    if ruleset is None:
        return 1
    raw = json.loads(
        Path(args.facts).read_text(encoding="utf-8") if Path(args.facts).is_file() else args.facts
    )
    facts = {
        name: frozenset(value) if isinstance(value, list) else value for name, value in raw.items()
    }
    now = datetime.fromisoformat(args.now) if args.now else None
    print(ruleset.evaluate(facts, args.trigger, now=now).explain())
    return 0


def _facts(args: argparse.Namespace) -> int:
    print(format_definitions() if args.definitions else format_table())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status."""
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
    explain.add_argument("--facts", required=True)
    explain.add_argument("--trigger", default="schedule")
    explain.add_argument("--now", help="ISO datetime with offset (default: now)")
    explain.set_defaults(run=_explain)
    facts = commands.add_parser("facts", help="print the fact catalogue")
    facts.add_argument("--definitions", action="store_true", help="print precise definitions")
    facts.set_defaults(run=_facts)
    args = parser.parse_args(argv)
    return int(args.run(args))
