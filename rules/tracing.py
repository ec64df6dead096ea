"""Traces of conditions: the value of every sub-condition, flat or as an and/or tree.

`build_tracer` compiles ONE function giving the trace entry of each comparison and boolean fact
of a condition (facts read once, literal operands formatted at compile time), so a trace is a
single call. `build_tree` keeps the and/or/not structure for `explain`; it is built on first use.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rules.compiler import EQ_OPS, LITERALS, ORDER_OPS, SET_OPS, Compiler, Facts, dotted
from rules.kinds import Kind
from rules.values import TraceEntry, format_value

Tracer = Callable[[Facts], list[TraceEntry]]


def build_tracer(
    node: ast.AST, text: str, types: Mapping[str, Kind], constants: Mapping[str, object]
) -> Tracer | None:
    """One function valuing each comparison and boolean fact under `node`, in source order."""
    sub = Compiler(text, types, constants)
    entries = []
    nodes = sorted(
        ast.walk(node),
        key=lambda n: (getattr(n, "col_offset", 0), -getattr(n, "end_col_offset", 0)),
    )
    for part in nodes:
        if not (isinstance(part, ast.Compare) or _is_flag(part, types)):
            continue
        segment = ast.get_source_segment(text, part) or ""
        if isinstance(part, ast.Compare):
            pieces = [_shown(part.left, sub)]
            for op, operand in zip(part.ops, part.comparators, strict=True):
                pieces += [repr(f" {_op_text(op)} "), _shown(operand, sub)]
            shown = " + ".join(_merged(pieces))
        else:
            shown = _shown(part, sub)
        entries.append(f"_E({segment!r}, {shown}, _bool({sub.emit(part).code}))")
    return sub.function("[" + ", ".join(entries) + "]") if entries else None


def _is_flag(node: ast.AST, types: Mapping[str, Kind]) -> bool:
    return (
        isinstance(node, (ast.Name, ast.Attribute)) and types.get(dotted(node) or "") == Kind.BOOL
    )


def _shown(node: ast.AST, sub: Compiler) -> str:
    """Code giving an operand's formatted value (a string literal when it is a literal)."""
    if isinstance(node, ast.Constant):
        return repr(format_value(node.value, quote=True))
    if isinstance(node, ast.Name) and node.id in LITERALS:
        return repr(format_value(LITERALS[node.id], quote=True))
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return repr(format_value(sub.consts[sub.set_operand(node).code], quote=True))
    return f"_fmt({sub.emit(node).code})"


def _merged(pieces: list[str]) -> list[str]:
    """Join adjacent string literals of generated code into one."""
    out: list[str] = []
    for piece in pieces:
        if out and piece[0] in "'\"" and out[-1][0] in "'\"":
            out[-1] = repr(ast.literal_eval(out[-1]) + ast.literal_eval(piece))
        else:
            out.append(piece)
    return out


def _op_text(op: ast.cmpop) -> str:
    table = {**ORDER_OPS, **EQ_OPS, **SET_OPS, ast.Is: "is", ast.IsNot: "is not"}
    return table[type(op)]


@dataclass(frozen=True)
class TreeNode:
    """One node of a condition's and/or tree: a junction with children, or a leaf."""

    label: str  # "and", "or", "not" or the leaf's own text
    children: tuple[TreeNode, ...] = ()
    value: Callable[[Facts], object] | None = None
    tracer: Tracer | None = None

    def lines(self, facts: Facts, depth: int = 0) -> tuple[bool, list[str]]:
        """The node's truth and its readable lines, children indented under it."""
        pad = "  " * depth
        if not self.children:
            result = self.value(facts) is True if self.value else False
            entries = self.tracer(facts) if self.tracer else []
            own = next((e for e in entries if e.expr == self.label), None)
            if own is not None:
                line = f"{pad}{own.expr}  ->  {own.values}  ->  {format_value(result)}"
            else:
                line = f"{pad}{self.label}  ->  {format_value(result)}"
            return result, [line]
        values, body = [], []
        for child in self.children:
            value, lines = child.lines(facts, depth + 1)
            values.append(value)
            body += lines
        if self.label == "and":
            result = all(values)
        elif self.label == "or":
            result = any(values)
        else:
            result = not values[0]
        return result, [f"{pad}{self.label}  ->  {format_value(result)}", *body]


def build_tree(
    node: ast.AST, text: str, types: Mapping[str, Kind], constants: Mapping[str, object]
) -> TreeNode:
    """The and/or/not structure of a condition with a compiled value for every leaf."""
    if isinstance(node, ast.BoolOp):
        label = "and" if isinstance(node.op, ast.And) else "or"
        children = tuple(build_tree(v, text, types, constants) for v in node.values)
        return TreeNode(label, children)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return TreeNode("not", (build_tree(node.operand, text, types, constants),))
    compiler = Compiler(text, types, constants)
    value = compiler.function(compiler.boolean(node))
    segment = ast.get_source_segment(text, node) or ""
    return TreeNode(segment, value=value, tracer=build_tracer(node, text, types, constants))
