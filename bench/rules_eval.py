"""Benchmark: the default rule set's `when` conditions over synthetic fact sets.

Compares the compiled engine with zen-engine's compiled expressions and the rule-engine package,
all evaluating the same conditions (translated, with the same null semantics: a comparison with
a null operand is false) over the same fact sets in the same run. Then times a whole decision:
`RuleSet.evaluate(facts)` with its defaults (trace on, tip texts and reasons rendered, `now`
read from the clock) against zen-engine evaluating three bare conditions (three times its mean
time per condition of the default set, same fact sets, rounds interleaved with the decisions,
best round of each). Also shown: a decision whose traces are then
read, and one with `texts=False` (texts rendered when first read, as the simulator does).
`vs_*` figures are speedups (how many times faster ours is); `decision_vs_zen3 >= 1` means a
whole decision is no slower than zen-engine's three bare conditions.
Usage: `python bench/rules_eval.py [N]`.
"""

from __future__ import annotations

import argparse
import ast
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rule_engine
import zen

import rules
from rules.codes import highest_tier
from rules.expr import parse
from rules.facts import CATALOGUE

ROUNDS = 5
OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}


def flat(name: str) -> str:
    return name.replace(".", "_")


def facts_in(node: ast.AST) -> list[str]:
    names = []
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Name, ast.Attribute)):
            name = ast.unparse(sub)
            if name in CATALOGUE or name.startswith("settings."):
                names.append(flat(name))
    return sorted(set(names))


def translate(node: ast.AST) -> str:
    """Translate one of our expressions to the shared zen / rule-engine syntax."""
    if isinstance(node, ast.BoolOp):
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        return "(" + joiner.join(translate(v) for v in node.values) + ")"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return f"not ({translate(node.operand)})"
    if isinstance(node, ast.Compare):
        op, right = node.ops[0], node.comparators[0]
        if isinstance(op, (ast.Is, ast.IsNot)):
            return f"({value(node.left)} {'==' if isinstance(op, ast.Is) else '!='} null)"
        guards = [f"{name} != null" for name in facts_in(node)]
        if isinstance(op, (ast.In, ast.NotIn)):
            test = f"({value(node.left)} in {value(right)})"
            test = f"not {test}" if isinstance(op, ast.NotIn) else test
        else:
            test = f"{value(node.left)} {OPS[type(op)]} {value(right)}"
        return "(" + " and ".join([*guards, test]) + ")"
    if isinstance(node, (ast.Name, ast.Attribute)):
        return f"({flat(ast.unparse(node))} == true)"
    raise ValueError(f"cannot translate {ast.dump(node)}")


def value(node: ast.AST) -> str:
    if isinstance(node, ast.Constant):
        return repr(node.value).replace("'", '"')
    if isinstance(node, (ast.Name, ast.Attribute)):
        return flat(ast.unparse(node))
    if isinstance(node, ast.BinOp):
        return f"({value(node.left)} {ARITH[type(node.op)]} {value(node.right)})"
    raise ValueError(f"cannot translate {ast.dump(node)}")


def maybe(rng: random.Random, value: object, null_rate: float = 0.15) -> object:
    return None if rng.random() < null_rate else value


def fact_sets(count: int, seed: int = 1) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        flags = frozenset(
            rng.sample(["leg_weakness", "fever", "night_pain"], rng.choice([0, 0, 0, 0, 1]))
        )
        conditions = frozenset(
            rng.sample(["spinal_stenosis", "osteoporosis"], rng.choice([0, 0, 0, 1]))
        )
        cleared = frozenset(c for c in conditions if rng.random() < 0.5)
        episode = rng.random() < 0.05
        out.append(
            {
                "steps.today": maybe(rng, rng.randint(0, 12000)),
                "steps.days_with_data_7d": rng.randint(0, 7),
                "steps.days_met_target_7d": rng.randint(0, 7),
                "shoes.km": maybe(rng, rng.uniform(0, 800), 0.5),
                "pain.latest": maybe(rng, rng.randint(0, 10)),
                "pain.hours_since": maybe(rng, rng.uniform(0, 200)),
                "pain.change": maybe(rng, rng.uniform(-4, 4), 0.3),
                "pain.max_7d": maybe(rng, rng.randint(0, 10), 0.3),
                "pain.red_flags": flags,
                "pain.red_flag": bool(flags),
                "pain.red_flag_tier": highest_tier(flags),
                "pain.latest_red_flag_tier": highest_tier(flags) if rng.random() < 0.5 else None,
                "safety.episode_open": episode,
                "safety.episode_tier": rng.choice(["emergency", "urgent"]) if episode else None,
                "safety.days_since_resolved": maybe(rng, rng.randint(0, 30), 0.9),
                "strength.days_since": maybe(rng, rng.randint(0, 30), 0.4),
                "stretch.sessions_7d": rng.randint(0, 3),
                "plan.target": rng.choice([3000, 4000, 5000, 6000]),
                "plan.days_since_change": rng.randint(0, 20),
                "plan.progression_held": rng.random() < 0.2,
                "patient.conditions": conditions,
                "patient.cleared": cleared,
                "patient.uncleared_conditions": conditions - cleared,
                "patient.has_clinic": rng.random() < 0.9,
                "patient.days_enrolled": rng.randint(0, 90),
                "steps.avg_7d": maybe(rng, round(rng.uniform(1000, 9000), 1), 0.1),
                "steps.avg_prev_7d": maybe(rng, round(rng.uniform(1000, 9000), 1), 0.2),
                "steps.change_wow": maybe(rng, round(rng.uniform(-0.5, 1.0), 2), 0.2),
                "steps.baseline": maybe(rng, rng.randint(1500, 9000), 0.1),
                "steps.days_with_data_28d": rng.randint(0, 28),
                "steps.days_met_target_14d": rng.randint(0, 14),
                "data.days_since": maybe(rng, rng.choice([0, 0, 0, 1, 1, 2, 3, 5]), 0.05),
                "pain.baseline": maybe(rng, round(rng.uniform(0, 9), 1), 0.3),
                "pain.days_high_7d": rng.choice([0, 0, 0, 1, 2, 4]),
                "checkins.unanswered": rng.choice([0, 0, 1, 2, 3, 4]),
                "checkins.days_since": maybe(rng, rng.randint(0, 10), 0.3),
                "time.hour": rng.choice([8, 15]),
                "trigger": "schedule",
            }
        )
    return out


def timed(label: str, functions: list[Any], contexts: list[Any]) -> tuple[float, list[bool]]:
    """Call every (pre-bound) condition function on every context; the loop is shared."""
    results: list[bool] = []
    append = results.append
    conditions = functions
    start = time.perf_counter()
    for context in contexts:
        for condition in conditions:
            append(bool(condition(context)))
    elapsed = time.perf_counter() - start
    per = elapsed / (len(contexts) * len(conditions)) * 1e6
    print(f"{label:<14} {per:8.3f} us/evaluation  ({elapsed:.2f} s)")
    return per, results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("count", type=int, nargs="?", default=100_000, help="fact sets")
    count = parser.parse_args().count
    ruleset = rules.load_ruleset(rules.default_ruleset_text())
    whens, translated = [], []
    for rule in ruleset.rules:
        try:
            translated.append(translate(parse(rule.when.text)))
        except ValueError:  # function calls (round, max) have no shared syntax: left out
            continue
        whens.append(rule.when)
    sets = fact_sets(count)
    flat_sets = [
        {flat(k): (sorted(v) if isinstance(v, frozenset) else v) for k, v in facts.items()}
        for facts in sets
    ]
    print(f"{len(whens)} of {len(ruleset.rules)} conditions x {count} fact sets")
    ours, ours_results = timed("compiled", [when.evaluate for when in whens], sets)
    zen_exprs = [zen.compile_expression(text).evaluate for text in translated]
    zen_us, zen_results = timed("zen-engine", zen_exprs, flat_sets)
    re_rules = [rule_engine.Rule(text).matches for text in translated]
    re_count = max(count // 10, 1)  # rule-engine is slow; a tenth of the sets gives a stable figure
    re_us, re_results = timed("rule-engine", re_rules, flat_sets[:re_count])
    mismatches = sum(a != b for a, b in zip(ours_results, zen_results, strict=True))
    mismatches += sum(a != b for a, b in zip(ours_results, re_results, strict=False))
    print(f"result mismatches between engines: {mismatches}")
    decisions = min(count, 20_000)
    sample, flat_sample = sets[:decisions], flat_sets[:decisions]
    for facts in sample[:200]:
        ruleset.evaluate(facts)  # compile each trigger's program outside the timing
    # Interleave the two and keep each one's best round: other load on a shared machine then
    # slows neither side of the comparison more than the other.
    us_decision = us_zen3 = us_lazy = us_traced = float("inf")
    tips = 0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for facts in flat_sample:
            for condition in zen_exprs:
                condition(facts)
        per_condition = (time.perf_counter() - start) / (decisions * len(zen_exprs)) * 1e6
        us_zen3 = min(us_zen3, 3 * per_condition)
        tips = 0
        start = time.perf_counter()
        for facts in sample:
            tips += len(ruleset.evaluate(facts).tips)
        us_decision = min(us_decision, (time.perf_counter() - start) / decisions * 1e6)
        start = time.perf_counter()
        for facts in sample:
            ruleset.evaluate(facts, texts=False)
        us_lazy = min(us_lazy, (time.perf_counter() - start) / decisions * 1e6)
    start = time.perf_counter()
    for facts in sample:
        ruleset.evaluate(facts).traces  # noqa: B018 - reading them derives them
    us_traced = (time.perf_counter() - start) / decisions * 1e6
    print(
        f"whole decision  {us_decision:8.3f} us  ({tips / decisions:.2f} tips rendered per "
        f"decision, {len(ruleset.rules)} rules)"
    )
    print(f"zen-engine x3   {us_zen3:8.3f} us  (three bare conditions; best of {ROUNDS} rounds)")
    print(f"texts on read   {us_lazy:8.3f} us;  traces read too {us_traced:8.3f} us")
    per_s = 1e6 / us_decision
    print(f"RuleSet.evaluate: {per_s:,.0f} decisions/s")
    print(
        f"RESULT us_compiled={ours:.4f} us_zen={zen_us:.4f} us_rule_engine={re_us:.4f} "
        f"vs_zen={zen_us / ours:.1f} vs_rule_engine={re_us / ours:.1f} decisions_per_s={per_s:.0f} "
        f"us_decision={us_decision:.3f} us_zen3={us_zen3:.3f} "
        f"decision_vs_zen3={us_zen3 / us_decision:.2f} us_decision_texts_on_read={us_lazy:.3f} "
        f"us_decision_traces_read={us_traced:.3f} mismatches={mismatches}"
    )


if __name__ == "__main__":
    main()
