"""The expression language: semantics, null rules, safety, and property tests."""

from __future__ import annotations

import ast
import math
import operator
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rules import CATALOGUE, ExpressionError, compile_expression
from rules.values import format_value

NUMBER_FACTS = ["pain.latest", "plan.target", "steps.today"]


def within_bounds(text: str, want: str | None = None) -> Any:
    """Compile `text`; a random expression the loader refuses as too large is not a case."""
    try:
        return compile_expression(text, want=want)
    except ExpressionError as exc:
        assert "beyond the limit" in exc.message, exc.message  # noqa: PT017
        assume(False)


def value(text: str, **facts: object) -> object:
    return compile_expression(text).evaluate({k.replace("__", "."): v for k, v in facts.items()})


def test_it_compares_with_null_as_false() -> None:
    for op in ["==", "!=", "<", "<=", ">", ">="]:
        assert value(f"pain.latest {op} 3") is False
    assert value("'fever' in pain.red_flags") is False
    assert value("'fever' not in pain.red_flags") is False


def test_it_propagates_null_through_arithmetic_and_functions() -> None:
    assert value("plan.target * 0.8") is None
    assert value("max(2000, plan.target)") is None
    assert value("clamp(plan.target, 1, 2)") is None
    assert value("-plan.target") is None
    assert value("plan.target * 0.8", plan__target=5000) == 4000


def test_it_tests_for_null_with_is() -> None:
    assert value("pain.latest is null") is True
    assert value("pain.latest is not null", pain__latest=0) is True
    assert value("plan.target * 2 is null") is True


def test_it_treats_a_null_boolean_fact_as_false() -> None:
    assert value("pain.red_flag or false") is False
    assert value("not pain.red_flag") is True
    assert value("1 if pain.red_flag else 2") == 2


def test_it_gives_null_for_division_by_zero() -> None:
    assert value("steps.today / 0", steps__today=5) is None
    assert value("steps.today % (1 - 1)", steps__today=5) is None


def test_it_chains_comparisons_and_evaluates_the_middle_once() -> None:
    assert value("1 < pain.latest <= 5", pain__latest=5) is True
    assert value("1 < pain.latest * 2 <= 5", pain__latest=3) is False
    assert value("1 < pain.latest <= 5") is False


def test_it_supports_sets_literals_conditionals_and_functions() -> None:
    conditions = frozenset({"spinal_stenosis"})
    assert value("'spinal_stenosis' in patient.conditions", patient__conditions=conditions) is True
    assert value("trigger in ['schedule', 'activity']", trigger="activity") is True
    assert value("round(2.5678, 2)") == 2.57
    assert value("round(7.6)") == 8
    assert value("abs(0 - 3)") == 3
    assert value("clamp(15000, 2000, 12000)") == 12000
    assert value("min(3, 1, 2) + max(1, 2)") == 3
    assert value("'a' if 1 > 2 else 'b'") == "b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "unknown function; allowed: min, max, abs, round, clamp"),
        ("pain.__class__ == 1", "unknown fact 'pain.__class__'"),
        ("(lambda: 1)() == 1", "unknown function; allowed: min, max, abs, round, clamp"),
        ("[x for x in patient.conditions]", "'listcomp' is not allowed in expressions"),
        ("pain.latest ** 2", "operator 'pow' is not allowed"),
        ("pain.latest[0]", "'subscript' is not allowed in expressions"),
        ("pain.latest == null", "comparison with null is always false; use 'is null'"),
        ("pain.latest is 3", "'is' is only allowed as 'x is null' or 'x is not null'"),
        ("True", "use true, false and null (lower case)"),
        ("pain.latest < 'a'", "cannot order number and string"),
        (
            "'fever' in pain.latest",
            "'in' needs a string and a set, or a number and a list of numbers; "
            "got string and number",
        ),
        ("round(1, 9)", "round's second argument must be a whole number 0-6"),
        ("max(1)", "wrong number of arguments for max"),
        ("f'{pain.latest}'", "'joinedstr' is not allowed in expressions"),
        ("1e999 > 1", "number out of range"),
        ("(" * 50 + "1" + ")" * 50, "expression nested deeper than 40"),
        ("1 +", "syntax error: invalid syntax"),
    ],
)
def test_it_refuses_everything_outside_the_language(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text)
    assert caught.value.message == message


def test_it_reports_the_offset_of_the_problem() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("  steps.today > 1 and pain.lastest > 3")
    assert caught.value.offset == 22


def test_it_traces_each_sub_condition() -> None:
    expression = compile_expression("pain.latest >= 7 or pain.change >= 2", want="bool")
    trace = [entry.as_dict() for entry in expression.trace({"pain.latest": 8})]
    assert trace == [
        {"expr": "pain.latest >= 7", "values": "8 >= 7", "result": True},
        {"expr": "pain.change >= 2", "values": "null >= 2", "result": False},
    ]


def test_it_formats_numbers_readably() -> None:
    assert format_value(7.0000001) == "7"
    assert format_value(4.25) == "4.2"  # round() halves to even (4.25 is exact in binary)
    assert format_value(4.35) == "4.3"  # 4.35 is stored just below it
    assert format_value(3) == "3"
    assert format_value(frozenset({"b", "a"})) == "a, b"
    assert format_value(frozenset({"b", "a"}), quote=True) == "{'a', 'b'}"


# --- property tests --------------------------------------------------------------------------


COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
ARITH = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}


def reference(node: ast.AST, facts: dict[str, Any]) -> Any:
    """A tiny tree-walking interpreter of SPEC §5 semantics, written independently."""
    if isinstance(node, ast.Expression):
        return reference(node.body, facts)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[node.id]
    if isinstance(node, (ast.Name, ast.Attribute)):
        return facts.get(ast.unparse(node))
    if isinstance(node, ast.BoolOp):
        values = [reference(v, facts) is True for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        operand = reference(node.operand, facts)
        if isinstance(node.op, ast.Not):
            return operand is not True
        return None if operand is None else -operand
    if isinstance(node, ast.BinOp):
        left, right = reference(node.left, facts), reference(node.right, facts)
        if left is None or right is None:
            return None
        if isinstance(node.op, (ast.Div, ast.Mod)) and right == 0:
            return None
        return ARITH[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        if isinstance(node.ops[0], (ast.Is, ast.IsNot)):
            is_null = reference(node.left, facts) is None
            return is_null if isinstance(node.ops[0], ast.Is) else not is_null
        values = [reference(n, facts) for n in [node.left, *node.comparators]]
        for op, left, right in zip(node.ops, values, values[1:], strict=False):
            if left is None or right is None:
                return False
            if not COMPARE[type(op)](left, right):
                return False
        return True
    if isinstance(node, ast.IfExp):
        test = reference(node.test, facts) is True
        return reference(node.body if test else node.orelse, facts)
    if isinstance(node, ast.Call):
        args = [reference(a, facts) for a in node.args]
        if any(a is None for a in args):
            return None
        name = node.func.id  # type: ignore[attr-defined]
        if name == "round":
            if isinstance(args[0], float) and not math.isfinite(args[0]):
                return None
            return round(args[0]) if len(args) == 1 else round(args[0], args[1])
        if name == "clamp":
            return min(max(args[0], args[1]), args[2])
        return {"min": min, "max": max, "abs": abs}[name](*args)
    raise AssertionError(f"unexpected node {ast.dump(node)}")


numbers = st.one_of(st.integers(-50, 50).map(str), st.sampled_from(["0.5", "2.25", "0", "1000"]))


def number_expr() -> st.SearchStrategy[str]:
    leaves = st.one_of(numbers, st.sampled_from(NUMBER_FACTS), st.just("null"))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda x: f"(-{x})"),
            st.tuples(st.sampled_from(["min", "max"]), inner, inner).map(
                lambda t: f"{t[0]}({t[1]}, {t[2]})"
            ),
            inner.map(lambda x: f"abs({x})"),
            inner.map(lambda x: f"round({x})"),
            st.tuples(inner, inner, inner).map(lambda t: f"clamp({t[0]}, {t[1]}, {t[2]})"),
        )

    return st.recursive(leaves, extend, max_leaves=6)


def bool_expr() -> st.SearchStrategy[str]:
    comparison = st.one_of(
        st.tuples(number_expr(), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), number_expr())
        .filter(lambda t: "null" not in (t[0], t[2]))
        .map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.tuples(number_expr(), st.sampled_from(["is null", "is not null"])).map(
            lambda t: f"({t[0]}) {t[1]}"
        ),
        st.tuples(number_expr(), number_expr(), number_expr())
        .filter(lambda t: "null" not in t)
        .map(lambda t: f"{t[0]} < {t[1]} <= {t[2]}"),
        st.sampled_from(
            ["pain.red_flag", "'fever' in pain.red_flags", "'fever' not in pain.red_flags", "true"]
        ),
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda x: f"(not {x})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        )

    return st.recursive(comparison, extend, max_leaves=5)


fact_values = st.fixed_dictionaries(
    {
        name: st.one_of(st.none(), st.integers(-1000, 1000), st.floats(-1e4, 1e4))
        for name in NUMBER_FACTS
    }
    | {
        "pain.red_flag": st.one_of(st.none(), st.booleans()),
        "pain.red_flags": st.one_of(st.none(), st.frozensets(st.sampled_from(["fever", "trauma"]))),
    }
)


@settings(max_examples=200, deadline=None)
@given(bool_expr(), fact_values)
def test_it_agrees_with_a_reference_interpreter_on_conditions(
    text: str, facts: dict[str, Any]
) -> None:
    compiled = within_bounds(text, want="bool")
    # A condition is true only when it evaluates to true: a null boolean fact is false.
    expected = reference(ast.parse(text, mode="eval"), facts) is True
    assert compiled.evaluate(facts) is expected


def reference_trace(text: str, facts: dict[str, Any]) -> list[dict[str, object]]:
    """Each comparison and boolean fact, in source order, valued by the reference interpreter."""
    tree = ast.parse(text, mode="eval")
    nodes = sorted(
        ast.walk(tree.body),
        key=lambda n: (getattr(n, "col_offset", 0), -getattr(n, "end_col_offset", 0)),
    )
    out: list[dict[str, object]] = []
    for node in nodes:
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            shown = format_value(_operand(parts[0], facts), quote=True)
            for op, part in zip(node.ops, parts[1:], strict=True):
                symbol = {ast.Is: "is", ast.IsNot: "is not", ast.NotIn: "not in", ast.In: "in"}
                symbol |= {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
                symbol |= {ast.Eq: "==", ast.NotEq: "!="}
                shown += f" {symbol[type(op)]} {format_value(_operand(part, facts), quote=True)}"
        elif ast.unparse(node) == "pain.red_flag":
            shown = format_value(facts.get("pain.red_flag"), quote=True)
        else:
            continue
        expr = ast.get_source_segment(text, node)
        out.append({"expr": expr, "values": shown, "result": bool(reference(node, facts))})
    return out


def _operand(node: ast.AST, facts: dict[str, Any]) -> Any:
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return frozenset(reference(e, facts) for e in node.elts)
    return reference(node, facts)


@settings(max_examples=200, deadline=None)
@given(bool_expr(), fact_values)
def test_it_traces_conditions_as_a_reference_interpreter_values_them(
    text: str, facts: dict[str, Any]
) -> None:
    compiled = within_bounds(text, want="bool")
    assert [entry.as_dict() for entry in compiled.trace(facts)] == reference_trace(text, facts)


def test_it_traces_literal_sets_and_null_tests() -> None:
    text = "'fever' in ['trauma', 'fever'] and pain.latest is null and not pain.red_flag"
    compiled = compile_expression(text, want="bool")
    entries = [(e.values, e.result) for e in compiled.trace({"pain.red_flag": None})]
    assert entries == [
        ("'fever' in {'fever', 'trauma'}", True),
        ("null is null", True),
        ("null", False),
    ]


@settings(max_examples=200, deadline=None)
@given(number_expr(), fact_values)
def test_it_agrees_with_a_reference_interpreter_on_numbers(
    text: str, facts: dict[str, Any]
) -> None:
    compiled = within_bounds(text)
    expected = reference(ast.parse(text, mode="eval"), facts)
    got = compiled.evaluate(facts)
    assert got == expected or (isinstance(got, float) and math.isnan(got) and math.isnan(expected))


TOKENS = [
    "pain.latest",
    "plan.target",
    "(",
    ")",
    "[",
    "]",
    "+",
    "*",
    "**",
    "/",
    "and",
    "or",
    "not",
    "if",
    "else",
    "is",
    "null",
    "in",
    "'x'",
    "1",
    "2.5",
    "lambda",
    ":",
    "__import__",
    "__class__",
    ".",
    ",",
    "max",
    "round",
    "x",
    "for",
    "{",
    "}",
    "=",
    "==",
    "<",
    "yield",
    "await",
    "\\",
    "\n",
    "#",
]


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join), st.text(max_size=60))
)
def test_it_compiles_or_raises_its_own_error_for_any_input(text: str) -> None:
    try:
        compiled = compile_expression(text)
    except ExpressionError as exc:
        # The offset points into the text (or just past its end, for a missing operand).
        assert 0 <= exc.offset <= len(text), (exc.offset, text)  # noqa: PT017
        assert str(exc)  # noqa: PT017
        return
    # Hypothesis also mines string constants from the code, so any catalogue fact may appear.
    assert compiled.facts <= set(CATALOGUE)
    compiled.evaluate({"pain.latest": 3, "plan.target": None})


@pytest.mark.parametrize("depth", [45, 500, 1000])
def test_it_refuses_deep_nesting_without_crashing(depth: int) -> None:
    for text in ["(" * depth + "1" + ")" * depth, "-" * depth + "1", "not " * depth + "true"]:
        try:
            compile_expression(text)
        except ExpressionError:
            continue
        assert depth < 100, text[:20]
