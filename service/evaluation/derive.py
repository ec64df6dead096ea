"""Facts of one patient from the rows `service.evaluation.facts` loaded (plain Python).

The definitions are those of `rules.facts`, in the patient's local calendar; the property test
holds the result to `rules.reference.compute_facts`. Everything that depends only on the zone
(today, window bounds, the end of each local day) lives in a `Calendar` shared by every patient
of that zone, so the per-patient work is list and dict arithmetic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from rules import EvaluationState
from rules.codes import CLEARANCE, highest_tier
from rules.facts_personal import HIGH_PAIN
from rules.facts_prom import NO_SCORES
from rules.reference_personal import week_on_week

STEP_DAYS = 14
STREAK_MAX = 366
_TICK = dt.timedelta(microseconds=1)
WEEK = dt.timedelta(hours=168)
_72H = dt.timedelta(hours=72)
_DAY = dt.timedelta(days=1)


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


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant a local calendar day starts."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


class Calendar:
    """One zone's local calendar at `now`: today, the window bounds, each day's last instant."""

    __slots__ = ("_ends", "day_lo", "event_lo", "local_now", "now", "offsets", "today", "zone")

    def __init__(self, timezone: str, now: dt.datetime) -> None:
        self.zone = ZoneInfo(timezone)
        self.now = now
        self.local_now = now.astimezone(self.zone)
        self.today = self.local_now.date()
        self.event_lo = local_midnight(self.today - dt.timedelta(days=6), self.zone)
        self.day_lo = local_midnight(self.today, self.zone)
        # date -> days before today, for the step window today-STEP_DAYS .. today
        self.offsets = {self.today - dt.timedelta(days=k): k for k in range(STEP_DAYS + 1)}
        self._ends: dict[int, dt.datetime] = {}

    def day_end(self, back: int) -> dt.datetime:
        """The last instant (UTC) of the local day `back` days before today."""
        end = self._ends.get(back)
        if end is None:
            start_next = self.today - dt.timedelta(days=back - 1)
            end = self._ends[back] = local_midnight(start_next, self.zone) - _TICK
        return end

    def local_date(self, moment: dt.datetime) -> dt.date:
        """The local calendar date of an instant."""
        return moment.astimezone(self.zone).date()


class LoadedPatient:
    """One patient's calendar and what the queries brought back."""

    __slots__ = (
        "_met",
        "cal",
        "cleared",
        "ctx",
        "episode",
        "exercise",
        "fired",
        "held_until",
        "last_strength",
        "older",
        "pain",
        "personal",
        "plan",
        "prom",
        "resolved_at",
        "shoes_m",
        "steps",
        "tips_today",
        "variants",
        "walks",
    )

    def __init__(self, ctx: PatientContext, cal: Calendar) -> None:
        self.ctx = ctx
        self.cal = cal
        self.steps: list[int | None] = [None] * (STEP_DAYS + 1)  # effective steps of today-k
        self.older: dict[int, int] = {}  # days before the window (long streaks only)
        self.plan: list[tuple[dt.datetime, int]] = []  # sorted by effective time, then id
        self.held_until: dt.datetime | None = None
        self.pain: list[tuple[dt.datetime, int, Any]] = []  # sorted; flags: list or None
        self.walks: list[float] = []  # minutes of sessions in the event window, by start
        self.exercise: list[str] = []  # kinds of sessions in the event window
        self.last_strength: dt.datetime | None = None
        self.tips_today = 0
        self.shoes_m = 0.0
        self.fired: dict[str, str] = {}  # rule id -> ISO instant it last fired
        self.variants: dict[str, int] = {}  # tip id -> variant last sent
        self.episode: tuple[dt.datetime, str] | None = None  # open safety episode: since, tier
        self.resolved_at: dt.datetime | None = None  # when a clinician last closed one
        self.cleared: frozenset[str] = frozenset()  # conditions cleared by a clinician
        self.prom: Mapping[str, object] = NO_SCORES  # service.evaluation.facts.prom
        self._met: list[bool] | None = None
        # Facts of SPEC §11.3 that facts/baselines.py and facts/engagement.py fill in.
        self.personal: dict[str, Any] = {
            "steps.baseline": None,
            "steps.days_with_data_28d": 0,
            "data.days_since": None,
            "pain.baseline": None,
            "checkins.unanswered": 0,
            "checkins.days_since": None,
            "tips.helpful_rate_28d": None,
            "exercise.kinds_7d": frozenset(),
        }

    def target_at_end_of(self, back: int) -> int | None:
        """The target in force at the end of the local day `back` days before today."""
        plan = self.plan
        if not plan:
            return None
        end = self.cal.day_end(back)
        for effective, target in reversed(plan):
            if effective <= end:
                return target
        return None

    def met_window(self) -> list[bool]:
        """Whether each complete day of the window (today-1 .. today-14) met its target."""
        if self._met is None:
            steps, plan = self.steps, self.plan
            if plan and plan[-1][0] <= self.cal.day_end(STEP_DAYS):
                # The latest change precedes the whole window: one target for every day.
                target = plan[-1][1]
                self._met = [s is not None and s >= target for s in steps[1:]]
            else:
                self._met = [
                    steps[k] is not None
                    and (t := self.target_at_end_of(k)) is not None
                    and steps[k] >= t  # type: ignore[operator]
                    for k in range(1, STEP_DAYS + 1)
                ]
        return self._met

    def streak(self, limit: int = STREAK_MAX) -> int:
        """Consecutive met days ending yesterday (older days count once loaded)."""
        streak = 0
        for met in self.met_window():
            if not met or streak >= limit:
                return streak
            streak += 1
        back = STEP_DAYS + 1
        while streak < limit:
            value = self.older.get(back)
            target = self.target_at_end_of(back) if value is not None else None
            if value is None or target is None or value < target:
                break
            streak += 1
            back += 1
        return streak


def _avg(values: list[int]) -> float | None:
    # int / int is correctly rounded, as statistics.mean is for integers.
    return round(sum(values) / len(values), 1) if values else None


def patient_facts(p: LoadedPatient, now: dt.datetime) -> tuple[dict[str, object], EvaluationState]:
    """The facts and rule state of one loaded patient at `now`."""
    ctx, cal = p.ctx, p.cal
    today = cal.today
    steps = p.steps
    last7 = [s for s in steps[1:8] if s is not None]
    prev7 = [s for s in steps[8:] if s is not None]
    met = p.met_window()
    reports = p.pain
    latest = reports[-1] if reports else None
    event_lo = cal.event_lo
    recent = [r[1] for r in reports if r[0] >= event_lo]
    high_days = {cal.local_date(r[0]) for r in reports if r[0] >= event_lo and r[1] >= HIGH_PAIN}
    change = None
    flags: set[str] = set()
    if latest is not None:
        since = latest[0] - WEEK
        before = [r[1] for r in reports if since <= r[0] < latest[0]]
        change = round(latest[1] - sum(before) / len(before), 1) if before else None
        flagged_after = now - _72H
        if p.resolved_at is not None:  # flags the clinician has assessed no longer count
            flagged_after = max(flagged_after, p.resolved_at)
        for at, _score, red in reports:
            if red and at > flagged_after:
                flags.update(red)
    current = p.plan[-1] if p.plan else None
    enrolled = (today - cal.local_date(ctx.enrolled_at)).days
    facts: dict[str, object] = {
        "steps.today": steps[0],
        "steps.yesterday": steps[1],
        "steps.avg_7d": _avg(last7),
        "steps.avg_prev_7d": _avg(prev7),
        "steps.days_with_data_7d": len(last7),
        "steps.days_met_target_7d": sum(met[:7]),
        "steps.days_met_target_14d": sum(met),
        "steps.streak": p.streak(),
        "walk.minutes_7d": round(sum(p.walks), 1),
        "walk.sessions_7d": len(p.walks),
        "shoes.km": round(p.shoes_m / 1000, 1) if ctx.shoes_changed_on is not None else None,
        "pain.latest": latest[1] if latest else None,
        "pain.hours_since": round((now - latest[0]).total_seconds() / 3600, 1) if latest else None,
        "pain.avg_7d": _avg(recent),
        "pain.max_7d": max(recent) if recent else None,
        "pain.reports_7d": len(recent),
        "pain.change": change,
        "pain.red_flags": frozenset(flags),
        "pain.red_flag": bool(flags),
        "pain.red_flag_tier": highest_tier(flags),
        "pain.latest_red_flag_tier": highest_tier(latest[2] or ())
        if latest is not None and (p.resolved_at is None or latest[0] > p.resolved_at)
        else None,
        "safety.episode_open": p.episode is not None,
        "safety.episode_tier": p.episode[1] if p.episode is not None else None,
        "safety.days_since_resolved": (today - cal.local_date(p.resolved_at)).days
        if p.resolved_at is not None
        else None,
        "strength.sessions_7d": p.exercise.count("strength"),
        "strength.days_since": (today - cal.local_date(p.last_strength)).days
        if p.last_strength
        else None,
        "stretch.sessions_7d": p.exercise.count("stretch"),
        "plan.target": current[1] if current else None,
        "plan.days_since_change": (today - cal.local_date(current[0])).days if current else None,
        "plan.progression_held": p.episode is not None
        or (p.held_until is not None and now < p.held_until),
        "plan.week": enrolled // 7 + 1,
        "patient.conditions": ctx.conditions,
        "patient.cleared": p.cleared,
        "patient.uncleared_conditions": frozenset(c for c in ctx.conditions if c in CLEARANCE)
        - p.cleared,
        "patient.has_clinic": ctx.clinic_id is not None,
        "patient.days_enrolled": enrolled,
        "tips.sent_today": p.tips_today,
        "time.hour": cal.local_now.hour,
        "time.weekday": cal.local_now.isoweekday(),
        **p.prom,
        **p.personal,
        "pain.days_high_7d": len(high_days),
        "steps.change_wow": week_on_week(_avg(last7), _avg(prev7)),
    }
    return facts, _state(p, now)


def _target_at(plan: list[tuple[dt.datetime, int]], moment: dt.datetime) -> int | None:
    """The target of the latest change effective at or before `moment` (plan is sorted)."""
    for effective, target in reversed(plan):
        if effective <= moment:
            return target
    return None


def _state(p: LoadedPatient, now: dt.datetime) -> EvaluationState:
    last_fired: dict[str, dt.datetime] = {}
    for rule_id, text in p.fired.items():
        at = dt.datetime.fromisoformat(text)
        if at <= now:  # an evaluation of an earlier moment ignores later firings
            last_fired[rule_id] = at
    return EvaluationState(
        last_fired=last_fired,
        last_variant=dict(p.variants),
        tips_sent_today=p.tips_today,
        max_tips_per_day=p.ctx.max_tips_per_day,
        target_7d_ago=_target_at(p.plan, now - dt.timedelta(days=7)) if p.plan else None,
        episode_since=p.episode[0] if p.episode is not None else None,
    )
