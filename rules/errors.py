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


class RuleRuntimeError(Exception):
    """A rule failed while evaluating (a fact of the wrong type, a value no text can show).

    Loading refuses everything it can prove will fail; what remains surfaces here, with the
    rule's id and the expression or template that failed, so the caller can record the failure
    for that one patient and go on with the others.
    """

    def __init__(self, rule_id: str, expression: str, message: str) -> None:
        self.rule_id = rule_id
        self.expression = expression
        self.message = message
        super().__init__(f"rule '{rule_id}': {expression}: {message}")


class SimulationTooLarge(ValueError):
    """A simulation would take more work than `rules.simulation.MAX_WORK` allows."""


class HistoryError(ValueError):
    """A history file or body is invalid; `.errors` lists `(where, message)` pairs.

    `where` is a path such as `pain[3].at`, prefixed with `line N: ` when the text is known.
    """

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{where}: {message}" for where, message in errors))
