"""The expression language of SPEC §5: parsed and type-checked once, compiled to Python code.

`compile_expression(text, types)` parses with Python's `ast`, accepts only a whitelist of node
types, checks types against the fact catalogue and generates one small Python function. Facts
are read once into locals; null checks are emitted only where a value can be null, so an
evaluation is a single function call with no tree walking.

Null semantics: any comparison (`== != < <= > >= in not in`) with a null operand is false;
arithmetic and functions with a null operand give null; division or modulo by zero gives null;
a null boolean fact counts as false in `and`, `or`, `not` and `if`; `x is null` and
`x is not null` test for null. Errors are `ExpressionError` with a 0-based character offset.
"""

from __future__ import annotations

import ast
import difflib
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rules.errors import ExpressionError
from rules.facts import fact_types
from rules.values import HELPERS, TraceEntry, format_value

MAX_LENGTH = 2000
MAX_DEPTH = 40
FUNCTIONS = ("min", "max", "abs", "round", "clamp")
_LITERALS = {"true": True, "false": False, "null": None}
_ORDER_OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_EQ_OPS = {ast.Eq: "==", ast.NotEq: "!="}
_SET_OPS = {ast.In: "in", ast.NotIn: "not in"}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}

Facts = Mapping[str, object]


@dataclass(frozen=True)
class _Typed:
    code: str
    kind: str  # number | bool | string | set | null
    nullable: bool
    simple: bool = False  # a local name or a literal: safe to repeat without a temporary


@dataclass
class Expression:
    """A compiled expression: call `evaluate(facts)`; `trace(facts)` explains it."""

    text: str
    kind: str
    nullable: bool
    facts: frozenset[str]
    evaluate: Callable[[Facts], Any]
    _tracer: Callable[[Facts], list[TraceEntry]] | None = field(default=None, repr=False)

    def trace(self, facts: Facts) -> list[TraceEntry]:
        """Return the value of every comparison and boolean fact in the expression."""
        return self._tracer(facts) if self._tracer is not None else []


class _Compiler:
    """Type-check an `ast` tree and emit Python source for it."""

    def __init__(self, text: str, types: Mapping[str, str]) -> None:
        self.text = text
        self.raw = text.encode()
        self.types = types
        self.locals: dict[str, str] = {}
        self.consts: dict[str, object] = {}
        self.temps = 0

    def offset(self, node: ast.AST) -> int:
        col = getattr(node, "col_offset", 0)
        return len(self.raw[:col].decode(errors="ignore"))

    def fail(self, node: ast.AST, message: str) -> ExpressionError:
        return ExpressionError(message, self.offset(node))

    def temp(self) -> str:
        self.temps += 1
        return f"t{self.temps}"

    def fact(self, node: ast.AST) -> _Typed:
        name = _dotted(node)
        if name is None:
            raise self.fail(node, "only fact names may use '.'")
        if name not in self.types:
            hint = difflib.get_close_matches(name, list(self.types), n=1, cutoff=0.7)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise self.fail(node, f"unknown fact '{name}'{extra}")
        if name not in self.locals:
            self.locals[name] = f"v{len(self.locals)}"
        return _Typed(self.locals[name], self.types[name], True, simple=True)

    def boolean(self, node: ast.AST) -> str:
        typed = self.emit(node)
        if typed.kind not in ("bool", "null"):
            raise self.fail(node, f"expected a boolean, got {typed.kind}")
        return f"({typed.code} is True)" if typed.nullable else typed.code

    def guarded(self, parts: list[_Typed]) -> tuple[list[str], list[str]]:
        """Return null guards and the names to use for each operand (temporaries if needed)."""
        guards, names = [], []
        for part in parts:
            if part.simple:
                name = part.code
                if part.nullable:
                    guards.append(f"{name} is not None")
            else:
                name = self.temp()
                guards.append(f"({name} := {part.code}) is not None")
            names.append(name)
        return guards, names

    def emit(self, node: ast.AST) -> _Typed:  # noqa: PLR0911, PLR0912
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or value is None:
                raise self.fail(node, "use true, false and null (lower case)")
            if isinstance(value, (int, float)):
                if isinstance(value, float) and not math.isfinite(value):
                    raise self.fail(node, "number out of range")
                if isinstance(value, int) and abs(value) > 10**15:
                    raise self.fail(node, "number out of range")
                return _Typed(repr(value), "number", False, simple=True)
            if isinstance(value, str):
                return _Typed(repr(value), "string", False, simple=True)
            raise self.fail(node, "unsupported literal")
        if isinstance(node, ast.Name) and node.id in _LITERALS:
            value = _LITERALS[node.id]
            kind = "null" if value is None else "bool"
            return _Typed(repr(value), kind, value is None, simple=True)
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.fact(node)
        if isinstance(node, ast.BoolOp):
            joiner = " and " if isinstance(node.op, ast.And) else " or "
            return _Typed(
                "(" + joiner.join(self.boolean(v) for v in node.values) + ")", "bool", False
            )
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return _Typed(f"(not {self.boolean(node.operand)})", "bool", False)
            if isinstance(node.op, (ast.USub, ast.UAdd)):
                operand = self.number(node.operand)
                sign = "-" if isinstance(node.op, ast.USub) else "+"
                if not operand.nullable:
                    return _Typed(f"({sign}{operand.code})", "number", False)
                guards, names = self.guarded([operand])
                code = f"({sign}{names[0]} if {guards[0]} else None)"
                return _Typed(code, "number", True)
            raise self.fail(node, "unsupported operator")
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.IfExp):
            return self.ifexp(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            raise self.fail(node, "a list of strings may only follow 'in' or 'not in'")
        raise self.fail(node, f"'{_describe(node)}' is not allowed in expressions")

    def number(self, node: ast.AST) -> _Typed:
        typed = self.emit(node)
        if typed.kind not in ("number", "null"):
            raise self.fail(node, f"expected a number, got {typed.kind}")
        return typed

    def binop(self, node: ast.BinOp) -> _Typed:
        symbol = _ARITH.get(type(node.op))
        if symbol is None:
            raise self.fail(node, f"operator '{_describe(node.op)}' is not allowed")
        left, right = self.emit(node.left), self.emit(node.right)
        for side, typed in ((node.left, left), (node.right, right)):
            if typed.kind not in ("number", "null"):
                raise self.fail(side, f"'{symbol}' needs numbers, got {typed.kind}")
        divides = symbol in ("/", "%")
        if not (left.nullable or right.nullable or divides):
            return _Typed(f"({left.code} {symbol} {right.code})", "number", False)
        guards, names = self.guarded([left, right])
        if divides:
            guards.append(f"{names[1]} != 0")
        test = " and ".join(guards)
        return _Typed(f"(({names[0]} {symbol} {names[1]}) if {test} else None)", "number", True)

    def compare(self, node: ast.Compare) -> _Typed:  # noqa: PLR0912
        if any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            right = node.comparators[0]
            if len(node.ops) != 1 or not (isinstance(right, ast.Name) and right.id == "null"):
                raise self.fail(node, "'is' is only allowed as 'x is null' or 'x is not null'")
            left = self.emit(node.left)
            is_null = isinstance(node.ops[0], ast.Is)
            if not left.nullable:  # a literal: the answer is known now
                return _Typed(repr(not is_null), "bool", False, simple=True)
            test = "is" if is_null else "is not"
            return _Typed(f"({left.code} {test} None)", "bool", False)
        operands = [node.left, *node.comparators]
        typed: list[_Typed] = []
        for index, operand in enumerate(operands):
            op = node.ops[index - 1] if index else node.ops[0]
            is_set = index > 0 and isinstance(op, (ast.In, ast.NotIn))
            typed.append(self.set_operand(operand) if is_set else self.emit(operand))
        checks = []
        for index, op in enumerate(node.ops):
            lhs, rhs = typed[index], typed[index + 1]
            where = operands[index + 1]
            if any(t.kind == "null" for t in (lhs, rhs)):
                raise self.fail(where, "comparison with null is always false; use 'is null'")
            if type(op) in _ORDER_OPS:
                if lhs.kind != "number" or rhs.kind != "number":
                    raise self.fail(where, f"cannot order {lhs.kind} and {rhs.kind}")
            elif type(op) in _EQ_OPS:
                if lhs.kind != rhs.kind:
                    raise self.fail(where, f"cannot compare {lhs.kind} with {rhs.kind}")
            elif type(op) in _SET_OPS:
                if lhs.kind != "string" or rhs.kind != "set":
                    raise self.fail(where, f"'in' needs a string and a set, got {lhs.kind}")
            else:
                raise self.fail(node, "unsupported comparison")
        guards, names = self.guarded(typed)
        for index, op in enumerate(node.ops):
            symbol = {**_ORDER_OPS, **_EQ_OPS, **_SET_OPS}[type(op)]
            checks.append(f"{names[index]} {symbol} {names[index + 1]}")
        return _Typed("(" + " and ".join(guards + checks) + ")", "bool", False)

    def set_operand(self, node: ast.AST) -> _Typed:
        if not isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return self.emit(node)
        items = []
        for element in node.elts:
            if not (isinstance(element, ast.Constant) and isinstance(element.value, str)):
                raise self.fail(element, "a literal set may only hold quoted strings")
            items.append(element.value)
        name = f"c{len(self.consts)}"
        self.consts[name] = frozenset(items)
        return _Typed(name, "set", False, simple=True)

    def ifexp(self, node: ast.IfExp) -> _Typed:
        test = self.boolean(node.test)
        body, orelse = self.emit(node.body), self.emit(node.orelse)
        kinds = {body.kind, orelse.kind} - {"null"}
        if len(kinds) > 1:
            raise self.fail(node.orelse, f"both branches must have one type: {' and '.join(kinds)}")
        kind = kinds.pop() if kinds else "null"
        code = f"({body.code} if {test} else {orelse.code})"
        return _Typed(code, kind, body.nullable or orelse.nullable)

    def call(self, node: ast.Call) -> _Typed:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            raise self.fail(node, f"unknown function; allowed: {', '.join(FUNCTIONS)}")
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self.fail(node, "functions take plain positional arguments")
        count = len(node.args)
        wanted = {"min": count >= 2, "max": count >= 2, "abs": count == 1, "clamp": count == 3}
        if name == "round":
            if count == 2:
                digits = node.args[1]
                ok = isinstance(digits, ast.Constant) and type(digits.value) is int
                if not ok or not 0 <= digits.value <= 6:  # type: ignore[attr-defined]
                    raise self.fail(node, "round's second argument must be a whole number 0-6")
            elif count != 1:
                raise self.fail(node, "round takes one or two arguments")
            args = [self.number(node.args[0]).code] + [repr(a.value) for a in node.args[1:]]  # type: ignore[attr-defined]
        else:
            if not wanted[name]:
                raise self.fail(node, f"wrong number of arguments for {name}")
            args = [self.number(arg).code for arg in node.args]
        return _Typed(f"_{name}({', '.join(args)})", "number", True)

    def function(self, body: str) -> Callable[[Facts], Any]:
        lines = ["def _expr(f):"]
        if self.locals:
            lines.append("    g = f.get")
            lines += [f"    {local} = g({name!r})" for name, local in self.locals.items()]
        lines.append(f"    return {body}")
        namespace: dict[str, Any] = {"__builtins__": {}, **HELPERS, **self.consts}
        with warnings.catch_warnings():
            # The source is generated from a checked tree; compiler style warnings are noise.
            warnings.simplefilter("ignore", SyntaxWarning)
            code = compile("\n".join(lines), "<rules-expression>", "exec")
        exec(code, namespace)  # noqa: S102
        function: Callable[[Facts], Any] = namespace["_expr"]
        return function


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _describe(node: ast.AST) -> str:
    return type(node).__name__.lower()


def _check_shape(text: str) -> None:
    """Reject oversized or deeply nested input before Python's parser sees it."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters", 0)
    depth = 0
    quote = ""
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(f"expression nested deeper than {MAX_DEPTH}", index)
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                raise ExpressionError(f"unmatched '{char}'", index)
        elif char == "\x00":
            raise ExpressionError("NUL character in expression", index)


def _check_depth(tree: ast.AST, compiler: _Compiler) -> None:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH * 2:
            raise compiler.fail(node, f"expression nested deeper than {MAX_DEPTH}")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def parse(text: str) -> ast.expr:
    """Parse expression text into a Python `ast` expression node (no type checking)."""
    _check_shape(text)
    flat = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. invalid escapes in string literals
            tree = ast.parse(flat, mode="eval")
    except SyntaxError as exc:
        raw = flat.encode()
        column = max((exc.offset or 1) - 1, 0)
        offset = len(raw[:column].decode(errors="ignore")) if exc.lineno == 1 else 0
        message = (exc.msg or "invalid syntax").replace("Perhaps you forgot a comma?", "").strip()
        raise ExpressionError(f"syntax error: {message}", min(offset, len(text))) from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise ExpressionError(f"cannot parse expression: {exc}", 0) from None
    return tree.body


def compile_expression(
    text: str, types: Mapping[str, str] | None = None, *, want: str | None = None
) -> Expression:
    """Parse, type-check and compile `text`; raise ExpressionError with an offset on failure."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty expression", 0)
    # Python's parser rejects leading blanks; strip them and shift offsets back.
    body_text = text.lstrip()
    lead = len(text) - len(body_text)
    try:
        return _compile(body_text, fact_types() if types is None else types, want)
    except ExpressionError as exc:
        raise ExpressionError(exc.message, exc.offset + lead) from None


def _compile(text: str, types: Mapping[str, str], want: str | None) -> Expression:
    tree = parse(text)
    compiler = _Compiler(text.replace("\n", " "), types)
    _check_depth(tree, compiler)
    typed = compiler.emit(tree)
    if want == "bool":
        if typed.kind != "bool":
            raise ExpressionError(f"condition must be boolean, got {typed.kind}", 0)
        body = f"({typed.code} is True)" if typed.nullable else typed.code
    elif want is not None and typed.kind not in (want, "null"):
        raise ExpressionError(f"expected a {want}, got {typed.kind}", 0)
    else:
        body = typed.code
    function = compiler.function(body)
    tracer = _tracer(tree, compiler, types) if want == "bool" else None
    names = frozenset(compiler.locals)
    return Expression(text, typed.kind, typed.nullable, names, function, tracer)


def _tracer(
    tree: ast.AST, compiler: _Compiler, types: Mapping[str, str]
) -> Callable[[Facts], list[TraceEntry]] | None:
    """Compile ONE function giving the trace entry of each comparison and boolean fact.

    Facts are read once; literal operands are formatted now, so a trace is a single call.
    """
    sub = _Compiler(compiler.text, types)
    entries = []
    nodes = sorted(
        ast.walk(tree),
        key=lambda n: (getattr(n, "col_offset", 0), -getattr(n, "end_col_offset", 0)),
    )
    for node in nodes:
        is_flag = (
            isinstance(node, (ast.Name, ast.Attribute)) and types.get(_dotted(node) or "") == "bool"
        )
        if not (isinstance(node, ast.Compare) or is_flag):
            continue
        text = ast.get_source_segment(compiler.text, node) or ""
        if isinstance(node, ast.Compare):
            pieces = [_shown(node.left, sub)]
            for op, part in zip(node.ops, node.comparators, strict=True):
                pieces += [repr(f" {_op_text(op)} "), _shown(part, sub)]
            shown = " + ".join(_merged(pieces))
        else:
            shown = _shown(node, sub)
        entries.append(f"_E({text!r}, {shown}, _bool({sub.emit(node).code}))")
    return sub.function("[" + ", ".join(entries) + "]") if entries else None


def _shown(node: ast.AST, sub: _Compiler) -> str:
    """Code giving an operand's formatted value (a string literal when it is a literal)."""
    if isinstance(node, ast.Constant):
        return repr(format_value(node.value, quote=True))
    if isinstance(node, ast.Name) and node.id in _LITERALS:
        return repr(format_value(_LITERALS[node.id], quote=True))
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = frozenset(e.value for e in node.elts if isinstance(e, ast.Constant))
        return repr(format_value(items, quote=True))
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
    table = {**_ORDER_OPS, **_EQ_OPS, **_SET_OPS, ast.Is: "is", ast.IsNot: "is not"}
    return table[type(op)]
