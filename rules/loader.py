"""`load_ruleset`: YAML text -> validated, compiled `RuleSet`, or `RuleSetError` with locations."""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, time
from typing import Any

from marshmallow import ValidationError

from rules.asks import ASKS
from rules.codes import suggest
from rules.compiler import Compiler
from rules.decision import EvaluationState
from rules.errors import ExpressionError, Issue, RuleRuntimeError, RuleSetError
from rules.expr import Expression, compile_expression
from rules.facts import CATALOGUE, SETTINGS_FACTS, fact_types
from rules.instruments import BUILTIN
from rules.kinds import ActionKind, Kind, Severity
from rules.model import Action, Rule, Settings, TestCase, Tip, Variant, parse_duration
from rules.nullflow import guards, null_source
from rules.ruleset import RuleSet
from rules.schema import RuleSetSchema, flatten_errors
from rules.source import Document, Path, load_document
from rules.templates import Template, compile_template, plain

_TEST_NOW = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)


def load_ruleset(
    text: str, source: str = "<string>", *, instruments: Collection[str] | None = None
) -> RuleSet:
    """Load, validate and compile a rule set; raise RuleSetError listing every problem.

    `instruments`: the questionnaire ids an `ask` action may name (the built-in ones when None;
    the service passes the clinic's own as well).
    """
    document, issues = load_document(text)
    if document is None or issues:
        raise RuleSetError(issues, source)
    if not isinstance(document.data, dict):
        raise RuleSetError([document.issue((), "the rule set must be a mapping")], source)
    try:
        data = RuleSetSchema().load(document.data)
    except ValidationError as exc:
        for path, message in flatten_errors(exc.messages):
            issues.append(_structure_issue(document, path, message))
        raise RuleSetError(issues, source) from None
    builder = _Builder(document, issues, BUILTIN.keys() if instruments is None else instruments)
    ruleset = builder.build(data, source, text)
    if issues:
        raise RuleSetError(issues, source)
    for index, problem in run_tests(ruleset):
        issues.append(document.issue(("tests", index), problem))
    if issues:
        raise RuleSetError(issues, source)
    return ruleset


def _structure_issue(document: Document, path: Path, message: str) -> Issue:
    if message == "Unknown field.":
        return document.issue(path, f"unknown key '{path[-1]}'", at_key=True)
    if message == "Missing data for required field.":
        return document.issue(path, f"missing required key '{path[-1]}'")
    return document.issue(path, message.rstrip(".") if message.endswith(".") else message)


class _Builder:
    """Compile the checked structure, collecting every semantic issue."""

    def __init__(
        self, document: Document, issues: list[Issue], instruments: Collection[str]
    ) -> None:
        self.document = document
        self.issues = issues
        self.instruments = instruments
        self.types = fact_types()
        self.constants: dict[str, object] = {}
        self.paths: dict[int, Path] = {}  # id(template) -> where it is in the YAML

    def expression(self, path: Path, text: str, want: Kind | None) -> Expression | None:
        try:
            return compile_expression(text, self.types, want=want, constants=self.constants)
        except ExpressionError as exc:
            self.issues.append(self.document.issue(path, exc.message, offset=exc.offset))
            return None

    def template(self, path: Path, text: str) -> Template:
        try:
            compiled = compile_template(text, self.types, self.constants)
        except ExpressionError as exc:
            self.issues.append(self.document.issue(path, exc.message, offset=exc.offset))
            return plain(text)
        self.paths[id(compiled)] = path
        return compiled

    def build(self, data: dict[str, Any], source: str, text: str) -> RuleSet:
        settings = _settings(data["settings"])
        self.constants = settings.facts()
        tips = {tip_id: self.tip(tip_id, spec) for tip_id, spec in data["tips"].items()}
        rules, seen = [], set()
        for index, spec in enumerate(data["rules"]):
            if spec["id"] in seen:
                self.issues.append(
                    self.document.issue(("rules", index, "id"), f"duplicate rule id '{spec['id']}'")
                )
            seen.add(spec["id"])
            rule = self.rule(index, spec, tips)
            if rule is not None:
                rules.append(rule)
        tests = [self.test(index, spec, seen) for index, spec in enumerate(data["tests"])]
        return RuleSet(
            data["ruleset"],
            title=data["title"],
            description=data["description"],
            settings=settings,
            tips=tips,
            rules=rules,
            tests=tests,
            source=source,
            text=text,
        )

    def tip(self, tip_id: str, spec: dict[str, Any]) -> Tip:
        base: Path = ("tips", tip_id)
        variants = [
            Variant(
                self.template((*base, "title"), spec["title"]),
                self.template((*base, "text"), spec["text"]),
            )
        ]
        for index, extra in enumerate(spec["variants"]):
            where: Path = (*base, "variants", index)
            variants.append(
                Variant(
                    self.template((*where, "title"), extra["title"]),
                    self.template((*where, "text"), extra["text"]),
                )
            )
        return Tip(tip_id, spec["category"], tuple(variants), spec["asks"])

    def rule(self, index: int, spec: dict[str, Any], tips: dict[str, Tip]) -> Rule | None:
        base: Path = ("rules", index)
        when = self.expression((*base, "when"), spec["when"], Kind.BOOL)
        actions = []
        for number, item in enumerate(spec["then"]):
            path: Path = (*base, "then", number)
            key, value = next(iter(item.items()))
            kind = ActionKind(key)  # the schema allows only these keys
            if kind == ActionKind.SEND_TIP:
                if value not in tips:
                    hint = difflib.get_close_matches(value, list(tips), n=1)
                    extra = f" (did you mean '{hint[0]}'?)" if hint else ""
                    self.issues.append(
                        self.document.issue((*path, key), f"unknown tip '{value}'{extra}")
                    )
                actions.append(Action(kind, tip=value))
            elif kind == ActionKind.SET_TARGET:
                expression = self.expression((*path, key), str(value), Kind.NUMBER)
                actions.append(Action(kind, expression=expression))
            elif kind == ActionKind.HOLD_PROGRESSION:
                actions.append(Action(kind, days=value))
            elif kind == ActionKind.ASK:
                if value not in self.instruments:
                    known_ids = sorted(self.instruments)
                    hint = difflib.get_close_matches(value, known_ids, n=1)
                    extra = f" (did you mean '{hint[0]}'?)" if hint else ""
                    known = ", ".join(known_ids)
                    self.issues.append(
                        self.document.issue(
                            (*path, key), f"unknown questionnaire '{value}'{extra}; known: {known}"
                        )
                    )
                actions.append(Action(kind, instrument=value))
            else:
                message = self.template((*path, key, "message"), value["message"])
                actions.append(Action(kind, severity=Severity(value["severity"]), message=message))
        if spec["reason"] is not None:
            reason = self.template((*base, "reason"), spec["reason"])
        else:
            # Without a reason the patient reads the description, which holds no expressions.
            reason = plain(spec["description"] or "Your care plan suggested this.")
        if when is None:
            return None
        cooldown = parse_duration(spec["cooldown"]) if spec["cooldown"] else None
        rule = Rule(
            spec["id"],
            spec["description"],
            spec["priority"],
            frozenset(spec["on"]),
            when,
            tuple(actions),
            cooldown,
            spec["stop"],
            reason,
            spec["reason"] is not None,
            spec["randomize"]["probability"] if spec["randomize"] else None,
        )
        self.check_nulls(rule, tips)
        if rule.randomize is not None:
            self.check_randomized(rule, tips, base)
        return rule

    def check_randomized(self, rule: Rule, tips: dict[str, Tip], base: Path) -> None:
        """Refuse randomisation on a rule that does more than send ordinary tips.

        Withholding a target change, a clinician alert or a safety tip by chance would put a
        patient at risk for the sake of a measurement.
        """
        where = (*base, "randomize")
        if not rule.tips_only:
            message = "only a rule whose every action is send_tip can be randomised"
            self.issues.append(self.document.issue(where, message))
        elif any(tip_id in tips and tips[tip_id].category == "safety" for tip_id in rule.tip_ids):
            message = "a rule that sends a safety tip cannot be randomised"
            self.issues.append(self.document.issue(where, message))

    def check_nulls(self, rule: Rule, tips: dict[str, Tip]) -> None:
        """Refuse a template this rule renders that can show null while its `when` holds."""
        templates = [(rule.reason, "patient")]
        templates += [(a.message, "clinician") for a in rule.actions if a.message is not None]
        for action in rule.actions:
            tip = tips.get(action.tip or "")
            for variant in tip.variants if tip is not None else ():
                templates += [(variant.title, "patient"), (variant.text, "patient")]
        guarded = guards(rule.when.node())
        for template, reader in templates:
            path = self.paths.get(id(template))
            for placeholder in template.placeholders if path is not None else ():
                expression = placeholder.expression
                compiler = Compiler(expression.text, self.types, self.constants)
                source = null_source(expression.node(), guarded, compiler)
                if source is None:
                    continue
                self.paths.pop(id(template))  # one report per template is enough
                if source in self.types:
                    message = (
                        f"{{{expression.text}}} can show null to the {reader} when {source} has "
                        f"no data, and rule '{rule.id}' does not check it: add "
                        f"'{source} is not null' to its when"
                    )
                else:
                    message = (
                        f"{{{expression.text}}} can show null to the {reader} ({source}) when "
                        f"rule '{rule.id}' uses it"
                    )
                self.issues.append(
                    self.document.issue(path, message, offset=placeholder.offset)  # type: ignore[arg-type]
                )
                break

    def test(self, index: int, spec: dict[str, Any], rule_ids: set[str]) -> TestCase:
        base: Path = ("tests", index)
        facts: dict[str, object] = {}
        for name, value in spec["facts"].items():
            problem = fact_problem(name, value, self.types)
            if problem:
                self.issues.append(
                    self.document.issue((*base, "facts", name), problem, at_key=True)
                )
            facts[name] = frozenset(value) if isinstance(value, list) else value
        expect = spec["expect"]
        named: list[tuple[tuple[str | int, ...], str]] = [
            (("expect", key, n), r)
            for key in ("fires", "not_fires")
            for n, r in enumerate(expect[key])
        ]
        named += [(("cooling", n), r) for n, r in enumerate(spec["cooling"])]
        for where, rule_id in named:
            if rule_id not in rule_ids:
                self.issues.append(
                    self.document.issue((*base, *where), f"unknown rule '{rule_id}'")
                )
        tips = tuple(expect["tips"]) if "tips" in expect else None
        return TestCase(
            spec["name"],
            spec["trigger"],
            facts,
            tuple(expect["fires"]),
            tuple(expect["not_fires"]),
            expect.get("target"),
            "target" in expect,
            tips,
            tuple(spec["cooling"]),
        )


def _settings(spec: dict[str, Any]) -> Settings:
    quiet = spec["quiet_hours"]
    target = spec["target"]
    return Settings(
        decision_times=tuple(time.fromisoformat(value) for value in spec["decision_times"]),
        max_tips_per_day=spec["max_tips_per_day"],
        quiet_hours=(time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"]))
        if quiet
        else None,
        target_initial=target["initial"],
        target_min=target["min"],
        target_max=target["max"],
        max_weekly_increase=target["max_weekly_increase"],
    )


def fact_problem(name: str, value: object, types: Mapping[str, Kind] | None = None) -> str | None:
    """What is wrong with giving `value` for fact `name` (an unknown name, a wrong type)."""
    types = fact_types() if types is None else types
    if name in SETTINGS_FACTS:
        return f"'{name}' comes from the rule set's settings block; facts cannot change it"
    if name == "trigger":
        return "'trigger' is set by the engine: give the trigger itself instead"
    if name not in types:
        hint = difflib.get_close_matches(name, list(types), n=1, cutoff=0.7)
        return f"unknown fact '{name}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
    return None if value is None else _value_problem(name, value, types[name])


def _value_problem(name: str, value: object, kind: Kind) -> str | None:
    ok = {
        Kind.NUMBER: isinstance(value, (int, float)) and not isinstance(value, bool),
        Kind.BOOL: isinstance(value, bool),
        Kind.STRING: isinstance(value, str),
        Kind.SET: isinstance(value, list) and all(isinstance(item, str) for item in value),
    }[kind]
    if not ok:
        return f"fact '{name}' must be a {kind}" + (
            " (a list of strings)" if kind == Kind.SET else ""
        )
    if isinstance(value, float) and not math.isfinite(value):
        return f"fact '{name}' must be a finite number"
    codes = CATALOGUE[name].codes if name in CATALOGUE else None
    if not codes or not isinstance(value, list):
        return None
    for item in value:
        if item not in codes:
            hint = suggest(item, codes)
            extra = f" (did you mean '{hint}'?)" if hint else f" (codes: {', '.join(codes)})"
            return f"'{item}' is not a code of {name}{extra}"
    return None


def run_tests(ruleset: RuleSet) -> list[tuple[int, str]]:
    """Run the embedded tests; return (test index, problem) for each failure."""
    problems = []
    for index, case in enumerate(ruleset.tests):
        state = EvaluationState(last_fired=dict.fromkeys(case.cooling, _TEST_NOW))
        label = f"test '{case.name}' failed"
        try:
            decision = ruleset.evaluate(case.facts, case.trigger, state, _TEST_NOW)
        except RuleRuntimeError as exc:
            problems.append((index, f"{label}: {exc}"))
            continue
        for rule_id in case.fires:
            if rule_id not in decision.fired:
                why = decision.suppressed.get(rule_id, "not evaluated")
                problems.append((index, f"{label}: expected '{rule_id}' to fire ({why})"))
        for rule_id in case.not_fires:
            if rule_id in decision.fired:
                problems.append((index, f"{label}: expected '{rule_id}' not to fire"))
        if case.has_target and decision.target != case.target:
            problems.append(
                (index, f"{label}: expected target {case.target}, got {decision.target}")
            )
        # `tips` lists the rule set's own tips; a questionnaire's note is checked by `fires`.
        sent = tuple(tip.tip_id for tip in decision.tips if tip.asks != ASKS)
        if case.tips is not None and sent != case.tips:
            problems.append((index, f"{label}: expected tips {list(case.tips)}, got {list(sent)}"))
    return problems
