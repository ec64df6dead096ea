"""Reference facts: an in-memory patient `History` and `compute_facts(history, now)`.

This is the executable definition of the catalogue in `rules.facts` (read its module docstring
for the shared terms: today, complete days, event window, effective steps, target of a day,
met). The service computes the same facts in SQL and is property-tested against this module, so
it is written for clarity, not speed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from statistics import mean
from zoneinfo import ZoneInfo

from rules.codes import CLEARANCE, highest_tier, tier_rank
from rules.decision import EvaluationState
from rules.facts_prom import PromScore, prom_facts
from rules.reference_personal import personal_facts, week_on_week


@dataclass
class DailySteps:
    """One source's total for one patient-local date."""

    day: date
    source: str
    steps: int
    distance_m: float | None = None


@dataclass
class WalkingSession:
    """A walking session; it belongs to the local date of `start`."""

    start: datetime
    duration_min: float
    distance_m: float | None = None


@dataclass
class PainReport:
    """A pain report, 0-10, with any red flags ticked."""

    recorded_at: datetime
    score: int
    red_flags: frozenset[str] = frozenset()


@dataclass
class ExerciseSession:
    """A strength or stretch session (`name`: what the patient called it, e.g. "bird-dog")."""

    kind: str
    performed_at: datetime
    name: str = ""


@dataclass
class PlanChange:
    """A daily step target taking effect at `effective`."""

    effective: datetime
    target: int
    reason: str = ""


@dataclass
class Hold:
    """A progression hold: active while start <= now < start + days x 24 h."""

    start: datetime
    days: int


@dataclass
class TipRecord:
    """A tip created for the patient, and the patient's helpful feedback on it if any."""

    created_at: datetime
    tip_id: str | None = None
    rule_id: str | None = None
    variant: int | None = None
    category: str | None = None
    helpful: bool | None = None
    feedback_at: datetime | None = None


@dataclass
class Clearance:
    """A clinician's clearance of one condition, in force from `at`."""

    at: datetime
    condition: str


RESOLUTIONS = ("resume", "resume_lower", "keep_paused")
"""A clinician's decisions on a safety episode; the first two close it."""


@dataclass
class Resolution:
    """A clinician's decision on the open safety episode at `at` (`daily_target`: resume_lower)."""

    at: datetime
    decision: str
    daily_target: int | None = None
    note: str = ""

    @property
    def closes(self) -> bool:
        """Whether the decision closes the episode (keep_paused keeps it open)."""
        return self.decision != "keep_paused"


@dataclass
class SafetyEpisode:
    """A safety episode: open from `opened_at` until a clinician closes it (`closed_at`).

    `tier` is the most severe tier it reached; `reports` the flagged reports attached to it;
    `reviews` every clinician decision on it, the closing one last.
    """

    opened_at: datetime
    tier: str
    flags: frozenset[str] = frozenset()
    closed_at: datetime | None = None
    reports: list[datetime] = field(default_factory=list)
    escalations: list[tuple[datetime, str]] = field(default_factory=list)
    reviews: list[Resolution] = field(default_factory=list)

    def open_at(self, moment: datetime) -> bool:
        """Whether the episode is open at `moment`."""
        return self.opened_at <= moment and (self.closed_at is None or self.closed_at > moment)


@dataclass
class History:
    """Everything known about one patient, as the service's tables would hold it.

    `resolutions` are clinicians' decisions the simulator applies at their time to the episode
    then open; `episodes` are the safety episodes themselves (the simulator opens them from
    decisions).
    """

    timezone: str
    enrolled_at: datetime
    conditions: frozenset[str] = frozenset()
    has_clinic: bool = True
    clearances: list[Clearance] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    episodes: list[SafetyEpisode] = field(default_factory=list)
    shoes_changed_on: date | None = None
    primary_source: str | None = None
    max_tips_per_day: int | None = None
    baseline_steps: int | None = None
    daily_steps: list[DailySteps] = field(default_factory=list)
    walks: list[WalkingSession] = field(default_factory=list)
    pain: list[PainReport] = field(default_factory=list)
    exercise: list[ExerciseSession] = field(default_factory=list)
    plan: list[PlanChange] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    tips: list[TipRecord] = field(default_factory=list)
    rule_fires: list[tuple[str, datetime]] = field(default_factory=list)
    # Whose draws randomised rules make (`rules.randomization`): the service passes the patient
    # id, so simulating a stored patient draws what their live evaluations draw.
    seed: str = "simulation"
    prom: list[PromScore] = field(default_factory=list)
    # The patient's own quiet hours (local start, end); None: the rule set's apply.
    quiet_hours: tuple[time, time] | None = None

    @property
    def zone(self) -> ZoneInfo:
        """Return the patient's time zone."""
        return ZoneInfo(self.timezone)

    def target_at(self, moment: datetime) -> int | None:
        """Return the plan target in force at `moment` (latest change with effective <= it)."""
        changes = [c for c in self.plan if c.effective <= moment]
        return max(changes, key=lambda c: c.effective).target if changes else None

    def state(self, now: datetime) -> EvaluationState:
        """Return the EvaluationState the service would load for an evaluation at `now`."""
        zone, today = self.zone, now.astimezone(self.zone).date()
        last_fired: dict[str, datetime] = {}
        for rule_id, moment in self.rule_fires:
            if moment <= now and (rule_id not in last_fired or moment > last_fired[rule_id]):
                last_fired[rule_id] = moment
        last_variant: dict[str, int] = {}
        for tip in sorted(self.tips, key=lambda t: t.created_at):
            if tip.created_at <= now and tip.tip_id is not None and tip.variant is not None:
                last_variant[tip.tip_id] = tip.variant
        sent_today = sum(
            1
            for t in self.tips
            if t.created_at <= now and t.created_at.astimezone(zone).date() == today
        )
        current = self.open_episode(now)
        return EvaluationState(
            last_fired,
            last_variant,
            sent_today,
            self.max_tips_per_day,
            self.target_at(now - timedelta(days=7)),
            current.opened_at if current is not None else None,
            seed=self.seed,
        )

    def open_episode(self, moment: datetime) -> SafetyEpisode | None:
        """The safety episode open at `moment` (the most severe, should there be several)."""
        found = [e for e in self.episodes if e.open_at(moment)]
        return max(found, key=lambda e: (tier_rank(e.tier), e.opened_at)) if found else None

    def last_resolution(self, moment: datetime) -> datetime | None:
        """When a clinician last closed an episode, at or before `moment` (None: never)."""
        closed = [e.closed_at for e in self.episodes if e.closed_at and e.closed_at <= moment]
        return max(closed, default=None)


def _local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _round1(value: float) -> float:
    return round(value, 1)


class _Days:
    """Per-day effective steps and distance."""

    def __init__(self, history: History) -> None:
        self.rows: dict[date, list[DailySteps]] = {}
        for row in history.daily_steps:
            self.rows.setdefault(row.day, []).append(row)
        self.primary = history.primary_source

    def effective(self, day: date) -> DailySteps | None:
        rows = self.rows.get(day)
        if not rows:
            return None
        primary = [row for row in rows if row.source == self.primary]
        # Sources are never summed: the primary wins, else the largest value (ties: by name).
        return primary[0] if primary else max(rows, key=lambda row: (row.steps, row.source))

    def steps(self, day: date) -> int | None:
        row = self.effective(day)
        return None if row is None else row.steps


def effective_steps(history: History, day: date) -> int | None:
    """Return the day's effective steps (primary source, else the largest); None without data."""
    return _Days(history).steps(day)


def compute_facts(history: History, now: datetime) -> dict[str, object]:
    """Compute every catalogue fact (except trigger and settings) for `history` at `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = history.zone
    local_now = now.astimezone(zone)
    today = local_now.date()
    days = _Days(history)

    def target_of(day: date) -> int | None:
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        return history.target_at(end - timedelta(microseconds=1))

    def met(day: date) -> bool:
        steps, target = days.steps(day), target_of(day)
        return steps is not None and target is not None and steps >= target

    def window(first: int, last: int) -> list[date]:
        return [today - timedelta(days=offset) for offset in range(first, last + 1)]

    last7, prev7, last14 = window(1, 7), window(8, 14), window(1, 14)
    steps7 = [s for s in (days.steps(d) for d in last7) if s is not None]
    steps_prev = [s for s in (days.steps(d) for d in prev7) if s is not None]
    streak = 0
    while streak < 366 and met(today - timedelta(days=streak + 1)):
        streak += 1

    event_days = set(window(0, 6))

    def in_window(moment: datetime) -> bool:
        return moment <= now and _local_date(moment, zone) in event_days

    walks = [w for w in history.walks if in_window(w.start)]
    reports = sorted((p for p in history.pain if p.recorded_at <= now), key=lambda p: p.recorded_at)
    latest = reports[-1] if reports else None
    recent = [p for p in reports if in_window(p.recorded_at)]
    change = None
    if latest is not None:
        before = [
            p.score
            for p in reports
            if latest.recorded_at - timedelta(hours=168) <= p.recorded_at < latest.recorded_at
        ]
        change = _round1(latest.score - mean(before)) if before else None
    resolved = history.last_resolution(now)
    flags: set[str] = set()
    for report in reports:
        assessed = resolved is not None and report.recorded_at <= resolved
        if now - timedelta(hours=72) < report.recorded_at and not assessed:
            flags |= report.red_flags
    episode = history.open_episode(now)
    cleared = frozenset(c.condition for c in history.clearances if c.at <= now)
    strength = [e for e in history.exercise if e.kind == "strength" and e.performed_at <= now]
    stretch = [e for e in history.exercise if e.kind == "stretch" and in_window(e.performed_at)]
    changes = [c for c in history.plan if c.effective <= now]
    current = max(changes, key=lambda c: c.effective) if changes else None
    enrolled = (today - _local_date(history.enrolled_at, zone)).days
    personal = personal_facts(history, now, today, days.steps)
    shoes_km = None
    if history.shoes_changed_on is not None:
        metres = 0.0
        day = history.shoes_changed_on
        while day <= today:
            row = days.effective(day)
            metres += (row.distance_m or 0.0) if row else 0.0
            day += timedelta(days=1)
        shoes_km = _round1(metres / 1000)
    return {
        "steps.today": days.steps(today),
        "steps.yesterday": days.steps(today - timedelta(days=1)),
        "steps.avg_7d": _round1(mean(steps7)) if steps7 else None,
        "steps.avg_prev_7d": _round1(mean(steps_prev)) if steps_prev else None,
        "steps.days_with_data_7d": sum(1 for d in last7 if days.steps(d) is not None),
        "steps.days_met_target_7d": sum(1 for d in last7 if met(d)),
        "steps.days_met_target_14d": sum(1 for d in last14 if met(d)),
        "steps.streak": streak,
        "walk.minutes_7d": _round1(sum(w.duration_min for w in walks)),
        "walk.sessions_7d": len(walks),
        "shoes.km": shoes_km,
        "pain.latest": latest.score if latest else None,
        "pain.hours_since": _round1((now - latest.recorded_at).total_seconds() / 3600)
        if latest
        else None,
        "pain.avg_7d": _round1(mean(p.score for p in recent)) if recent else None,
        "pain.max_7d": max(p.score for p in recent) if recent else None,
        "pain.reports_7d": len(recent),
        "pain.change": change,
        "pain.red_flags": frozenset(flags),
        "pain.red_flag": bool(flags),
        "pain.red_flag_tier": highest_tier(flags),
        "pain.latest_red_flag_tier": highest_tier(latest.red_flags)
        if latest is not None and (resolved is None or latest.recorded_at > resolved)
        else None,
        "safety.episode_open": episode is not None,
        "safety.episode_tier": episode.tier if episode is not None else None,
        "safety.days_since_resolved": (today - _local_date(resolved, zone)).days
        if resolved is not None
        else None,
        "strength.sessions_7d": sum(1 for e in strength if in_window(e.performed_at)),
        "strength.days_since": (
            today - _local_date(max(e.performed_at for e in strength), zone)
        ).days
        if strength
        else None,
        "stretch.sessions_7d": len(stretch),
        "plan.target": current.target if current else None,
        "plan.days_since_change": (today - _local_date(current.effective, zone)).days
        if current
        else None,
        "plan.progression_held": episode is not None
        or any(h.start <= now < h.start + timedelta(days=h.days) for h in history.holds),
        "plan.week": enrolled // 7 + 1,
        "patient.conditions": frozenset(history.conditions),
        "patient.cleared": cleared,
        "patient.uncleared_conditions": frozenset(c for c in history.conditions if c in CLEARANCE)
        - cleared,
        "patient.has_clinic": history.has_clinic,
        "patient.days_enrolled": enrolled,
        "tips.sent_today": sum(
            1
            for t in history.tips
            if t.created_at <= now and _local_date(t.created_at, zone) == today
        ),
        "time.hour": local_now.hour,
        "time.weekday": local_now.isoweekday(),
        **prom_facts(history.prom, now),
        **personal,
        "steps.change_wow": week_on_week(
            _round1(mean(steps7)) if steps7 else None,
            _round1(mean(steps_prev)) if steps_prev else None,
        ),
    }
