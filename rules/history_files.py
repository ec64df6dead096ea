"""Reading history files: JSON with the line and column of each bad field, or a CSV by day.

Both end in `rules.history.parse_history`, so a file and an API body obey the same format.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rules.errors import HistoryError
from rules.history import EXERCISE_KINDS, MAX_ERRORS, Where, parse_history, where_text
from rules.reference import History


def read_history(name: str, text: str, *, timezone: str = "UTC") -> History:
    """Read a history file (CSV by its extension, JSON otherwise); errors carry line:column."""
    if name.lower().endswith(".csv"):
        return read_csv(text, timezone=timezone)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HistoryError([(f"line {exc.lineno}, column {exc.colno}", exc.msg)]) from None
    except RecursionError:
        raise HistoryError([("history", "nested too deeply")]) from None
    try:
        return parse_history(data)
    except HistoryError as exc:
        places = json_positions(text)
        located = []
        for where, message in exc.errors:
            line, column = places.get(where, places.get(where.rsplit(".", 1)[0], (1, 1)))
            located.append((f"line {line}, column {column}: {where}", message))
        raise HistoryError(located) from None


def json_positions(text: str) -> dict[str, tuple[int, int]]:
    """Line and column of every value in a JSON text, by path (`pain[3].at`)."""
    decoder = json.JSONDecoder()
    places: dict[str, tuple[int, int]] = {}
    lines = [0] + [i + 1 for i, char in enumerate(text) if char == "\n"]

    def position(index: int) -> tuple[int, int]:
        low, high = 0, len(lines) - 1
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if lines[mid] <= index else (low, mid - 1)
        return low + 1, index - lines[low] + 1

    def skip(index: int) -> int:
        while index < len(text) and text[index] in " \t\r\n":
            index += 1
        return index

    def walk(index: int, path: Where) -> int:
        index = skip(index)
        places[where_text(path)] = position(index)
        if text.startswith("{", index):
            index = skip(index + 1)
            while not text.startswith("}", index):
                key, index = json.decoder.scanstring(text, index + 1)  # type: ignore[attr-defined]
                index = walk(skip(index) + 1, (*path, key))
                index = skip(skip(index) + (1 if text.startswith(",", skip(index)) else 0))
            return index + 1
        if text.startswith("[", index):
            index, count = skip(index + 1), 0
            while not text.startswith("]", index):
                index = walk(index, (*path, count))
                count += 1
                index = skip(skip(index) + (1 if text.startswith(",", skip(index)) else 0))
            return index + 1
        return decoder.raw_decode(text, index)[1]

    # Positions are a courtesy: the errors stand without them.
    with contextlib.suppress(ValueError, IndexError, RecursionError):
        walk(0, ())
    return places


def read_csv(text: str, *, timezone: str = "UTC") -> History:
    """Build a History from a day-per-row CSV (the layout clinicians keep in a spreadsheet).

    Columns: `date` (required), then any of `steps`, `source` (default `csv`),
    `distance_m`, `walk_minutes`, `pain` (0-10, taken as reported at 18:00 local),
    `red_flags` (codes separated by `;`), `strength` and `stretch` (sessions that day,
    at 17:00 local). Empty cells mean no data. Enrolment is the first row's date, 08:00.
    Errors name the line and the column.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise HistoryError([("--timezone", "must be an IANA time zone")]) from None
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or "date" not in rows[0]:
        raise HistoryError([("line 1", "the CSV needs a header row with a 'date' column")])
    data: dict[str, Any] = {"timezone": timezone}
    origin: dict[str, list[int]] = {}
    errors: list[tuple[str, str]] = []

    def add(key: str, entry: dict[str, Any], line: int) -> None:
        data.setdefault(key, []).append(entry)
        origin.setdefault(key, []).append(line)

    for line, row in enumerate(rows, start=2):
        cell = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
        try:
            day = _csv_day(cell.get("date", ""))
            if cell.get("steps"):
                steps = {"date": day.isoformat(), "source": cell.get("source") or "csv"}
                steps |= {"steps": _csv_number(cell, "steps", int)}
                steps |= {"distance_m": _csv_number(cell, "distance_m", float)}
                add("daily_steps", steps, line)
            at = {
                hour: datetime.combine(day, time(hour), zone).isoformat() for hour in (10, 17, 18)
            }
            if cell.get("walk_minutes"):
                minutes = _csv_number(cell, "walk_minutes", float)
                add("walks", {"start": at[10], "duration_min": minutes}, line)
            if cell.get("pain"):
                flags = [f.strip() for f in cell.get("red_flags", "").split(";") if f.strip()]
                score = _csv_number(cell, "pain", int)
                add("pain", {"at": at[18], "score": score, "red_flags": flags}, line)
            for kind in EXERCISE_KINDS:
                count = _csv_number(cell, kind, int) or 0
                if not 0 <= count <= 20:
                    raise ValueError(f"column '{kind}': give 0 to 20 sessions a day")
                for _ in range(count):
                    add("exercise", {"kind": kind, "at": at[17]}, line)
        except ValueError as exc:
            errors.append((f"line {line}", str(exc)))
    if errors:
        raise HistoryError(errors[:MAX_ERRORS])
    data["enrolled_at"] = datetime.combine(_csv_day(rows[0]["date"]), time(8), zone).isoformat()
    try:
        return parse_history(data)
    except HistoryError as exc:
        located = [_csv_where(w, m, origin) for w, m in exc.errors]
        located.sort(key=lambda item: _line_of(item[0]))
        raise HistoryError(located) from None


def _line_of(where: str) -> int:
    number = where.removeprefix("line ").split(",")[0]
    return int(number) if number.isdigit() else 0


def _csv_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"column 'date': '{text}' is not a date YYYY-MM-DD") from None


def _csv_number(cell: dict[str, str], column: str, kind: type) -> Any:
    text = cell.get(column, "")
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"column '{column}': '{text}' is not a number") from None


_CSV_COLUMNS = {
    "steps": "steps",
    "distance_m": "distance_m",
    "source": "source",
    "date": "date",
    "duration_min": "walk_minutes",
    "score": "pain",
    "red_flags": "red_flags",
}


def _csv_where(where: str, message: str, origin: dict[str, list[int]]) -> tuple[str, str]:
    """Turn `pain[3].score` into `line 9, column 'pain'`."""
    key, _, rest = where.partition("[")
    index_text, _, field = rest.partition("].")
    lines = origin.get(key, [])
    if not index_text.split("]")[0].isdigit() or int(index_text.split("]")[0]) >= len(lines):
        return where, message
    line = lines[int(index_text.split("]")[0])]
    column = _CSV_COLUMNS.get(field.split("[")[0], field or key)
    return f"line {line}, column '{column}'", message
