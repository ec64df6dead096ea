"""The fact catalogue: one definition of every fact a rule may read (SPEC §6).

The validator type-checks expressions against it, `python -m rules facts` prints it, and the
service computes the same facts in SQL. `rules.reference.compute_facts` is the executable form of
the definitions below; the service is property-tested against it.

Shared definitions used by the texts below:

- *today* is the patient's local calendar date at evaluation time `now` (IANA time zone of the
  patient). Days are calendar days, so a DST day has 23 or 25 hours.
- *complete days* exclude today. "The last 7 complete days" are today-7 .. today-1 inclusive;
  "the 7 before" are today-14 .. today-8; "the last 14 complete days" are today-14 .. today-1.
- *event window* ("last 7 days" for sessions, pain and exercise reports): the local dates
  today-6 .. today inclusive (today counts, up to `now`). An event belongs to the local date of
  its timestamp in the patient's time zone.
- *effective steps* of a day: the primary source's value if that source has a row for the day,
  otherwise the largest value among the day's sources. Sources are never summed. A day "has data"
  when it has at least one row.
- *target of a day*: the plan target in force at the end of that local day, i.e. of the latest
  plan change whose effective time is before the next local midnight. A day without a target in
  force (before the first plan) has no target and is never "met".
- *met*: the day has data and its effective steps are >= the target of that day.
- Every fact may be `null` when missing; counts are 0 rather than null when the inputs exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from rules.codes import (
    CONDITION_LABELS,
    CONDITIONS,
    RED_FLAG_LABELS,
    RED_FLAGS,
    TRIGGER_LABELS,
    TRIGGERS,
)

FactType = Literal["number", "bool", "string", "set"]

__all__ = ["CATALOGUE", "CONDITIONS", "RED_FLAGS", "TRIGGERS", "Fact", "FactType", "fact_types"]


@dataclass(frozen=True)
class Fact:
    """One fact: its dotted name, type, unit and precise definition.

    `nullable`: whether the fact can be null (no data); the others always have a value (a count
    is 0, a set is empty). `low`/`high`: the range of a number (the loader bounds arithmetic
    with it); `grid`: the step its values come in (1 for whole numbers, 0.1 when rounded to one
    decimal). `codes`: for a coded string or set, each code and the words a patient reads.
    """

    name: str
    type: FactType
    unit: str
    description: str
    definition: str
    nullable: bool = True
    low: float | None = None
    high: float | None = None
    grid: float = 1
    codes: Mapping[str, str] | None = None


_FACTS = [
    Fact(
        "steps.today",
        "number",
        "steps",
        "steps so far today",
        "Effective steps of today's local date as stored so far; null if today has no row.",
        nullable=True,
        low=0,
        high=200000,
    ),
    Fact(
        "steps.yesterday",
        "number",
        "steps",
        "yesterday's total",
        "Effective steps of today-1; null if that day has no row.",
        nullable=True,
        low=0,
        high=200000,
    ),
    Fact(
        "steps.avg_7d",
        "number",
        "steps",
        "mean steps over the last 7 complete days",
        "Mean of effective steps over the days today-7..today-1 that have data (days without "
        "data are skipped, not counted as 0), rounded to 1 decimal; null if none has data.",
        nullable=True,
        low=0,
        high=200000,
        grid=0.1,
    ),
    Fact(
        "steps.avg_prev_7d",
        "number",
        "steps",
        "mean steps over the 7 complete days before",
        "As steps.avg_7d over today-14..today-8.",
        nullable=True,
        low=0,
        high=200000,
        grid=0.1,
    ),
    Fact(
        "steps.days_with_data_7d",
        "number",
        "days",
        "complete days in the last 7 with data",
        "Count of days in today-7..today-1 that have at least one steps row (0..7).",
        nullable=False,
        low=0,
        high=7,
    ),
    Fact(
        "steps.days_met_target_7d",
        "number",
        "days",
        "days in the last 7 meeting target",
        "Count of days in today-7..today-1 that are met (data and steps >= that day's target).",
        nullable=False,
        low=0,
        high=7,
    ),
    Fact(
        "steps.days_met_target_14d",
        "number",
        "days",
        "days in the last 14 meeting target",
        "As steps.days_met_target_7d over today-14..today-1.",
        nullable=False,
        low=0,
        high=14,
    ),
    Fact(
        "steps.streak",
        "number",
        "days",
        "consecutive met days ending yesterday",
        "Number of consecutive met days counting back from today-1 (0 if today-1 is not met); "
        "counts at most 366 days.",
        nullable=False,
        low=0,
        high=366,
    ),
    Fact(
        "walk.minutes_7d",
        "number",
        "min",
        "walking minutes in the last 7 days",
        "Sum of duration_min of walking sessions whose start is in the event window (today-6.."
        "today, up to now), rounded to 1 decimal; 0 if none.",
        nullable=False,
        low=0,
        high=10080,
        grid=0.1,
    ),
    Fact(
        "walk.sessions_7d",
        "number",
        "sessions",
        "walking sessions in the last 7 days",
        "Count of walking sessions whose start is in the event window.",
        nullable=False,
        low=0,
        high=10000,
    ),
    Fact(
        "shoes.km",
        "number",
        "km",
        "km walked since the shoes were changed",
        "Sum over local dates >= shoes_changed_on up to today of the distance_m of the row "
        "chosen as effective for that day (0 when it has no distance), divided by 1000 and "
        "rounded to 1 decimal; null if shoes_changed_on is not set.",
        nullable=True,
        low=0,
        high=1000000,
        grid=0.1,
    ),
    Fact(
        "pain.latest",
        "number",
        "0-10",
        "latest pain score",
        "Score of the report with the greatest recorded_at <= now; null if none.",
        nullable=True,
        low=0,
        high=10,
    ),
    Fact(
        "pain.hours_since",
        "number",
        "h",
        "age of the latest pain report",
        "(now - recorded_at of that report) in hours, rounded to 1 decimal; null if none.",
        nullable=True,
        low=0,
        high=1000000,
        grid=0.1,
    ),
    Fact(
        "pain.avg_7d",
        "number",
        "0-10",
        "mean pain over reports in the last 7 days",
        "Mean score of reports in the event window, rounded to 1 decimal; null if none.",
        nullable=True,
        low=0,
        high=10,
        grid=0.1,
    ),
    Fact(
        "pain.max_7d",
        "number",
        "0-10",
        "highest pain in the last 7 days",
        "Maximum score of reports in the event window; null if none.",
        nullable=True,
        low=0,
        high=10,
    ),
    Fact(
        "pain.reports_7d",
        "number",
        "reports",
        "pain reports in the last 7 days",
        "Count of reports in the event window.",
        nullable=False,
        low=0,
        high=10000,
    ),
    Fact(
        "pain.change",
        "number",
        "points",
        "latest minus the preceding 7-day mean",
        "pain.latest minus the mean score of the reports with recorded_at in "
        "[latest - 168 h, latest) (strictly before the latest one), rounded to 1 decimal; "
        "null if there is no latest report or no report in that interval.",
        nullable=True,
        low=-10,
        high=10,
        grid=0.1,
    ),
    Fact(
        "pain.red_flags",
        "set",
        "codes",
        "red flags reported in the last 72 h",
        "Union of red_flags of reports with now - 72 h < recorded_at <= now (empty set if none).",
        nullable=False,
        codes=RED_FLAG_LABELS,
    ),
    Fact(
        "pain.red_flag",
        "bool",
        "",
        "whether any red flag was reported in the last 72 h",
        "pain.red_flags is non-empty.",
        nullable=False,
    ),
    Fact(
        "strength.sessions_7d",
        "number",
        "sessions",
        "strength sessions in the last 7 days",
        "Count of exercise sessions of kind 'strength' performed in the event window.",
        nullable=False,
        low=0,
        high=10000,
    ),
    Fact(
        "strength.days_since",
        "number",
        "days",
        "days since the last strength session",
        "today minus the local date of the latest strength session performed <= now; null if "
        "never.",
        nullable=True,
        low=0,
        high=100000,
    ),
    Fact(
        "stretch.sessions_7d",
        "number",
        "sessions",
        "flexibility sessions in the last 7 days",
        "Count of exercise sessions of kind 'stretch' performed in the event window.",
        nullable=False,
        low=0,
        high=10000,
    ),
    Fact(
        "plan.target",
        "number",
        "steps",
        "current daily step target",
        "Target of the latest plan change with effective <= now; null if none.",
        nullable=True,
        low=0,
        high=1000000,
    ),
    Fact(
        "plan.days_since_change",
        "number",
        "days",
        "days since the target changed",
        "today minus the local date of that change's effective time; null if none.",
        nullable=True,
        low=0,
        high=100000,
    ),
    Fact(
        "plan.progression_held",
        "bool",
        "",
        "a progression hold is active",
        "True if some hold has start <= now < start + days x 24 h.",
        nullable=False,
    ),
    Fact(
        "plan.week",
        "number",
        "week",
        "program week, 1-based",
        "patient.days_enrolled // 7 + 1.",
        nullable=False,
        low=1,
        high=20000,
    ),
    Fact(
        "patient.conditions",
        "set",
        "codes",
        "the patient's condition codes",
        "Set of condition codes from the patient profile (empty set if none).",
        nullable=False,
        codes=CONDITION_LABELS,
    ),
    Fact(
        "patient.days_enrolled",
        "number",
        "days",
        "days since enrolment",
        "today minus the local date of the enrolment time (0 on the first day).",
        nullable=False,
        low=0,
        high=100000,
    ),
    Fact(
        "tips.sent_today",
        "number",
        "tips",
        "tips created today",
        "Count of tips whose created_at falls on today's local date, up to now.",
        nullable=False,
        low=0,
        high=10000,
    ),
    Fact(
        "time.hour",
        "number",
        "h",
        "local hour 0-23",
        "Hour of now in the patient's zone.",
        nullable=False,
        low=0,
        high=23,
    ),
    Fact(
        "time.weekday",
        "number",
        "",
        "ISO weekday 1-7",
        "ISO weekday of today (Monday=1).",
        nullable=False,
        low=1,
        high=7,
    ),
    Fact(
        "trigger",
        "string",
        "",
        "the trigger's name",
        "One of schedule, pain_report, activity, exercise_report; set by the engine.",
        nullable=False,
        codes=TRIGGER_LABELS,
    ),
]

CATALOGUE: dict[str, Fact] = {fact.name: fact for fact in _FACTS}
"""Every non-settings fact, by name."""

SETTINGS_FACTS: dict[str, FactType] = {
    "settings.max_tips_per_day": "number",
    "settings.target.initial": "number",
    "settings.target.min": "number",
    "settings.target.max": "number",
    "settings.target.max_weekly_increase": "number",
}
"""Settings readable from expressions; values come from the rule set's own `settings`."""


def fact_types() -> dict[str, FactType]:
    """Return the type of every fact an expression may read, settings included."""
    types: dict[str, FactType] = {name: fact.type for name, fact in CATALOGUE.items()}
    types.update(SETTINGS_FACTS)
    return types
