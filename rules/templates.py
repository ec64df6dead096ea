"""Text templates: `{expression}` placeholders, `{{` and `}}` for literal braces.

A template is compiled once into ONE function that builds the whole text. Values read as a
patient would write them: step counts as whole numbers with thousands separators ("4,400"),
other numbers with at most one decimal ("6.5"), a code or a set of codes as their labels
("a fever and pain at night"). Templates that could show a raw code, a true/false value or
null are refused when loaded (`rules.loader` checks nulls against each rule's `when`).
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rules.codes import LABELS, join_labels, label
from rules.compiler import Compiler, Facts, dotted, parse
from rules.errors import ExpressionError
from rules.expr import Expression, compile_expression
from rules.facts import CATALOGUE
from rules.kinds import Kind

# Codes with an underscore are never words: finding one in a text means a code was pasted in.
_CODE_WORD = re.compile(r"\b(" + "|".join(sorted(c for c in LABELS if "_" in c)) + r")\b")


class NotShowable(ValueError):
    """A placeholder's value cannot be shown to a patient (not a finite number)."""


def _whole(value: object) -> str:
    if value is None:
        return ""
    if not math.isfinite(value):  # type: ignore[arg-type]
        raise NotShowable(f"{value} is not a number a patient can read")
    return f"{round(value):,}"  # type: ignore[call-overload]


def _decimal(value: object) -> str:
    if value is None:
        return ""
    if type(value) is int:
        return f"{value:,}"
    if not math.isfinite(value):  # type: ignore[arg-type]
        raise NotShowable(f"{value} is not a number a patient can read")
    text = f"{value:,.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _words(value: object) -> str:
    return "" if value is None else label(value)


@functools.lru_cache(maxsize=1024)
def _phrase(codes: frozenset[str]) -> str:
    # Few distinct sets ever occur (a handful of codes), so each phrase is built once.
    return join_labels(codes)


def _set(value: Any) -> str:
    if value is None:
        return ""
    return _phrase(value if isinstance(value, frozenset) else frozenset(value))


_RENDERERS: dict[str, object] = {"_tw": _whole, "_td": _decimal, "_ts": _words, "_tl": _set}
_FOR_KIND = {Kind.STRING: "_ts", Kind.SET: "_tl"}


@dataclass(frozen=True)
class Placeholder:
    """One `{...}` of a template: its compiled expression and offset in the template text."""

    offset: int
    expression: Expression


@dataclass(frozen=True)
class Template:
    """A compiled template: `render(facts)` builds the text in one call."""

    text: str
    placeholders: tuple[Placeholder, ...]
    render: Callable[[Facts], str]
    pieces: tuple[str | Placeholder, ...] = ()

    @property
    def static(self) -> bool:
        """Whether the text has no placeholders."""
        return not self.placeholders


def plain(text: str) -> Template:
    """A template that is only text."""
    return Template(text, (), lambda facts: text, (text,))


def compile_template(
    text: str,
    types: Mapping[str, Kind] | None = None,
    constants: Mapping[str, object] | None = None,
) -> Template:
    """Compile `text`; raise ExpressionError with an offset into `text` on failure."""
    pieces: list[str | Placeholder] = []
    spans: list[tuple[int, int]] = []
    literal: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if text.startswith("{{", index) or text.startswith("}}", index):
            literal.append(char)
            index += 2
        elif char == "{":
            close = text.find("}", index)
            if close < 0:
                raise ExpressionError("unclosed '{' in text", index)
            pieces += ["".join(literal), _placeholder(text, index, close, types, constants)]
            spans.append((index, close))
            literal = []
            index = close + 1
        elif char == "}":
            raise ExpressionError("unmatched '}' in text (write '}}')", index)
        else:
            literal.append(char)
            index += 1
    pieces.append("".join(literal))
    _refuse_codes(text, spans)
    placeholders = tuple(p for p in pieces if isinstance(p, Placeholder))
    if not placeholders:
        return plain(text.replace("{{", "{").replace("}}", "}"))
    return Template(text, placeholders, _fuse([pieces], constants)[0], tuple(pieces))


def _placeholder(
    text: str,
    start: int,
    close: int,
    types: Mapping[str, Kind] | None,
    constants: Mapping[str, object] | None,
) -> Placeholder:
    inner = text[start + 1 : close]
    try:
        expression = compile_expression(inner, types, constants=constants)
    except ExpressionError as exc:
        raise ExpressionError(exc.message, start + 1 + exc.offset) from None
    lead = len(inner) - len(inner.lstrip())
    if expression.kind == Kind.BOOL:
        raise ExpressionError(
            "a true/false value reads badly in a text; write words instead, "
            "e.g. {'yes' if pain.red_flag else 'no'}",
            start + 1 + lead,
        )
    if expression.kind == Kind.NULL:
        raise ExpressionError("this placeholder is always null; a patient would see nothing", start)
    return Placeholder(start + 1 + lead, expression)


def _refuse_codes(text: str, spans: list[tuple[int, int]]) -> None:
    for match in _CODE_WORD.finditer(text):
        if any(start <= match.start() <= close for start, close in spans):
            continue  # inside a placeholder: a quoted code compared with a fact is fine
        code = match.group(1)
        raise ExpressionError(
            f"'{code}' is a code; write what a patient reads, e.g. '{LABELS[code]}'",
            match.start(),
        )


def fuse_texts(
    templates: Sequence[Template], constants: Mapping[str, object] | None
) -> Callable[[Facts], tuple[str, ...]] | tuple[str, ...]:
    """Several texts built by ONE function (facts read once); a tuple when none has a value."""
    if all(t.static for t in templates):
        return tuple(t.render({}) for t in templates)
    return _fuse([list(t.pieces) for t in templates], constants)[1]


def _fuse(
    texts: list[list[str | Placeholder]], constants: Mapping[str, object] | None
) -> tuple[Callable[[Facts], str], Callable[[Facts], tuple[str, ...]]]:
    """One function building every text: facts read once, each value formatted for patients.

    Returns it twice: as giving the first text, and as giving the tuple of all of them.
    """
    expressions = [p.expression for ps in texts for p in ps if isinstance(p, Placeholder)]
    compiler = Compiler("", expressions[0].types, constants)
    bodies = []
    for pieces in texts:
        parts = []
        for piece in pieces:
            if isinstance(piece, str):
                if piece:
                    parts.append(repr(piece))
                continue
            expression = piece.expression
            compiler.text, compiler.raw = expression.text, expression.text.encode()
            code = compiler.emit(parse(expression.text)).code
            renderer = _FOR_KIND.get(expression.kind) or ("_tw" if whole(expression) else "_td")
            parts.append(f"{renderer}({code})")
        bodies.append(" + ".join(parts) or "''")
    if len(bodies) == 1:
        one = compiler.function(bodies[0], "_template", _RENDERERS)
        return one, lambda facts: (one(facts),)
    many = compiler.function("(" + ", ".join(bodies) + ",)", "_texts", _RENDERERS)
    return lambda facts: many(facts)[0], many


def whole(expression: Expression) -> bool:
    """Whether a number reads as whole steps (it involves a step count or a step target)."""
    for node in ast.walk(expression.node()):
        name = dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        if name is None:
            continue
        if name.startswith("settings.target.") and not name.endswith("max_weekly_increase"):
            return True
        fact = CATALOGUE.get(name)
        if fact is not None and fact.unit == "steps":
            return True
    return False
