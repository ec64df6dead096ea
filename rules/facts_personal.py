"""Catalogue entries of the personal programme (SPEC §11.3): the patient's own baselines,
recency of data, week-on-week change, check-ins left unanswered, tip feedback and exercises.

The shared terms (today, complete days, event window, effective steps) are defined in
`rules.facts`; `rules.reference_personal` is the executable form of these definitions.
"""

from __future__ import annotations

from rules.fact_model import Fact
from rules.kinds import Kind

BASELINE_DAYS = 7
"""Days with data whose median is the patient's step baseline."""
BASELINE_SPAN = 28
"""...found among this many days from the local date of enrolment (a starting level)."""
PAIN_BASELINE_DAYS = (3, 30)
"""Pain baseline window: local dates today-30 .. today-3 (the 28 days before the last 3)."""
HIGH_PAIN = 7
"""A pain score at or above this makes a day count in pain.days_high_7d."""
FEEDBACK_DAYS = 28
"""Window of tips.helpful_rate_28d, in 24 h days before now."""

PERSONAL_FACTS = [
    Fact(
        "steps.baseline",
        Kind.NUMBER,
        "steps",
        "the patient's own starting level",
        "Median of the effective steps of the first 7 days with data among the 28 local dates "
        "from the date of enrolment (enrolment day .. enrolment day + 27), complete days only "
        "(before today; fewer while fewer exist), rounded to a whole step; null if there is "
        "no such day. A value a clinician set (PATCH .../plan baseline_steps) replaces it.",
        nullable=True,
        low=0,
        high=200000,
    ),
    Fact(
        "steps.change_wow",
        Kind.NUMBER,
        "ratio",
        "week-on-week change of the daily mean",
        "steps.avg_7d / steps.avg_prev_7d - 1 (of the rounded means), rounded to 2 decimals "
        "(0.25: a quarter more than the week before); null if either mean is null or the "
        "earlier one is 0.",
        nullable=True,
        low=-1,
        high=2000000,
        grid=0.01,
    ),
    Fact(
        "steps.days_with_data_28d",
        Kind.NUMBER,
        "days",
        "complete days in the last 28 with data",
        "Count of days in today-28..today-1 that have at least one steps row (0..28).",
        nullable=False,
        low=0,
        high=28,
    ),
    Fact(
        "data.days_since",
        Kind.NUMBER,
        "days",
        "days since the last day with step data",
        "today minus the latest local date on or before today that has a steps row from any "
        "source (0: today has data); null if there has never been one.",
        nullable=True,
        low=0,
        high=100000,
    ),
    Fact(
        "pain.baseline",
        Kind.NUMBER,
        "0-10",
        "the patient's usual pain",
        "Median score of the reports recorded at or before now whose local date is in "
        "today-30..today-3 (the 28 days before the last 3), rounded to 1 decimal; null if "
        "there is none.",
        nullable=True,
        low=0,
        high=10,
        grid=0.1,
    ),
    Fact(
        "pain.days_high_7d",
        Kind.NUMBER,
        "days",
        "days in the last 7 with a pain score of 7 or more",
        "Count of local dates in the event window with at least one report scoring >= 7.",
        nullable=False,
        low=0,
        high=7,
    ),
    Fact(
        "checkins.unanswered",
        Kind.NUMBER,
        "questions",
        "check-in questions since the last pain report",
        "Count of tips of category checkin created after the latest pain report recorded at "
        "or before now (every one up to now if there is no report).",
        nullable=False,
        low=0,
        high=100000,
    ),
    Fact(
        "checkins.days_since",
        Kind.NUMBER,
        "days",
        "days since the last check-in question",
        "today minus the local date of the latest tip of category checkin created at or "
        "before now; null if there has been none.",
        nullable=True,
        low=0,
        high=100000,
    ),
    Fact(
        "tips.helpful_rate_28d",
        Kind.NUMBER,
        "ratio",
        "share of rated tips the patient found helpful",
        "Of the tips created in (now - 28 x 24 h, now] whose helpful feedback was given at or "
        "before now, the share marked helpful, rounded to 2 decimals; null if none was rated.",
        nullable=True,
        low=0,
        high=1,
        grid=0.01,
    ),
    Fact(
        "exercise.kinds_7d",
        Kind.SET,
        "names",
        "names of the exercises logged in the last 7 days",
        "Set of the names (trimmed, lower case) of exercise sessions performed in the event "
        "window (empty set if none).",
        nullable=False,
    ),
]
