"""Reference form of the personal facts (SPEC §11.3; definitions in `rules.facts_personal`).

`rules.reference.compute_facts` calls `personal_facts` with the patient's effective steps by
day; like the rest of the reference it is written for clarity, not speed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from statistics import median
from typing import TYPE_CHECKING

from rules.facts_personal import (
    BASELINE_DAYS,
    BASELINE_SPAN,
    FEEDBACK_DAYS,
    HIGH_PAIN,
    PAIN_BASELINE_DAYS,
)

if TYPE_CHECKING:
    from rules.reference import History

CHECKIN = "checkin"


def week_on_week(avg_7d: float | None, avg_prev_7d: float | None) -> float | None:
    """steps.change_wow from the two rounded means (null if either is null or the earlier 0)."""
    if avg_7d is None or avg_prev_7d is None or avg_prev_7d == 0:
        return None
    return round(avg_7d / avg_prev_7d - 1, 2)


def step_baseline(values: list[int]) -> int | None:
    """The median of the first days' steps, rounded to a whole step (None without any)."""
    return round(median(values)) if values else None


def pain_baseline(scores: list[int]) -> float | None:
    """The median of the window's scores, rounded to 1 decimal (None without any)."""
    return round(median(scores), 1) if scores else None


def helpful_rate(ratings: list[bool]) -> float | None:
    """The share of helpful ratings, rounded to 2 decimals (None without any)."""
    return round(sum(ratings) / len(ratings), 2) if ratings else None


def exercise_name(name: str) -> str:
    """An exercise name as exercise.kinds_7d holds it."""
    return name.strip().lower()


def personal_facts(
    history: History, now: datetime, today: date, steps_of: Callable[[date], int | None]
) -> dict[str, object]:
    """steps.baseline, steps.days_with_data_28d, data.days_since, pain.baseline,
    pain.days_high_7d, checkins.unanswered and .days_since, tips.helpful_rate_28d,
    exercise.kinds_7d."""
    zone = history.zone
    enrolled = history.enrolled_at.astimezone(zone).date()
    first_days: list[int] = []
    day = enrolled
    span_end = enrolled + timedelta(days=BASELINE_SPAN)
    while day < min(today, span_end) and len(first_days) < BASELINE_DAYS:
        value = steps_of(day)
        if value is not None:
            first_days.append(value)
        day += timedelta(days=1)
    with_data = [row.day for row in history.daily_steps if row.day <= today]
    last28 = {today - timedelta(days=k) for k in range(1, 29)}
    near, far = PAIN_BASELINE_DAYS
    reports = [p for p in history.pain if p.recorded_at <= now]
    older = [
        p.score
        for p in reports
        if near <= (today - p.recorded_at.astimezone(zone).date()).days <= far
    ]
    high_days = {
        p.recorded_at.astimezone(zone).date()
        for p in reports
        if p.score >= HIGH_PAIN and (today - p.recorded_at.astimezone(zone).date()).days <= 6
    }
    latest = max((p.recorded_at for p in reports), default=None)
    asked = max(
        (t.created_at for t in history.tips if t.category == CHECKIN and t.created_at <= now),
        default=None,
    )
    since = now - timedelta(days=FEEDBACK_DAYS)
    ratings = [
        t.helpful
        for t in history.tips
        if t.helpful is not None
        and since < t.created_at <= now
        and t.feedback_at is not None
        and t.feedback_at <= now
    ]
    names = {
        exercise_name(e.name)
        for e in history.exercise
        if e.performed_at <= now and (today - e.performed_at.astimezone(zone).date()).days <= 6
    }
    return {
        "steps.baseline": history.baseline_steps
        if history.baseline_steps is not None
        else step_baseline(first_days),
        "steps.days_with_data_28d": len({d for d in with_data if d in last28}),
        "data.days_since": (today - max(with_data)).days if with_data else None,
        "pain.baseline": pain_baseline(older),
        "pain.days_high_7d": len(high_days),
        "checkins.unanswered": sum(
            1
            for t in history.tips
            if t.category == CHECKIN
            and t.created_at <= now
            and (latest is None or t.created_at > latest)
        ),
        "checkins.days_since": (today - asked.astimezone(zone).date()).days
        if asked is not None
        else None,
        "tips.helpful_rate_28d": helpful_rate(ratings),
        "exercise.kinds_7d": frozenset(names),
    }
