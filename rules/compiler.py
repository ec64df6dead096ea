"""Type-check an expression's `ast` tree and emit Python source for it (used by `rules.expr`).

The compiler accepts only a whitelist of node types, checks types against the fact catalogue,
checks coded literals against the codes of the fact they are compared with, bounds every
number (`rules.bounds`), and emits code that reads each fact once into a local. Null checks are
emitted only where a value can be null. Settings (and, for per-trigger programs, the trigger)
are constants of a rule set and are inlined as literals.
"""

from __future__ import annotations

import ast
import difflib
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rules import bounds
from rules.bounds import UNKNOWN, Bound
from rules.codes import suggest
from rules.errors import ExpressionError
from rules.facts import CATALOGUE
from rules.kinds import Kind
from rules.syntax import MAX_DEPTH, dotted, parse
from rules.values import HELPERS

FUNCTIONS = ("min", "max", "abs", "round", "clamp")
LITERALS = {"true": True, "false": False, "null": None}
ORDER_OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
EQ_OPS = {ast.Eq: "==", ast.NotEq: "!="}
SET_OPS = {ast.In: "in", ast.NotIn: "not in"}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}
_SPELLINGS = {"none": "null", "null": "null", "true": "true", "false": "false"}

Facts = Mapping[str, object]


@dataclass(frozen=True)
class Typed:
    """A compiled sub-expression: its code, type, nullability and numeric range."""

    code: str
    kind: Kind
    nullable: bool
    simple: bool = False  # a local name or a literal: safe to repeat without a temporary
    bound: Bound = UNKNOWN
    fact: str | None = None  # the fact's name when the value is a bare fact


class Compiler:
    """Type-check `ast` nodes of one expression text and emit Python source for them."""

    def __init__(
        self, text: str, types: Mapping[str, Kind], constants: Mapping[str, object] | None = None
    ) -> None:
        self.text = text
        self.raw = text.encode()
        self.types = types
        self.constants = constants or {}
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

    def fact(self, node: ast.AST) -> Typed:
        name = dotted(node)
        if name is None:
            raise self.fail(node, "only fact names may use '.'")
        if name not in self.types:
            spelling = _SPELLINGS.get(name.lower())
            if spelling:
                raise self.fail(node, f"write {spelling} (lower case) instead of '{name}'")
            hint = difflib.get_close_matches(name, list(self.types), n=1, cutoff=0.7)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise self.fail(node, f"unknown fact '{name}'{extra}")
        kind = self.types[name]
        if name in self.constants:
            value = self.constants[name]
            bound = bounds.exact(value) if kind == Kind.NUMBER else UNKNOWN  # type: ignore[arg-type]
            return Typed(repr(value), kind, value is None, True, bound, name)
        if name not in self.locals:
            self.locals[name] = f"v{len(self.locals)}"
        known = CATALOGUE.get(name)
        bound = bounds.span(known.low, known.high, known.grid) if known else UNKNOWN
        return Typed(self.locals[name], kind, True, True, bound, name)

    def boolean(self, node: ast.AST) -> str:
        typed = self.emit(node)
        if typed.kind not in (Kind.BOOL, Kind.NULL):
            raise self.fail(node, f"expected a boolean, got {typed.kind}")
        return f"({typed.code} is True)" if typed.nullable else typed.code

    def guarded(self, parts: list[Typed]) -> tuple[list[str], list[str]]:
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

    def literal(self, node: ast.Constant) -> Typed:
        value = node.value
        if isinstance(value, bool) or value is None:
            raise self.fail(node, "use true, false and null (lower case)")
        if isinstance(value, (int, float)):
            if not math.isfinite(value) or abs(value) > bounds.LIMIT:
                raise self.fail(node, "number out of range")
            return Typed(repr(value), Kind.NUMBER, False, True, bounds.exact(value))
        if isinstance(value, str):
            return Typed(repr(value), Kind.STRING, False, simple=True)
        raise self.fail(node, "unsupported literal")

    def emit(self, node: ast.AST) -> Typed:  # noqa: PLR0911
        if isinstance(node, ast.Constant):
            return self.literal(node)
        if isinstance(node, ast.Name) and node.id in LITERALS:
            value = LITERALS[node.id]
            kind = Kind.NULL if value is None else Kind.BOOL
            return Typed(repr(value), kind, value is None, simple=True)
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.fact(node)
        if isinstance(node, ast.BoolOp):
            joiner = " and " if isinstance(node.op, ast.And) else " or "
            return Typed(
                "(" + joiner.join(self.boolean(v) for v in node.values) + ")", Kind.BOOL, False
            )
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.IfExp):
            return self.ifexp(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            raise self.fail(node, "a list of values may only follow 'in' or 'not in'")
        raise self.fail(node, f"'{_describe(node)}' is not allowed in expressions")

    def checked(self, node: ast.AST, typed: Typed) -> Typed:
        if bounds.too_big(typed.bound):
            size = f"{typed.bound.magnitude:.0e}".replace("e+", "e")
            raise self.fail(
                node, f"numbers here can reach about {size}, beyond the limit of 1e15 (too large)"
            )
        return typed

    def unary(self, node: ast.UnaryOp) -> Typed:
        if isinstance(node.op, ast.Not):
            return Typed(f"(not {self.boolean(node.operand)})", Kind.BOOL, False)
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise self.fail(node, "unsupported operator")
        operand = self.number(node.operand)
        minus = isinstance(node.op, ast.USub)
        bound = bounds.negate(operand.bound) if minus else operand.bound
        sign = "-" if minus else "+"
        if not operand.nullable:
            return Typed(f"({sign}{operand.code})", Kind.NUMBER, False, bound=bound)
        guards, names = self.guarded([operand])
        return Typed(f"({sign}{names[0]} if {guards[0]} else None)", Kind.NUMBER, True, bound=bound)

    def number(self, node: ast.AST) -> Typed:
        typed = self.emit(node)
        if typed.kind not in (Kind.NUMBER, Kind.NULL):
            raise self.fail(node, f"expected a number, got {typed.kind}")
        return typed

    def binop(self, node: ast.BinOp) -> Typed:
        symbol = _ARITH.get(type(node.op))
        if symbol is None:
            raise self.fail(node, f"operator '{_describe(node.op)}' is not allowed")
        left, right = self.emit(node.left), self.emit(node.right)
        for side, typed in ((node.left, left), (node.right, right)):
            if typed.kind not in (Kind.NUMBER, Kind.NULL):
                raise self.fail(side, f"'{symbol}' needs numbers, got {typed.kind}")
        combine = {
            "+": bounds.add,
            "-": bounds.sub,
            "*": bounds.mul,
            "/": bounds.div,
            "%": bounds.mod,
        }[symbol]
        bound = combine(left.bound, right.bound)
        divides = symbol in ("/", "%")
        if not (left.nullable or right.nullable or divides):
            code = f"({left.code} {symbol} {right.code})"
            return self.checked(node, Typed(code, Kind.NUMBER, False, bound=bound))
        guards, names = self.guarded([left, right])
        if divides:
            guards.append(f"{names[1]} != 0")
        test = " and ".join(guards)
        code = f"(({names[0]} {symbol} {names[1]}) if {test} else None)"
        return self.checked(node, Typed(code, Kind.NUMBER, True, bound=bound))

    def compare(self, node: ast.Compare) -> Typed:
        if any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            return self.null_test(node)
        operands = [node.left, *node.comparators]
        typed: list[Typed] = []
        for index, operand in enumerate(operands):
            op = node.ops[index - 1] if index else node.ops[0]
            is_set = index > 0 and isinstance(op, (ast.In, ast.NotIn))
            typed.append(self.set_operand(operand) if is_set else self.emit(operand))
        for index, op in enumerate(node.ops):
            lhs, rhs = typed[index], typed[index + 1]
            self.check_pair(op, operands[index], operands[index + 1], lhs, rhs)
        guards, names = self.guarded(typed)
        checks = []
        for index, op in enumerate(node.ops):
            symbol = {**ORDER_OPS, **EQ_OPS, **SET_OPS}[type(op)]
            checks.append(f"{names[index]} {symbol} {names[index + 1]}")
        return Typed("(" + " and ".join(guards + checks) + ")", Kind.BOOL, False)

    def null_test(self, node: ast.Compare) -> Typed:
        right = node.comparators[0]
        if len(node.ops) != 1 or not (isinstance(right, ast.Name) and right.id == "null"):
            raise self.fail(node, "'is' is only allowed as 'x is null' or 'x is not null'")
        left = self.emit(node.left)
        is_null = isinstance(node.ops[0], ast.Is)
        if not left.nullable:  # a literal or a constant: the answer is known now
            return Typed(repr(not is_null), Kind.BOOL, False, simple=True)
        test = "is" if is_null else "is not"
        return Typed(f"({left.code} {test} None)", Kind.BOOL, False)

    def check_pair(
        self, op: ast.cmpop, left: ast.AST, right: ast.AST, lhs: Typed, rhs: Typed
    ) -> None:
        if any(t.kind == Kind.NULL for t in (lhs, rhs)):
            raise self.fail(right, "comparison with null is always false; use 'is null'")
        if type(op) in ORDER_OPS:
            if lhs.kind != Kind.NUMBER or rhs.kind != Kind.NUMBER:
                raise self.fail(right, f"cannot order {lhs.kind} and {rhs.kind}")
        elif type(op) in EQ_OPS:
            if lhs.kind != rhs.kind:
                raise self.fail(right, f"cannot compare {lhs.kind} with {rhs.kind}")
            self.check_code(left, rhs.fact)
            self.check_code(right, lhs.fact)
        elif type(op) in SET_OPS:
            if (lhs.kind, rhs.kind) not in ((Kind.STRING, Kind.SET), (Kind.NUMBER, Kind.NUMSET)):
                raise self.fail(
                    right,
                    "'in' needs a string and a set, or a number and a list of numbers; "
                    f"got {lhs.kind} and {rhs.kind}",
                )
            self.check_code(left, rhs.fact)
            if isinstance(right, (ast.List, ast.Tuple, ast.Set)):
                for element in right.elts:
                    self.check_code(element, lhs.fact)
        else:
            raise self.fail(right, "unsupported comparison")

    def check_code(self, node: ast.AST, fact: str | None) -> None:
        """A quoted string compared with a coded fact must be one of its codes."""
        known = CATALOGUE.get(fact or "")
        if known is None or known.codes is None:
            return
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            return
        if node.value in known.codes:
            return
        hint = suggest(node.value, known.codes)
        extra = f" (did you mean '{hint}'?)" if hint else f" (codes: {', '.join(known.codes)})"
        raise self.fail(node, f"'{node.value}' is not a code of {fact}{extra}")

    def set_operand(self, node: ast.AST) -> Typed:
        if not isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return self.emit(node)
        items: list[object] = []
        kinds = set()
        for element in node.elts:
            value = _literal_value(element)
            if isinstance(value, str):
                kinds.add(Kind.SET)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(value) or abs(value) > bounds.LIMIT:
                    raise self.fail(element, "number out of range")
                kinds.add(Kind.NUMSET)
            else:
                raise self.fail(element, "a literal set holds quoted strings or numbers")
            items.append(value)
        if len(kinds) > 1:
            raise self.fail(node, "a literal set holds either quoted strings or numbers, not both")
        name = f"c{len(self.consts)}"
        self.consts[name] = frozenset(items)
        return Typed(name, kinds.pop() if kinds else Kind.SET, False, simple=True)

    def ifexp(self, node: ast.IfExp) -> Typed:
        test = self.boolean(node.test)
        body, orelse = self.emit(node.body), self.emit(node.orelse)
        kinds = {body.kind, orelse.kind} - {Kind.NULL}
        if len(kinds) > 1:
            raise self.fail(node.orelse, f"both branches must have one type: {' and '.join(kinds)}")
        kind = kinds.pop() if kinds else Kind.NULL
        code = f"({body.code} if {test} else {orelse.code})"
        bound = bounds.union(body.bound, orelse.bound) if kind == Kind.NUMBER else UNKNOWN
        return Typed(code, kind, body.nullable or orelse.nullable, bound=bound)

    def call(self, node: ast.Call) -> Typed:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            raise self.fail(node, f"unknown function; allowed: {', '.join(FUNCTIONS)}")
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self.fail(node, "functions take plain positional arguments")
        count = len(node.args)
        if name == "round":
            digits = 0
            if count == 2:
                given = node.args[1]
                ok = isinstance(given, ast.Constant) and type(given.value) is int
                if not ok or not 0 <= given.value <= 6:  # type: ignore[attr-defined]
                    raise self.fail(node, "round's second argument must be a whole number 0-6")
                digits = given.value  # type: ignore[attr-defined]
            elif count != 1:
                raise self.fail(node, "round takes one or two arguments")
            first = self.number(node.args[0])
            args = [first.code] + ([repr(digits)] if count == 2 else [])
            bound = bounds.rounded(first.bound, digits)
        else:
            wanted = {"min": count >= 2, "max": count >= 2, "abs": count == 1, "clamp": count == 3}
            if not wanted[name]:
                raise self.fail(node, f"wrong number of arguments for {name}")
            typed = [self.number(arg) for arg in node.args]
            args = [t.code for t in typed]
            if name == "abs":
                bound = bounds.absolute(typed[0].bound)
            else:
                bound = bounds.union(*(t.bound for t in typed))
        return self.checked(
            node, Typed(f"_{name}({', '.join(args)})", Kind.NUMBER, True, bound=bound)
        )

    def function(
        self,
        body: str,
        name: str = "_expr",
        extra: Mapping[str, object] | None = None,
        statements: list[str] | None = None,
    ) -> Callable[[Facts], Any]:
        """Compile `body` into `def name(f)` reading every fact used once (after `statements`)."""
        lines = [f"def {name}(f):"]
        if self.locals:
            lines.append("    g = f.get")
            lines += [f"    {local} = g({fact!r})" for fact, local in self.locals.items()]
        lines += [f"    {statement}" for statement in statements or ()]
        lines.append(f"    return {body}")
        namespace: dict[str, Any] = {"__builtins__": {}, **HELPERS, **self.consts, **(extra or {})}
        with warnings.catch_warnings():
            # The source is generated from a checked tree; compiler style warnings are noise.
            warnings.simplefilter("ignore", SyntaxWarning)
            code = compile("\n".join(lines), "<rules-expression>", "exec")
        exec(code, namespace)  # noqa: S102
        function: Callable[[Facts], Any] = namespace[name]
        return function


def _literal_value(node: ast.AST) -> object:
    """The value of a literal set element (a negative number is `-` and a constant)."""
    if isinstance(node, ast.Constant):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, (int, float))
        and not isinstance(node.operand.value, bool)
    ):
        return -node.operand.value
    return ...


def _describe(node: ast.AST) -> str:
    return type(node).__name__.lower()


def check_depth(tree: ast.AST, compiler: Compiler) -> None:
    """Refuse trees nested deeper than the parser-level limit allows (e.g. `not not ...`)."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH * 2:
            raise compiler.fail(node, f"expression nested deeper than {MAX_DEPTH}")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


__all__ = ["Compiler", "Facts", "Typed", "check_depth", "dotted", "parse"]
