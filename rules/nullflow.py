"""Null-flow analysis: which facts a true condition proves present, and what can still be null.

A template of a rule is rendered only when the rule's `when` is true. A comparison with null is
false, so `pain.latest >= 7` being true proves `pain.latest` is not null; so does
`pain.latest is not null`. `guards(when)` collects what a true condition proves (both sides of
`and`, what both sides of `or` prove, negations of `is null`), and `null_source(placeholder,
guarded)` names what could still make a placeholder null: an unguarded nullable fact, a
division by something that can be zero, or a literal null.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from rules.compiler import LITERALS, Compiler, dotted
from rules.facts import CATALOGUE

_EMPTY: frozenset[str] = frozenset()


def _operand_facts(node: ast.AST) -> frozenset[str]:
    """Facts that must all be present for this value to be non-null (through arithmetic)."""
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = dotted(node)
        return frozenset({name}) if name and name not in LITERALS else _EMPTY
    if isinstance(node, ast.BinOp):
        return _operand_facts(node.left) | _operand_facts(node.right)
    if isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.Not):
        return _operand_facts(node.operand)
    if isinstance(node, ast.Call):
        found = _EMPTY
        for arg in node.args:
            found |= _operand_facts(arg)
        return found
    return _EMPTY


def _all_of(parts: list[frozenset[str]]) -> frozenset[str]:
    found = _EMPTY
    for part in parts:
        found |= part
    return found


def _any_of(parts: list[frozenset[str]]) -> frozenset[str]:
    return frozenset.intersection(*parts) if parts else _EMPTY


def guards(node: ast.AST) -> frozenset[str]:  # noqa: PLR0911
    """Facts that cannot be null when `node` is true."""
    if isinstance(node, ast.BoolOp):
        parts = [guards(value) for value in node.values]
        return _all_of(parts) if isinstance(node.op, ast.And) else _any_of(parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return refutes(node.operand)
    if isinstance(node, ast.Compare):
        if isinstance(node.ops[0], ast.Is):
            return _EMPTY
        if isinstance(node.ops[0], ast.IsNot):
            return _operand_facts(node.left)
        return _all_of([_operand_facts(part) for part in (node.left, *node.comparators)])
    if isinstance(node, (ast.Name, ast.Attribute)):
        return _operand_facts(node)
    if isinstance(node, ast.IfExp):
        yes = guards(node.test) | guards(node.body)
        no = refutes(node.test) | guards(node.orelse)
        return yes & no
    return _EMPTY


def refutes(node: ast.AST) -> frozenset[str]:
    """Facts that cannot be null when `node` is false (only `is null` tests prove anything)."""
    if isinstance(node, ast.BoolOp):
        parts = [refutes(value) for value in node.values]
        return _any_of(parts) if isinstance(node.op, ast.And) else _all_of(parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return guards(node.operand)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Is):
        return _operand_facts(node.left)
    return _EMPTY


def null_source(  # noqa: PLR0911
    node: ast.AST,
    guarded: frozenset[str],
    compiler: Compiler,
) -> str | None:
    """What can make this value null despite `guarded`, in words; None when nothing can."""
    if isinstance(node, ast.Constant):
        return None
    if isinstance(node, ast.Name) and node.id in LITERALS:
        return "null" if node.id == "null" else None
    if isinstance(node, (ast.Name, ast.Attribute)):
        return _fact_source(dotted(node) or "", guarded, compiler.constants)
    if isinstance(node, ast.BinOp):
        found = null_source(node.left, guarded, compiler)
        found = found or null_source(node.right, guarded, compiler)
        if found is None and isinstance(node.op, (ast.Div, ast.Mod)):
            bound = compiler.emit(node.right).bound
            if not (bound.lo > 0 or bound.hi < 0):
                segment = ast.get_source_segment(compiler.text, node.right) or "the divisor"
                found = f"a division by {segment}, which can be 0"
        return found
    if isinstance(node, ast.UnaryOp):
        return (
            None if isinstance(node.op, ast.Not) else null_source(node.operand, guarded, compiler)
        )
    if isinstance(node, ast.Call):
        for arg in node.args:
            found = null_source(arg, guarded, compiler)
            if found:
                return found
        return None
    if isinstance(node, ast.IfExp):
        body = null_source(node.body, guarded | guards(node.test), compiler)
        return body or null_source(node.orelse, guarded | refutes(node.test), compiler)
    return None  # comparisons and and/or/not are never null


def _fact_source(name: str, guarded: frozenset[str], constants: Mapping[str, object]) -> str | None:
    if name in guarded or name in constants or name == "trigger":
        return None
    fact = CATALOGUE.get(name)
    if fact is not None and not fact.nullable:
        return None
    return name
