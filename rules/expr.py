"""The expression language of SPEC §5: parsed and type-checked once, compiled to Python code.

`compile_expression(text, types)` parses with Python's `ast`, accepts only a whitelist of node
types, checks types against the fact catalogue and generates one small Python function
(`rules.compiler`). Facts are read once into locals; null checks are emitted only where a value
can be null, so an evaluation is a single function call with no tree walking.
`compile_conditions` fuses many conditions into one function for a rule set's evaluation.

Null semantics: any comparison (`== != < <= > >= in not in`) with a null operand is false;
arithmetic and functions with a null operand give null; division or modulo by zero gives null;
a null boolean fact counts as false in `and`, `or`, `not` and `if`; `x is null` and
`x is not null` test for null. Errors are `ExpressionError` with a 0-based character offset.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rules.bounds import Bound
from rules.compiler import Compiler, Facts, check_depth, parse
from rules.errors import ExpressionError
from rules.facts import fact_types
from rules.kinds import Kind
from rules.tracing import Tracer, TreeNode, build_tracer, build_tree
from rules.values import TraceEntry

__all__ = ["Expression", "compile_conditions", "compile_expression", "parse"]


@dataclass(eq=False)
class Expression:
    """A compiled expression: call `evaluate(facts)`; `trace(facts)` explains it."""

    text: str
    kind: Kind
    nullable: bool
    facts: frozenset[str]
    evaluate: Callable[[Facts], Any]
    bound: Bound = field(default_factory=Bound, repr=False)
    types: Mapping[str, Kind] = field(default_factory=dict, repr=False)
    constants: Mapping[str, object] = field(default_factory=dict, repr=False)
    _tracer: Tracer | None = field(default=None, repr=False)
    _traced: bool = field(default=False, repr=False)
    _tree: TreeNode | None = field(default=None, repr=False)

    def node(self) -> ast.expr:
        """The expression's syntax tree (parsed again: it is cheap and kept nowhere)."""
        return parse(self.text)

    def trace(self, facts: Facts) -> list[TraceEntry]:
        """Return the value of every comparison and boolean fact in the expression."""
        if not self._traced:
            # Built on first use: most conditions are never traced in a process's life.
            self._tracer = build_tracer(self.node(), self.text, self.types, self.constants)
            self._traced = True
        return self._tracer(facts) if self._tracer is not None else []

    def tree(self, facts: Facts) -> list[str]:
        """Readable lines of the condition's and/or structure with every leaf's value."""
        if self._tree is None:
            self._tree = build_tree(self.node(), self.text, self.types, self.constants)
        return self._tree.lines(facts)[1]


def compile_expression(
    text: str,
    types: Mapping[str, Kind] | None = None,
    *,
    want: Kind | None = None,
    constants: Mapping[str, object] | None = None,
) -> Expression:
    """Parse, type-check and compile `text`; raise ExpressionError with an offset on failure.

    `constants` (a rule set's settings) are inlined as literals: they are known at load time.
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty expression", 0)
    # Python's parser rejects leading blanks; strip them and shift offsets back.
    body_text = text.lstrip()
    lead = len(text) - len(body_text)
    try:
        return _compile(body_text, fact_types() if types is None else types, want, constants)
    except ExpressionError as exc:
        raise ExpressionError(exc.message, exc.offset + lead) from None


def _compile(
    text: str, types: Mapping[str, Kind], want: Kind | None, constants: Mapping[str, object] | None
) -> Expression:
    tree = parse(text)
    flat = text.replace("\n", " ")
    compiler = Compiler(flat, types, constants)
    check_depth(tree, compiler)
    typed = compiler.emit(tree)
    if want == Kind.BOOL:
        if typed.kind != Kind.BOOL:
            raise ExpressionError(f"condition must be boolean, got {typed.kind}", 0)
        body = f"({typed.code} is True)" if typed.nullable else typed.code
    elif want is not None and typed.kind not in (want, Kind.NULL):
        raise ExpressionError(f"expected a {want}, got {typed.kind}", 0)
    else:
        body = typed.code
    function = compiler.function(body)
    names = frozenset(compiler.locals)
    return Expression(
        flat,
        typed.kind,
        typed.nullable,
        names,
        function,
        typed.bound,
        types,
        dict(constants or {}),
        _traced=want != Kind.BOOL,
    )


def compile_conditions(
    conditions: Sequence[Expression], constants: Mapping[str, object]
) -> Callable[[Facts], list[int]]:
    """Fuse already-checked conditions into ONE function returning the indices of true ones.

    Every fact is read once for all of them; `constants` (settings, the trigger) are inlined.
    """
    types = conditions[0].types if conditions else fact_types()
    compiler = Compiler("", types, constants)
    statements = ["true = []", "add = true.append"]
    for index, condition in enumerate(conditions):
        compiler.text, compiler.raw = condition.text, condition.text.encode()
        statements.append(f"if {compiler.boolean(parse(condition.text))}: add({index})")
    return compiler.function("true", "_conditions", statements=statements)
