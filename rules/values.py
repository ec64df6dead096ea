"""Runtime values of expressions: readable formatting, null-aware functions, trace entries."""

from __future__ import annotations

import math
from typing import Any, NamedTuple


class TraceEntry(NamedTuple):
    """The value of one sub-condition: `pain.latest >= 7` -> `8 >= 7` -> true.

    A named tuple: generated tracers build one per comparison, and it constructs faster than a
    frozen dataclass.
    """

    expr: str
    values: str
    result: object

    def as_dict(self) -> dict[str, object]:
        """Return the entry as a JSON-serialisable dict."""
        return {"expr": self.expr, "values": self.values, "result": self.result}


def format_value(value: object, quote: bool = False) -> str:  # noqa: PLR0911
    """Render a value readably: ints as ints, other numbers with one decimal, null as null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        rounded = round(value, 1)
        return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"
    if isinstance(value, (set, frozenset, list, tuple)):
        if value and all(isinstance(item, (int, float)) for item in value):
            return "{" + ", ".join(format_value(item) for item in sorted(value)) + "}"
        items = sorted(str(item) for item in value)
        # Traces show a set literal; texts read as a plain list ("fever, night_pain").
        return "{" + ", ".join(repr(i) for i in items) + "}" if quote else ", ".join(items)
    return repr(str(value)) if quote else str(value)


def _nulls(*args: object) -> bool:
    return any(arg is None for arg in args)


def _min(*args: Any) -> Any:
    return None if _nulls(*args) else min(args)


def _max(*args: Any) -> Any:
    return None if _nulls(*args) else max(args)


def _abs(value: Any) -> Any:
    return None if value is None else abs(value)


def _clamp(value: Any, low: Any, high: Any) -> Any:
    return None if _nulls(value, low, high) else min(max(value, low), high)


def _round(value: Any, digits: int = 0) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if abs(value) > 1e15:  # already whole; round() would make a huge int of a float
        return value
    return round(value) if digits == 0 else round(value, digits)


def _fmt(value: object) -> str:
    # Traces format mostly ints and nulls: answer those without the general dispatch.
    if value is None:
        return "null"
    if type(value) is int:
        return str(value)
    return format_value(value, quote=True)


# Names generated code may call (user text can only reach facts and whitelisted functions).
HELPERS: dict[str, object] = {
    "_E": TraceEntry,
    "_bool": bool,
    "_fmt": _fmt,
    "_min": _min,
    "_max": _max,
    "_abs": _abs,
    "_clamp": _clamp,
    "_round": _round,
}
