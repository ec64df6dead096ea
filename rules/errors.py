"""Errors raised by the rules engine: every one carries a location in the YAML."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One validation problem: 1-based line and column, a path like `rules[2].when`."""

    line: int
    column: int
    path: str
    message: str

    def as_dict(self) -> dict[str, object]:
        """Return the issue as a JSON-serialisable dict."""
        return {
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }

    def format(self, source: str) -> str:
        """Return `SOURCE:LINE:COL: path: message`."""
        where = f"{self.path}: " if self.path else ""
        return f"{source}:{self.line}:{self.column}: {where}{self.message}"


class RuleSetError(Exception):
    """A rule set failed to load; `.errors` lists every issue found."""

    def __init__(self, errors: list[Issue], source: str = "<string>") -> None:
        self.errors = sorted(errors, key=lambda issue: (issue.line, issue.column))
        self.source = source
        super().__init__("\n".join(issue.format(source) for issue in self.errors))


class ExpressionError(Exception):
    """An expression failed to parse or type-check; `offset` is 0-based within its text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        self.message = message
        self.offset = offset
        super().__init__(f"{message} (at offset {offset})")
