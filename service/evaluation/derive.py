"""Facts of one patient from the rows `service.evaluation.facts` loaded (plain Python).

The definitions are those of `rules.facts`, in the patient's local calendar; the property test
holds the result to `rules.reference.compute_facts`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

from rules import EvaluationState

STEP_DAYS = 14
STREAK_MAX = 366


@dataclass(frozen=True)
class PatientContext:
    """The profile fields the facts need."""

    patient_id: int
    timezone: str
    enrolled_at: dt.datetime
    conditions: frozenset[str] = frozenset()
    shoes_changed_on: dt.date | None = None
    primary_source: str | None = None
    max_tips_per_day: int | None = None
    clinic_id: int | None = None
    ruleset_id: int | None = None


@dataclass
class LoadedPatient:
    """One patient's local calendar at `now` and what the queries bring back."""

    ctx: PatientContext
    zone: ZoneInfo
    today: dt.date
    local_now: dt.datetime
    event_lo: dt.datetime  # start of today-6, UTC: the 7-day event window
    day_lo: dt.datetime  # start of today, UTC
    steps: dict[dt.date, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))
    plan: list[tuple[dt.datetime, int]] = field(default_factory=list)
    pain: list[tuple[dt.datetime, int, list[str]]] = field(default_factory=list)
    walks: list[tuple[dt.datetime, float]] = field(default_factory=list)
    exercise: list[tuple[str, dt.datetime]] = field(default_factory=list)
    last_strength: dt.datetime | None = None
    tips_today: int = 0
    held_until: dt.datetime | None = None
    shoes_m: float = 0.0
    firings: list[tuple[str, dt.datetime, int | None]] = field(default_factory=list)
    met: dict[dt.date, bool] = field(default_factory=dict)


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant a local calendar day starts."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


_TICK = dt.timedelta(microseconds=1)
WEEK = dt.timedelta(hours=168)
_72H = dt.timedelta(hours=72)


def _effective(rows: list[tuple[str, int]] | None, primary: str | None) -> int | None:
    if not rows:
        return None
    for source, steps in rows:
        if source == primary:
            return steps
    return max(rows, key=lambda row: (row[1], row[0]))[1]


def _target_at(plan: list[tuple[dt.datetime, int]], moment: dt.datetime) -> int | None:
    """The target of the latest change effective at or before `moment` (plan is sorted)."""
    found = None
    for effective, target in plan:
        if effective > moment:
            break
        found = target
    return found


def _steps(p: LoadedPatient, day: dt.date) -> int | None:
    return _effective(p.steps.get(day), p.ctx.primary_source)


def _met(p: LoadedPatient, day: dt.date) -> bool:
    """The day has data and reached the target in force at the end of that local day."""
    known = p.met.get(day)
    if known is None:
        value = _steps(p, day)
        known = False
        if value is not None:
            end = local_midnight(day + dt.timedelta(days=1), p.zone) - _TICK
            target = _target_at(p.plan, end)
            known = target is not None and value >= target
        p.met[day] = known
    return known


def streak_of(p: LoadedPatient, limit: int) -> int:
    streak = 0
    while streak < limit and _met(p, p.today - dt.timedelta(days=streak + 1)):
        streak += 1
    return streak


def patient_facts(p: LoadedPatient, now: dt.datetime) -> tuple[dict[str, object], EvaluationState]:
    ctx, today, zone = p.ctx, p.today, p.zone

    def steps(day: dt.date) -> int | None:
        return _steps(p, day)

    def met(day: dt.date) -> bool:
        return _met(p, day)

    days = [today - dt.timedelta(days=n) for n in range(1, STEP_DAYS + 1)]
    last7 = [s for s in (steps(d) for d in days[:7]) if s is not None]
    prev7 = [s for s in (steps(d) for d in days[7:]) if s is not None]
    streak = streak_of(p, STREAK_MAX)
    reports = p.pain
    latest = reports[-1] if reports else None
    recent = [r for r in reports if r[0] >= p.event_lo]
    change = None
    if latest is not None:
        before = [r[1] for r in reports if latest[0] - WEEK <= r[0] < latest[0]]
        change = round(latest[1] - mean(before), 1) if before else None
    flags: set[str] = set()
    for at, _score, red in reports:
        if at > now - _72H:
            flags.update(red)
    current = p.plan[-1] if p.plan else None
    enrolled = (today - ctx.enrolled_at.astimezone(zone).date()).days
    facts: dict[str, object] = {
        "steps.today": steps(today),
        "steps.yesterday": steps(days[0]),
        "steps.avg_7d": round(mean(last7), 1) if last7 else None,
        "steps.avg_prev_7d": round(mean(prev7), 1) if prev7 else None,
        "steps.days_with_data_7d": len(last7),
        "steps.days_met_target_7d": sum(1 for d in days[:7] if met(d)),
        "steps.days_met_target_14d": sum(1 for d in days if met(d)),
        "steps.streak": streak,
        "walk.minutes_7d": round(sum(minutes for _at, minutes in p.walks), 1),
        "walk.sessions_7d": len(p.walks),
        "shoes.km": round(p.shoes_m / 1000, 1) if ctx.shoes_changed_on is not None else None,
        "pain.latest": latest[1] if latest else None,
        "pain.hours_since": round((now - latest[0]).total_seconds() / 3600, 1) if latest else None,
        "pain.avg_7d": round(mean(r[1] for r in recent), 1) if recent else None,
        "pain.max_7d": max(r[1] for r in recent) if recent else None,
        "pain.reports_7d": len(recent),
        "pain.change": change,
        "pain.red_flags": frozenset(flags),
        "pain.red_flag": bool(flags),
        "strength.sessions_7d": sum(1 for kind, _at in p.exercise if kind == "strength"),
        "strength.days_since": (today - p.last_strength.astimezone(zone).date()).days
        if p.last_strength
        else None,
        "stretch.sessions_7d": sum(1 for kind, _at in p.exercise if kind == "stretch"),
        "plan.target": current[1] if current else None,
        "plan.days_since_change": (today - current[0].astimezone(zone).date()).days
        if current
        else None,
        "plan.progression_held": p.held_until is not None and now < p.held_until,
        "plan.week": enrolled // 7 + 1,
        "patient.conditions": ctx.conditions,
        "patient.days_enrolled": enrolled,
        "tips.sent_today": p.tips_today,
        "time.hour": p.local_now.hour,
        "time.weekday": p.local_now.isoweekday(),
    }
    return facts, _state(p, now)


def _state(p: LoadedPatient, now: dt.datetime) -> EvaluationState:
    last_fired: dict[str, dt.datetime] = {}
    last_variant: dict[str, int] = {}
    for key, at, variant in p.firings:
        kind, _, name = key.partition(":")
        if kind == "rule" and at <= now:
            last_fired[name] = at
        elif kind == "tip" and variant is not None:
            last_variant[name] = variant
    return EvaluationState(
        last_fired=last_fired,
        last_variant=last_variant,
        tips_sent_today=p.tips_today,
        max_tips_per_day=p.ctx.max_tips_per_day,
        target_7d_ago=_target_at(p.plan, now - dt.timedelta(days=7)),
    )


def facts_json(facts: dict[str, object]) -> dict[str, Any]:
    """Facts as JSON (sets become sorted lists)."""
    return {
        name: sorted(value) if isinstance(value, (set, frozenset)) else value
        for name, value in sorted(facts.items())
    }
