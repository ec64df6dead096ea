"""Reference facts on hand-built histories, including time zones and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules.reference import (
    Clearance,
    DailySteps,
    ExerciseSession,
    History,
    Hold,
    PainReport,
    PlanChange,
    SafetyEpisode,
    TipRecord,
    WalkingSession,
    compute_facts,
)

LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")


def history(**kwargs: object) -> History:
    base: dict[str, object] = {
        "timezone": "Europe/London",
        "enrolled_at": datetime(2026, 3, 2, 9, 0, tzinfo=LONDON),
        "primary_source": "watch",
        "plan": [PlanChange(datetime(2026, 3, 2, 9, 0, tzinfo=LONDON), 4000)],
    }
    base.update(kwargs)
    return History(**base)  # type: ignore[arg-type]


def test_it_prefers_the_primary_source_and_never_sums() -> None:
    rows = [
        DailySteps(date(2026, 3, 9), "phone", 9000),
        DailySteps(date(2026, 3, 9), "watch", 5000),
        DailySteps(date(2026, 3, 8), "phone", 3000),
        DailySteps(date(2026, 3, 8), "ring", 3500),
    ]
    facts = compute_facts(history(daily_steps=rows), datetime(2026, 3, 10, 8, 0, tzinfo=LONDON))
    assert facts["steps.yesterday"] == 5000
    assert (
        facts["steps.avg_7d"] == 4250.0
    )  # 5000 (primary) and 3500 (largest), days without data skipped
    assert facts["steps.days_with_data_7d"] == 2
    assert facts["steps.today"] is None


def test_it_counts_met_days_streaks_and_windows_against_each_days_target() -> None:
    start = date(2026, 3, 2)
    rows = [
        DailySteps(start + timedelta(days=i), "watch", s)
        for i, s in enumerate([4100, 3900, 4000, 4500, 4600, 4700, 4800, 4300, 4500, 4800])
    ]
    plan = [
        PlanChange(datetime(2026, 3, 2, 9, 0, tzinfo=LONDON), 4000),
        # Takes effect late on 03-09, so it is that day's target (end-of-day rule).
        PlanChange(datetime(2026, 3, 9, 22, 0, tzinfo=LONDON), 4400),
    ]
    facts = compute_facts(
        history(daily_steps=rows, plan=plan), datetime(2026, 3, 12, 7, 0, tzinfo=LONDON)
    )
    # Complete days 03-05..03-11: 4500 4600 4700 4800 | 4300 (<4400) 4500 4800
    assert facts["steps.days_met_target_7d"] == 6
    assert facts["steps.days_met_target_14d"] == 8  # 03-02 met, 03-03 not, 03-04 met (equal)
    assert facts["steps.streak"] == 2
    assert facts["plan.target"] == 4400
    assert facts["plan.days_since_change"] == 3
    assert facts["steps.avg_prev_7d"] == pytest.approx(4000.0)  # 03-02..03-04


def test_it_assigns_events_to_the_patients_local_day() -> None:
    # 00:30 on 03-03 in Sydney is still 03-02 in UTC: the local date decides.
    tz_history = history(
        timezone="Australia/Sydney",
        enrolled_at=datetime(2026, 3, 1, 9, 0, tzinfo=SYDNEY),
        exercise=[
            ExerciseSession("strength", datetime(2026, 3, 3, 0, 30, tzinfo=SYDNEY)),
            ExerciseSession("stretch", datetime(2026, 3, 2, 23, 30, tzinfo=SYDNEY)),
        ],
        tips=[TipRecord(datetime(2026, 3, 9, 13, 30, tzinfo=UTC))],  # 00:30 on 03-10 in Sydney
    )
    now = datetime(2026, 3, 9, 20, 0, tzinfo=SYDNEY)
    facts = compute_facts(tz_history, now)
    assert facts["strength.sessions_7d"] == 1  # 03-03 is inside 03-03..03-09
    assert facts["stretch.sessions_7d"] == 0  # 03-02 is outside
    assert facts["strength.days_since"] == 6
    assert facts["tips.sent_today"] == 0  # the tip is in the future
    assert facts["time.hour"] == 20
    assert facts["time.weekday"] == 1
    assert facts["patient.days_enrolled"] == 8
    assert facts["plan.week"] == 2


def test_it_handles_the_dst_change_in_day_windows_and_targets() -> None:
    # Clocks go forward in London at 01:00 UTC on 2026-03-29; that local day has 23 hours.
    plan = [
        PlanChange(datetime(2026, 3, 2, 9, 0, tzinfo=LONDON), 4000),
        PlanChange(datetime(2026, 3, 29, 23, 30, tzinfo=LONDON), 5000),
    ]  # 22:30 UTC
    rows = [DailySteps(date(2026, 3, 29), "watch", 4500)]
    walks = [
        WalkingSession(
            datetime(2026, 3, 24, 0, 15, tzinfo=LONDON), 20.0
        ),  # first minutes of the window
        WalkingSession(datetime(2026, 3, 23, 23, 45, tzinfo=LONDON), 30.0),
    ]
    now = datetime(2026, 3, 30, 10, 0, tzinfo=LONDON)
    facts = compute_facts(history(plan=plan, daily_steps=rows, walks=walks), now)
    assert facts["steps.days_met_target_7d"] == 0  # 03-29's target is 5000 (in force at its end)
    assert facts["walk.sessions_7d"] == 1
    assert facts["walk.minutes_7d"] == 20.0
    assert facts["time.hour"] == 10


def test_it_computes_pain_change_red_flags_and_holds() -> None:
    t0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    pain = [
        PainReport(t0 - timedelta(hours=170), 1),  # outside the 168 h before the latest
        PainReport(t0 - timedelta(hours=100), 2),
        PainReport(t0 - timedelta(hours=73), 4, frozenset({"fever"})),
        PainReport(t0 - timedelta(hours=48), 3, frozenset({"night_pain"})),
        PainReport(t0, 6),
    ]
    holds = [Hold(t0 - timedelta(days=7), 7), Hold(t0 - timedelta(days=1), 3)]
    facts = compute_facts(history(pain=pain, holds=holds), t0 + timedelta(hours=2))
    assert facts["pain.latest"] == 6
    assert facts["pain.hours_since"] == 2.0
    assert facts["pain.change"] == 3.0  # 6 - mean(2, 4, 3)
    assert facts["pain.red_flags"] == frozenset({"night_pain"})
    assert facts["pain.red_flag"] is True
    assert facts["pain.reports_7d"] == 4
    assert facts["pain.max_7d"] == 6
    assert facts["pain.avg_7d"] == 3.8
    assert facts["plan.progression_held"] is True


def test_it_gives_nulls_and_zeros_for_an_empty_history() -> None:
    facts = compute_facts(history(plan=[]), datetime(2026, 3, 2, 12, 0, tzinfo=LONDON))
    assert facts["pain.latest"] is None
    assert facts["pain.change"] is None
    assert facts["plan.target"] is None
    assert facts["shoes.km"] is None
    assert facts["steps.streak"] == 0
    assert facts["pain.red_flags"] == frozenset()
    assert facts["plan.progression_held"] is False
    assert facts["patient.days_enrolled"] == 0


def test_it_sums_shoe_distance_from_the_effective_source() -> None:
    rows = [
        DailySteps(date(2026, 3, 5), "watch", 5000, 3500.0),
        DailySteps(date(2026, 3, 5), "phone", 9000, 6000.0),
        DailySteps(date(2026, 3, 4), "phone", 2000, 1400.0),
        DailySteps(date(2026, 3, 6), "watch", 10, None),
    ]
    facts = compute_facts(
        history(daily_steps=rows, shoes_changed_on=date(2026, 3, 5)),
        datetime(2026, 3, 6, 20, 0, tzinfo=LONDON),
    )
    assert facts["shoes.km"] == 3.5


def test_it_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_facts(history(), datetime(2026, 3, 2, 12, 0))


def test_it_gives_the_tier_of_the_flags_and_of_the_latest_report() -> None:
    t0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    pain = [
        PainReport(t0 - timedelta(hours=50), 4, frozenset({"fever", "night_pain"})),
        PainReport(t0 - timedelta(hours=2), 3, frozenset({"night_pain"})),
    ]
    facts = compute_facts(history(pain=pain), t0)
    assert facts["pain.red_flag_tier"] == "urgent"
    assert facts["pain.latest_red_flag_tier"] == "soon"
    later = compute_facts(history(pain=pain), t0 + timedelta(hours=30))
    assert later["pain.red_flag_tier"] == "soon"  # the fever is past 72 h
    assert compute_facts(history(), t0)["pain.red_flag_tier"] is None


def test_it_gives_the_open_episode_and_forgets_flags_the_clinician_assessed() -> None:
    opened = datetime(2026, 3, 10, 11, 0, tzinfo=LONDON)
    closed = datetime(2026, 3, 11, 9, 0, tzinfo=LONDON)
    pain = [PainReport(opened, 5, frozenset({"leg_weakness"}))]
    open_episode = SafetyEpisode(opened, "emergency", frozenset({"leg_weakness"}))
    during = compute_facts(history(pain=pain, episodes=[open_episode]), opened + timedelta(hours=4))
    assert during["safety.episode_open"] is True
    assert during["safety.episode_tier"] == "emergency"
    assert during["safety.days_since_resolved"] is None
    assert during["plan.progression_held"] is True
    assert during["pain.latest_red_flag_tier"] == "emergency"
    done = SafetyEpisode(opened, "emergency", frozenset({"leg_weakness"}), closed_at=closed)
    after = compute_facts(history(pain=pain, episodes=[done]), closed + timedelta(days=1))
    assert after["safety.episode_open"] is False
    assert after["safety.episode_tier"] is None
    assert after["safety.days_since_resolved"] == 1
    assert after["plan.progression_held"] is False
    # Within 72 h of the report, but reported before the clinician's decision: assessed.
    assert after["pain.red_flags"] == frozenset()
    assert after["pain.red_flag_tier"] is None
    assert after["pain.latest_red_flag_tier"] is None


def test_it_lists_cleared_and_uncleared_conditions_and_the_clinic() -> None:
    t0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    patient = history(
        conditions=frozenset({"pregnancy", "spinal_stenosis"}),
        clearances=[
            Clearance(t0 - timedelta(days=1), "pregnancy"),
            Clearance(t0 + timedelta(days=1), "spinal_stenosis"),
        ],
        has_clinic=False,
    )
    facts = compute_facts(patient, t0)
    assert facts["patient.cleared"] == frozenset({"pregnancy"})
    assert facts["patient.uncleared_conditions"] == frozenset({"spinal_stenosis"})
    assert facts["patient.has_clinic"] is False
    assert compute_facts(patient, t0 + timedelta(days=2))["patient.uncleared_conditions"] == (
        frozenset()
    )
