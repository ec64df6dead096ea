"""The one history format shared by `python -m rules simulate` and `POST /v1/rulesets/.../simulate`.

A history is a JSON object (the layout of `rules/examples/six_weeks.json`):

    timezone          IANA zone of the patient (default "UTC")
    enrolled_at       date-time with offset (default: local midnight of the first day with data)
    conditions        condition codes (see `python -m rules facts`)
    shoes_changed_on  date or null;  primary_source: name or null;  max_tips_per_day: 0-50 or null
    baseline_steps    0-200000 or null: the starting level a clinician set (steps.baseline)
    daily_steps       [{date, steps 0-200000, source (default "manual"), distance_m}]
    walks             [{start, duration_min 0-1440, distance_m}]
    pain              [{at, score 0-10, red_flags: [codes]}]
    exercise          [{kind: strength|stretch, at, name (optional, e.g. "bird-dog")}]
    plan              [{effective, target 0-1000000, reason}]
    holds             [{start, days 1-365}]
    has_clinic        true (default) or false: a patient who registered without an invite
    clearances        [{at, condition}]: a clinician cleared the patient for a condition
    resolutions       [{at, decision: resume|resume_lower|keep_paused, daily_target, note}]:
                      a clinician's decision on the safety episode open at `at`
                      (`daily_target` 0-1000000 with resume_lower, and only then)

Dates are ISO `YYYY-MM-DD`, date-times ISO with a UTC offset, all between 2000-01-01 and
2099-12-31. Unknown keys are errors. `parse_history` checks everything and raises
`HistoryError` naming each bad field (`pain[3].at`); `rules.history_files.read_history` adds
the line and column of a file, and reads a day-per-row CSV (`rules/examples/six_weeks.csv`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rules.codes import CONDITIONS, RED_FLAGS
from rules.errors import HistoryError
from rules.reference import (
    RESOLUTIONS,
    Clearance,
    DailySteps,
    ExerciseSession,
    History,
    Hold,
    PainReport,
    PlanChange,
    Resolution,
    WalkingSession,
)

FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
MAX_ITEMS = 5000
"""Most entries one list of a history may hold."""
EXERCISE_KINDS = ("strength", "stretch")
MAX_ERRORS = 20

Where = tuple[str | int, ...]


def where_text(path: Where) -> str:
    """Render ('pain', 3, 'at') as `pain[3].at`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "history"


class _Checker:
    """Reads one history, collecting every problem with its path."""

    def __init__(self) -> None:
        self.errors: list[tuple[Where, str]] = []

    def bad(self, path: Where, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append((path, message))

    def mapping(self, value: object, path: Where, keys: dict[str, bool]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.bad(path, "must be an object")
            return None
        for key in value:
            if key not in keys:
                self.bad((*path, str(key)), f"unknown key (known: {', '.join(keys)})")
        for key, required in keys.items():
            if required and value.get(key) is None:
                self.bad((*path, key), "is required")
        return value

    def items(self, value: object, path: Where) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.bad(path, "must be a list")
            return []
        if len(value) > MAX_ITEMS:
            self.bad(path, f"at most {MAX_ITEMS} entries")
            return []
        return value

    def number(
        self, value: object, path: Where, low: float, high: float, *, whole: bool = False
    ) -> Any:
        kind = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind):
            self.bad(path, "must be a whole number" if whole else "must be a number")
            return None
        if not (math.isfinite(value) and low <= value <= high):
            self.bad(path, f"must be between {low:g} and {high:g}")
            return None
        return value

    def text(self, value: object, path: Where, *, limit: int = 64) -> str | None:
        if not isinstance(value, str) or not 0 < len(value) <= limit or "\x00" in value:
            self.bad(path, f"must be a text of 1 to {limit} characters")
            return None
        return value

    def day(self, value: object, path: Where) -> date | None:
        try:
            parsed = date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None or not FIRST_DAY <= parsed <= LAST_DAY:
            self.bad(path, f"must be a date YYYY-MM-DD between {FIRST_DAY} and {LAST_DAY}")
            return None
        return parsed

    def moment(self, value: object, path: Where) -> datetime | None:
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None or parsed.utcoffset() is None:
            self.bad(path, "must be an ISO date-time with a UTC offset (e.g. 2026-03-02T08:00Z)")
            return None
        if not FIRST_DAY <= parsed.date() <= LAST_DAY:
            self.bad(path, f"must be between {FIRST_DAY} and {LAST_DAY}")
            return None
        return parsed

    def choice(self, value: object, path: Where, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            self.bad(path, f"must be one of: {', '.join(allowed)}")
            return ""
        return str(value)

    def codes(self, value: object, path: Where, known: frozenset[str]) -> frozenset[str]:
        found = set()
        for index, code in enumerate(self.items(value, path)):
            if code not in known:
                self.bad((*path, index), f"unknown code (known: {', '.join(sorted(known))})")
            else:
                found.add(code)
        return frozenset(found)


def _whole_numbers(check: _Checker, raw: dict[str, Any], history: History) -> None:
    """The optional whole numbers of a history: baseline_steps and max_tips_per_day."""
    for key, high in (("baseline_steps", 200000), ("max_tips_per_day", 50)):
        if raw.get(key) is not None:
            setattr(history, key, check.number(raw[key], (key,), 0, high, whole=True))


def parse_history(data: object) -> History:
    """Check and build a History from the JSON data of a history; raise HistoryError."""
    check = _Checker()
    keys = dict.fromkeys(
        (
            "timezone",
            "enrolled_at",
            "conditions",
            "shoes_changed_on",
            "primary_source",
            "max_tips_per_day",
            "baseline_steps",
            "daily_steps",
            "walks",
            "pain",
            "exercise",
            "plan",
            "holds",
            "has_clinic",
            "clearances",
            "resolutions",
        ),
        False,
    )
    raw = check.mapping(data, (), keys)
    if raw is None:
        raise _failed(check)
    zone = raw.get("timezone", "UTC")
    try:
        ZoneInfo(zone) if isinstance(zone, str) and 0 < len(zone) <= 64 else None
        valid_zone = isinstance(zone, str) and 0 < len(zone) <= 64
    except (ZoneInfoNotFoundError, ValueError):
        valid_zone = False
    if not valid_zone:
        check.bad(("timezone",), "must be an IANA time zone such as Europe/London")
        zone = "UTC"
    history = History(timezone=zone, enrolled_at=datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")))
    history.conditions = check.codes(raw.get("conditions"), ("conditions",), CONDITIONS)
    if raw.get("shoes_changed_on") is not None:
        history.shoes_changed_on = check.day(raw["shoes_changed_on"], ("shoes_changed_on",))
    if raw.get("primary_source") is not None:
        history.primary_source = check.text(raw["primary_source"], ("primary_source",))
    _whole_numbers(check, raw, history)
    clinic = raw.get("has_clinic", True)
    if not isinstance(clinic, bool):
        check.bad(("has_clinic",), "must be true or false")
    history.has_clinic = clinic is not False
    _entries(check, raw, history)
    enrolled = raw.get("enrolled_at")
    if enrolled is not None:
        history.enrolled_at = check.moment(enrolled, ("enrolled_at",)) or history.enrolled_at
    else:
        first = _first_day(history)
        if first is not None:
            history.enrolled_at = datetime.combine(first, time(0), ZoneInfo(history.timezone))
        elif not check.errors:  # else the entries that would have dated it are reported
            check.bad(("enrolled_at",), "is required when the history holds no data")
    if check.errors:
        raise _failed(check)
    return history


def _entries(check: _Checker, raw: dict[str, Any], history: History) -> None:
    """Read every list of the history into `history`, skipping entries with problems."""
    Reader = Callable[[dict[str, Any], Where], Any]
    readers: dict[str, tuple[dict[str, bool], Reader, list[Any]]] = {
        "daily_steps": (
            {"date": True, "steps": True, "source": False, "distance_m": False},
            lambda r, p: DailySteps(
                check.day(r["date"], (*p, "date")),  # type: ignore[arg-type]
                check.text(r.get("source", "manual"), (*p, "source")),  # type: ignore[arg-type]
                check.number(r["steps"], (*p, "steps"), 0, 200_000, whole=True),
                _optional(check, r, p, "distance_m", 500_000),
            ),
            history.daily_steps,
        ),
        "walks": (
            {"start": True, "duration_min": True, "distance_m": False},
            lambda r, p: WalkingSession(
                check.moment(r["start"], (*p, "start")),  # type: ignore[arg-type]
                check.number(r["duration_min"], (*p, "duration_min"), 0, 1440),
                _optional(check, r, p, "distance_m", 500_000),
            ),
            history.walks,
        ),
        "pain": (
            {"at": True, "score": True, "red_flags": False},
            lambda r, p: PainReport(
                check.moment(r["at"], (*p, "at")),  # type: ignore[arg-type]
                check.number(r["score"], (*p, "score"), 0, 10, whole=True),
                check.codes(r.get("red_flags"), (*p, "red_flags"), RED_FLAGS),
            ),
            history.pain,
        ),
        "exercise": (
            {"kind": True, "at": True, "name": False},
            lambda r, p: ExerciseSession(
                check.choice(r["kind"], (*p, "kind"), EXERCISE_KINDS),
                check.moment(r["at"], (*p, "at")),  # type: ignore[arg-type]
                (check.text(r["name"], (*p, "name"), limit=120) or "") if "name" in r else "",
            ),
            history.exercise,
        ),
        "plan": (
            {"effective": True, "target": True, "reason": False},
            lambda r, p: PlanChange(
                check.moment(r["effective"], (*p, "effective")),  # type: ignore[arg-type]
                check.number(r["target"], (*p, "target"), 0, 1_000_000, whole=True),
                check.text(r.get("reason", "plan"), (*p, "reason"), limit=200) or "",
            ),
            history.plan,
        ),
        "holds": (
            {"start": True, "days": True},
            lambda r, p: Hold(
                check.moment(r["start"], (*p, "start")),  # type: ignore[arg-type]
                check.number(r["days"], (*p, "days"), 1, 365, whole=True),
            ),
            history.holds,
        ),
        "clearances": (
            {"at": True, "condition": True},
            lambda r, p: Clearance(
                check.moment(r["at"], (*p, "at")),  # type: ignore[arg-type]
                check.choice(r["condition"], (*p, "condition"), tuple(sorted(CONDITIONS))),
            ),
            history.clearances,
        ),
        "resolutions": (
            {"at": True, "decision": True, "daily_target": False, "note": False},
            lambda r, p: _resolution(check, r, p),
            history.resolutions,
        ),
    }
    for key, (keys, read, into) in readers.items():
        for index, item in enumerate(check.items(raw.get(key), (key,))):
            before = len(check.errors)
            entry = check.mapping(item, (key, index), keys)
            if entry is None or len(check.errors) > before:
                continue
            built = read(entry, (key, index))
            if len(check.errors) == before:
                into.append(built)


def _resolution(check: _Checker, row: dict[str, Any], path: Where) -> Resolution:
    decision = check.choice(row["decision"], (*path, "decision"), RESOLUTIONS)
    target = row.get("daily_target")
    if decision == "resume_lower" and target is None:
        check.bad((*path, "daily_target"), "is required with resume_lower")
    elif decision != "resume_lower" and target is not None:
        check.bad((*path, "daily_target"), "only resume_lower sets a target")
    elif target is not None:
        target = check.number(target, (*path, "daily_target"), 0, 1_000_000, whole=True)
    note = check.text(row["note"], (*path, "note"), limit=2000) if row.get("note") else ""
    return Resolution(
        check.moment(row["at"], (*path, "at")),  # type: ignore[arg-type]
        decision,
        target,
        note or "",
    )


def _optional(check: _Checker, row: dict[str, Any], path: Where, key: str, high: float) -> Any:
    value = row.get(key)
    return None if value is None else check.number(value, (*path, key), 0, high)


def _first_day(history: History) -> date | None:
    zone = ZoneInfo(history.timezone)
    days = [row.day for row in history.daily_steps]
    days += [p.recorded_at.astimezone(zone).date() for p in history.pain]
    days += [e.performed_at.astimezone(zone).date() for e in history.exercise]
    return min(days, default=None)


def _failed(check: _Checker) -> HistoryError:
    return HistoryError([(where_text(path), message) for path, message in check.errors])
