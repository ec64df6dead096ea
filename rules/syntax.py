"""Parsing expression text: size and nesting limits, slip hints, Python's parser, names."""

from __future__ import annotations

import ast
import warnings

from rules.errors import ExpressionError
from rules.slips import find_slip

MAX_LENGTH = 2000
MAX_DEPTH = 40


def dotted(node: ast.AST) -> str | None:
    """`pain.latest` for the `ast` of a dotted name; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def check_shape(text: str) -> None:
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


def parse(text: str) -> ast.expr:
    """Parse expression text into a Python `ast` expression node (no type checking)."""
    check_shape(text)
    slip = find_slip(text)
    if slip is not None:
        raise ExpressionError(slip[1], slip[0])
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
