"""The closed sets of the rules language as enums: value types, action kinds, alert severities.

They are `StrEnum`s: a member equals its spelling and formats as it (`f"{Kind.NUMBER}"` is
`number`), so the YAML format, JSON output and every error message read as before, while mypy
and a reader see the whole set in one place.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """The type of a value in an expression: of a fact, a sub-expression or a result."""

    NUMBER = "number"
    BOOL = "bool"
    STRING = "string"
    SET = "set"  # a set of strings: a coded set fact, or a literal list of quoted strings
    NUMSET = "numset"  # a literal list of numbers; only after 'in' / 'not in'
    NULL = "null"  # the literal null (a branch of `if` may be null)


class ActionKind(StrEnum):
    """What one `then` item of a rule does (its YAML key)."""

    SEND_TIP = "send_tip"
    SET_TARGET = "set_target"
    HOLD_PROGRESSION = "hold_progression"
    ALERT_CLINICIAN = "alert_clinician"
    ASK = "ask"


class Severity(StrEnum):
    """How urgent an `alert_clinician` action is (urgent alerts skip the tip budget)."""

    INFO = "info"
    WARNING = "warning"
    URGENT = "urgent"
