"""Text templates: `{expression}` placeholders, `{{` and `}}` for literal braces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rules.errors import ExpressionError
from rules.expr import Expression, compile_expression
from rules.values import format_value


@dataclass(frozen=True)
class Template:
    """A compiled template: literal text and compiled expressions, in order."""

    text: str
    parts: tuple[str | Expression, ...]

    def render(self, facts: Mapping[str, object]) -> str:
        """Fill the placeholders from `facts`; numbers read as people write them."""
        out = []
        for part in self.parts:
            out.append(part if isinstance(part, str) else format_value(part.evaluate(facts)))
        return "".join(out)


def compile_template(text: str, types: Mapping[str, str] | None = None) -> Template:
    """Compile `text`; raise ExpressionError with an offset into `text` on failure."""
    parts: list[str | Expression] = []
    literal = []
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
            inner = text[index + 1 : close]
            try:
                expression = compile_expression(inner, types)
            except ExpressionError as exc:
                raise ExpressionError(exc.message, index + 1 + exc.offset) from None
            parts += ["".join(literal), expression]
            literal = []
            index = close + 1
        elif char == "}":
            raise ExpressionError("unmatched '}' in text (write '}}')", index)
        else:
            literal.append(char)
            index += 1
    parts.append("".join(literal))
    return Template(text, tuple(part for part in parts if part != ""))
